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

/// Where a plain-HTTP request should be redirected, or `None` when it already arrived
/// over HTTPS (per `X-Forwarded-Proto`, as set by the gateway).
///
/// Returns `Err` when the `Host` header is missing or unusable, since no redirect target
/// can be built from it.
pub(crate) fn redirect_target(
    forwarded_proto: Option<&[u8]>,
    host: Option<&[u8]>,
    path_and_query: &str,
) -> Result<Option<String>, &'static str> {
    let is_https = forwarded_proto
        .and_then(|p| std::str::from_utf8(p).ok())
        // A proxy chain may append: "https, http". The first hop is the client's.
        .and_then(|p| p.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    if is_https {
        return Ok(None);
    }
    let host = host
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(str::trim)
        .filter(|h| is_valid_authority(h))
        .ok_or("missing or invalid Host header")?;
    let host = host.strip_suffix(":80").unwrap_or(host);
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    let path = utf8_percent_encode(path, NOT_IN_URI);
    Ok(Some(format!("https://{host}{path}")))
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

    #[test]
    fn https_requests_pass() {
        assert_eq!(
            redirect_target(Some(b"https"), Some(b"a.example"), "/x"),
            Ok(None)
        );
        assert_eq!(
            redirect_target(Some(b"HTTPS, http"), Some(b"a.example"), "/x"),
            Ok(None)
        );
    }

    #[test]
    fn plain_requests_are_redirected_with_path_and_query() {
        assert_eq!(
            redirect_target(None, Some(b"a.example:80"), "/p?q=1"),
            Ok(Some("https://a.example/p?q=1".to_owned()))
        );
        assert_eq!(
            redirect_target(Some(b"http"), Some(b"a.example:8443"), "/"),
            Ok(Some("https://a.example:8443/".to_owned()))
        );
    }

    #[test]
    fn locations_are_ascii_uri_references() {
        assert_eq!(
            redirect_target(None, Some(b"a.example"), "/caf\u{e9}?q=\u{e9} x"),
            Ok(Some("https://a.example/caf%C3%A9?q=%C3%A9%20x".to_owned()))
        );
        assert_eq!(
            redirect_target(None, Some(b"a.example"), "/a%20b?x=\"<{|}>\\^`\u{7f}\t"),
            Ok(Some(
                "https://a.example/a%20b?x=%22%3C%7B%7C%7D%3E%5C%5E%60%7F%09".to_owned()
            ))
        );
    }

    #[test]
    fn hostile_hosts_are_refused() {
        for host in [&b"evil.example/x"[..], b"a@b", b"", b"a b"] {
            assert!(redirect_target(None, Some(host), "/").is_err());
        }
        assert!(redirect_target(None, None, "/").is_err());
    }
}
