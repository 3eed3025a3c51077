//! The hosts a service answers for ([`AuthBuilder::allowed_hosts`](crate::AuthBuilder::allowed_hosts)),
//! and how a request's host is matched against them.
//!
//! A request's host (RFC 9112 §3.2.2: the authority of an absolute-form request target, else
//! the `Host` header) is chosen by the client. Whatever a service builds from it, a redirect's
//! `Location` above all, points wherever the client wants unless the host is checked against a
//! list the operator wrote.

use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::builder::BuildError;

/// The longest host name DNS can carry (RFC 1035 §2.3.4, without the trailing dot).
const MAX_NAME_BYTES: usize = 253;
/// The longest label of a host name (RFC 1035 §2.3.4).
const MAX_LABEL_BYTES: usize = 63;

/// One entry of [`AuthBuilder::allowed_hosts`](crate::AuthBuilder::allowed_hosts): a host
/// name, an IPv4 address or a bracketed IPv6 address, optionally with `:port`.
///
/// A request's host matches it when the names are equal ignoring ASCII case (IPv6 addresses:
/// when they are the same address) and, only if the entry names a port, the request names the
/// same port.
///
/// ```
/// use api_auth::AllowedHost;
///
/// let entry = AllowedHost::parse("api.example.com")?;
/// assert!(entry.matches(b"API.Example.com"));
/// assert!(entry.matches(b"api.example.com:8443"));
/// assert!(!entry.matches(b"api.example.com.evil.example"));
///
/// let with_port = AllowedHost::parse("api.example.com:8443")?;
/// assert!(with_port.matches(b"api.example.com:8443"));
/// assert!(!with_port.matches(b"api.example.com"));
///
/// assert!(AllowedHost::parse("https://api.example.com").is_err());
/// assert!(AllowedHost::parse("api.example.com/v1").is_err());
/// # Ok::<(), api_auth::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: Host,
    port: Option<u16>,
}

/// A host, in the form it is compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// A host name or IPv4 address, in lower case.
    Name(String),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl AllowedHost {
    /// Checks one entry. It must be exactly what a client would put in `Host`: ASCII letters,
    /// digits, `-` and `_` in dot-separated labels (or `[IPv6]`), then optionally `:` and a
    /// port from 1 to 65535; no scheme, user, path or whitespace.
    pub fn parse(entry: &str) -> Result<Self, BuildError> {
        let invalid = |reason| BuildError::InvalidAllowedHost {
            host: entry.to_owned(),
            reason,
        };
        let (host, port) = split_port(entry).ok_or_else(|| invalid("not host[:port]"))?;
        let host = parse_host(host).map_err(invalid)?;
        let port = match port {
            None => None,
            Some(port) => Some(parse_port(port).ok_or_else(|| invalid("has an invalid port"))?),
        };
        Ok(Self { host, port })
    }

    /// Whether a request's host (the raw authority or `Host` value) is this entry.
    pub fn matches(&self, request_host: &[u8]) -> bool {
        let Some((host, port)) = std::str::from_utf8(request_host).ok().and_then(split_port) else {
            return false;
        };
        // A port the request names must be a port, whether or not the entry names one.
        let port = match port.map(parse_port) {
            None => None,
            Some(Some(port)) => Some(port),
            Some(None) => return false,
        };
        let host_matches = match &self.host {
            Host::Name(name) => host.eq_ignore_ascii_case(name),
            Host::Ipv6(address) => bracketed_ipv6(host) == Some(*address),
        };
        host_matches && self.port.is_none_or(|wanted| port == Some(wanted))
    }
}

impl FromStr for AllowedHost {
    type Err = BuildError;

    fn from_str(entry: &str) -> Result<Self, BuildError> {
        Self::parse(entry)
    }
}

/// The hosts a service answers for, checked by [`crate::Auth::gate`].
#[derive(Debug, Clone)]
pub(crate) struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    /// Checks every entry; an empty list would refuse every request, so it is an error too.
    pub(crate) fn parse(entries: &[String]) -> Result<Self, BuildError> {
        if entries.is_empty() {
            return Err(BuildError::NoAllowedHost);
        }
        entries
            .iter()
            .map(|entry| AllowedHost::parse(entry))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether a request's host is one of the entries.
    pub(crate) fn allows(&self, request_host: &[u8]) -> bool {
        self.0.iter().any(|entry| entry.matches(request_host))
    }
}

/// `host[:port]` split at the port's colon (after the brackets of an IPv6 address); `None`
/// when the text cannot be an authority without user information.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        None => Some((authority, None)),
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
    }
}

/// A port from 1 to 65535, in decimal digits only (`u16::from_str` would take a `+`).
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|&port| port != 0)
}

/// The address inside `[...]`.
fn bracketed_ipv6(host: &str) -> Option<Ipv6Addr> {
    host.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// A host name (or IPv4 address) as a client writes it in `Host`, checked by hand rather than
/// with `url::Host::parse`: that applies IDNA mapping and percent-decoding, so an entry could
/// match something other than what the operator wrote.
fn parse_host(host: &str) -> Result<Host, &'static str> {
    if host.starts_with('[') {
        return bracketed_ipv6(host)
            .map(Host::Ipv6)
            .ok_or("is not a valid [IPv6] address");
    }
    if host.is_empty() {
        return Err("has an empty host");
    }
    if host.len() > MAX_NAME_BYTES {
        return Err("is longer than a host name can be");
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_BYTES {
            return Err("has an empty or over-long label");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err("is not a host name (letters, digits, '-', '_' and dots only)");
        }
    }
    Ok(Host::Name(host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> AllowedHost {
        AllowedHost::parse(text).unwrap()
    }

    #[test]
    fn names_match_ignoring_case_and_any_port() {
        let e = entry("Api.Example.com");
        for host in [
            &b"api.example.com"[..],
            b"API.EXAMPLE.COM",
            b"api.example.com:80",
            b"api.example.com:8443",
        ] {
            assert!(e.matches(host), "{host:?}");
        }
        for host in [
            &b"api.example.co"[..],
            b"api.example.com.",
            b"x.api.example.com",
            b"user@api.example.com",
            b"api.example.com:",
            b"api.example.com:x",
            b"api.example.com/x",
            b" api.example.com",
            b"",
            b"api.example.com:80:80",
            b"\xffapi.example.com",
        ] {
            assert!(!e.matches(host), "{host:?}");
        }
    }

    #[test]
    fn a_port_in_the_entry_must_be_named_by_the_request() {
        let e = entry("api.example.com:8443");
        assert!(e.matches(b"api.example.com:8443"));
        assert!(e.matches(b"API.example.com:08443"));
        for host in [
            &b"api.example.com"[..],
            b"api.example.com:443",
            b"api.example.com:+8443",
        ] {
            assert!(!e.matches(host), "{host:?}");
        }
    }

    #[test]
    fn addresses() {
        assert!(entry("10.0.0.7").matches(b"10.0.0.7:8080"));
        let v6 = entry("[::1]:8080");
        assert!(v6.matches(b"[0:0::1]:8080"));
        assert!(!v6.matches(b"[::1]"));
        assert!(!v6.matches(b"[::2]:8080"));
        assert!(entry("[2001:DB8::1]").matches(b"[2001:db8::1]"));
    }

    #[test]
    fn entries_that_are_not_host_and_port_are_refused() {
        for text in [
            "",
            " api.example.com",
            "api.example.com ",
            "https://api.example.com",
            "api.example.com/",
            "user@api.example.com",
            "api..example.com",
            ".api.example.com",
            "api.example.com.",
            "api.example.com:",
            "api.example.com:0",
            "api.example.com:65536",
            "api.example.com:+80",
            "api.example.com:80:80",
            "caf\u{e9}.example",
            "*.example.com",
            "[::1",
            "[not-v6]",
            "[::1]x",
            "::1",
            &format!("{}.example", "a".repeat(64)),
            &"a.".repeat(127),
        ] {
            assert!(
                matches!(
                    AllowedHost::parse(text),
                    Err(BuildError::InvalidAllowedHost { .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert!(matches!(
            AllowedHosts::parse(&[]),
            Err(BuildError::NoAllowedHost)
        ));
        let hosts = AllowedHosts::parse(&["a.example".into(), "b.example:8443".into()]).unwrap();
        assert!(hosts.allows(b"A.example:1"));
        assert!(hosts.allows(b"b.example:8443"));
        assert!(!hosts.allows(b"b.example"));
    }
}
