//! The `htu` comparison of RFC 9449 §4.3 (check 9): the proof's URI and the request's, each
//! without query and fragment, compared after RFC 3986 §6.2.2 syntax-based normalisation.
//!
//! The `url` crate does most of it when it parses: scheme and host case (§6.2.2.1), dot
//! segments (§6.2.2.3, `%2E` included, as WHATWG URL parsing treats it as a dot), the
//! default port (§6.2.3) and the percent-encoding of characters a path cannot hold as they
//! are. What it leaves is the percent-encoding normalisation of §6.2.2.1 and §6.2.2.2: hex
//! digits in upper case, and unreserved characters decoded. That is done here on the
//! serialised path, which `url` keeps ASCII.

use std::fmt::Write as _;

use url::Url;

use super::public_origin::PublicOrigin;

/// The normalised form of an `htu` claim; `None` when it is not an `http` or `https` URL
/// without credentials (which no request of ours can match).
pub(crate) fn claimed(htu: &str) -> Option<String> {
    let url = Url::parse(htu).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    Some(normalised(&url))
}

/// The normalised URI of a request for `path_and_query` (its origin-form target, RFC 9112
/// §3.2.1) sent to `origin`; `None` when the target does not start with `/`.
pub(crate) fn requested(origin: &PublicOrigin, path_and_query: &str) -> Option<String> {
    let path = path_and_query
        .split(['?', '#'])
        .next()
        .unwrap_or(path_and_query);
    if !path.starts_with('/') {
        return None;
    }
    let mut url = origin.url().clone();
    // The path is parsed as a path (never as an authority, whatever it starts with), with
    // dot segments removed.
    url.set_path(path);
    Some(normalised(&url))
}

/// Origin and path, the path's percent-encoding normalised; query and fragment left out.
fn normalised(url: &Url) -> String {
    let mut out = url.origin().ascii_serialization();
    normalise_percent_encoding(url.path(), &mut out);
    out
}

/// RFC 3986 §2.3: characters that never need percent-encoding.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Appends `path` with unreserved characters decoded and other triplets in upper case
/// (RFC 3986 §6.2.2.1, §6.2.2.2). A `%` not followed by two hex digits is kept as it is.
fn normalise_percent_encoding(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let triplet = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match triplet {
            Some(decoded) if is_unreserved(decoded) => {
                out.push(char::from(decoded));
                index += 3;
            }
            Some(decoded) => {
                // Writing to a `String` cannot fail.
                let _ = write!(out, "%{decoded:02X}");
                index += 3;
            }
            None => {
                out.push(char::from(byte));
                index += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> PublicOrigin {
        PublicOrigin::parse("https://api.example.com").unwrap()
    }

    #[track_caller]
    fn assert_matches(htu: &str, path_and_query: &str) {
        let claimed = claimed(htu);
        assert!(claimed.is_some(), "{htu}");
        assert_eq!(
            claimed,
            requested(&origin(), path_and_query),
            "{htu} vs {path_and_query}"
        );
    }

    #[track_caller]
    fn assert_differs(htu: &str, path_and_query: &str) {
        assert_ne!(
            claimed(htu),
            requested(&origin(), path_and_query),
            "{htu} vs {path_and_query}"
        );
    }

    #[test]
    fn scheme_and_host_case_and_the_default_port_do_not_matter() {
        assert_matches("https://api.example.com/protected", "/protected");
        assert_matches("HTTPS://API.Example.COM/protected", "/protected");
        assert_matches("https://api.example.com:443/protected", "/protected");
    }

    #[test]
    fn query_and_fragment_are_ignored_on_both_sides() {
        assert_matches("https://api.example.com/protected?a=1#f", "/protected?b=2");
        assert_matches("https://api.example.com/protected", "/protected?");
    }

    #[test]
    fn percent_encoding_is_normalised() {
        assert_matches("https://api.example.com/%7Euser", "/~user");
        assert_matches("https://api.example.com/~user", "/%7euser");
        assert_matches("https://api.example.com/%70rotected", "/protected");
        assert_matches("https://api.example.com/a%2fb", "/a%2Fb");
        // A reserved character stays encoded: `/a%2Fb` is not `/a/b`.
        assert_differs("https://api.example.com/a%2Fb", "/a/b");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_matches("https://api.example.com/a/./b/../protected", "/a/protected");
        assert_matches("https://api.example.com/x/%2E%2E/protected", "/protected");
        assert_matches("https://api.example.com/protected", "/x/../protected");
    }

    #[test]
    fn another_origin_or_path_differs() {
        assert_differs("http://api.example.com/protected", "/protected");
        assert_differs("https://api.example.com:8443/protected", "/protected");
        assert_differs("https://evil.example.com/protected", "/protected");
        assert_differs("https://api.example.com/Protected", "/protected");
        assert_differs("https://api.example.com/protected/", "/protected");
        assert_differs("https://api.example.com/protected", "/admin");
    }

    #[test]
    fn what_is_not_an_http_url_matches_nothing() {
        for htu in [
            "/protected",
            "urn:example:protected",
            "ftp://api.example.com/protected",
            "https://user:pw@api.example.com/protected",
            "",
        ] {
            assert_eq!(claimed(htu), None, "{htu}");
        }
        assert_eq!(requested(&origin(), "*"), None);
        assert_eq!(requested(&origin(), "protected"), None);
        assert_eq!(requested(&origin(), ""), None);
    }

    #[test]
    fn a_target_starting_with_two_slashes_stays_a_path() {
        let uri = requested(&origin(), "//evil.example.com/x").unwrap();
        assert!(uri.starts_with("https://api.example.com/"), "{uri}");
        assert_differs("https://evil.example.com/x", "//evil.example.com/x");
    }
}
