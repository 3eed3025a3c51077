//! The HTTPS redirect decision (`FORCE_HTTPS`), for services behind a TLS-terminating proxy.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Bytes that cannot appear in a URI reference (RFC 3986): controls, space, everything outside
/// ASCII, and the printable characters no URI component allows. `%` is kept, so an escape the
/// client already sent stays as it was.
const NOT_IN_URI: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Whether a request came over HTTPS, per the `X-Forwarded-Proto` values given in order of
/// appearance. Only the last value of the last header counts: a proxy that appends writes its
/// own value at the end, so anything before it was written by whoever sent the request to
/// that proxy, possibly the client (`https, http` is plain HTTP, `http, https` is HTTPS).
pub(crate) fn forwarded_https<'a>(values: impl Iterator<Item = &'a [u8]>) -> bool {
    values
        .last()
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.rsplit(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The `https://` URL of a plain-HTTP request whose host (absolute-form authority, else
/// `Host`) is `host`.
///
/// Returns `Err` when the host is missing or unusable, since no redirect target can be built
/// from it.
pub(crate) fn redirect_target(
    host: Option<&[u8]>,
    path_and_query: &str,
) -> Result<String, &'static str> {
    let host = host
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(str::trim)
        .filter(|h| is_valid_authority(h))
        .ok_or("missing or invalid host")?;
    let host = host.strip_suffix(":80").unwrap_or(host);
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    let path = utf8_percent_encode(path, NOT_IN_URI);
    Ok(format!("https://{host}{path}"))
}

/// A host[:port] with nothing that could turn the redirect into another URL
/// (userinfo, path, whitespace).
fn is_valid_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https(values: &[&str]) -> bool {
        forwarded_https(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn the_last_forwarded_value_decides() {
        assert!(https(&["https"]));
        assert!(https(&["HTTPS"]));
        assert!(https(&["http, https"]));
        assert!(https(&["http,https"]));
        assert!(https(&["https, http", "http , https "]));
        assert!(!https(&[]));
        assert!(!https(&["http"]));
        assert!(!https(&["https, http"]));
        assert!(!https(&["https", "http"]));
        assert!(!https(&["http, https", "https, http"]));
        assert!(!https(&["https,"]));
        assert!(!https(&["https", ""]));
        assert!(!forwarded_https([&b"\xffhttps"[..]].into_iter()));
    }

    #[test]
    fn plain_requests_are_redirected_with_path_and_query() {
        assert_eq!(
            redirect_target(Some(b"a.example:80"), "/p?q=1"),
            Ok("https://a.example/p?q=1".to_owned())
        );
        assert_eq!(
            redirect_target(Some(b"a.example:8443"), "/"),
            Ok("https://a.example:8443/".to_owned())
        );
    }

    #[test]
    fn locations_are_ascii_uri_references() {
        assert_eq!(
            redirect_target(Some(b"a.example"), "/caf\u{e9}?q=\u{e9} x"),
            Ok("https://a.example/caf%C3%A9?q=%C3%A9%20x".to_owned())
        );
        assert_eq!(
            redirect_target(Some(b"a.example"), "/a%20b?x=\"<{|}>\\^`\u{7f}\t"),
            Ok("https://a.example/a%20b?x=%22%3C%7B%7C%7D%3E%5C%5E%60%7F%09".to_owned())
        );
    }

    #[test]
    fn hostile_hosts_are_refused() {
        for host in [&b"evil.example/x"[..], b"a@b", b"", b"a b"] {
            assert!(redirect_target(Some(host), "/").is_err());
        }
        assert!(redirect_target(None, "/").is_err());
    }
}
