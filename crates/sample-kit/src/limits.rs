//! The limits every sample applies to its clients, whatever enforces them: hyper's connection
//! settings through [`crate::http1`] (axum, warp, poem), actix-web's server settings, or a
//! check in the sample's own gate (actix, Rocket).

use std::time::Duration;

/// Largest request head (request line and header lines) accepted; a larger one is answered
/// `431`.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Time a client has to send a whole request head; an idle keep-alive connection is closed
/// after it too, where the server can tell the two apart only by one timer (hyper).
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Time an idle keep-alive connection stays open, where the server has its own timer for it
/// (actix-web).
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long in-flight requests may take to finish once shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Largest `POST /dev/token` body accepted; a longer one is answered `413`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Largest bearer token accepted, in bytes (the library's check, set explicitly).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The size of a request head as hyper counts it against [`MAX_HEAD_BYTES`]: the request line
/// (`METHOD target HTTP/1.1` and its line end) and each header line (`name: value` and its
/// line end, from the lengths of name and value), for the frameworks that read heads into a
/// larger buffer and leave the check to the application. The sum saturates rather than
/// overflow.
pub fn head_bytes(
    method: &str,
    target: &str,
    headers: impl IntoIterator<Item = (usize, usize)>,
) -> usize {
    // " " and " HTTP/1.1\r\n" around method and target; ": " and "\r\n" around a header.
    const REQUEST_LINE_EXTRA: usize = 12;
    const HEADER_LINE_EXTRA: usize = 4;
    let line = method
        .len()
        .saturating_add(target.len())
        .saturating_add(REQUEST_LINE_EXTRA);
    headers.into_iter().fold(line, |total, (name, value)| {
        total
            .saturating_add(name)
            .saturating_add(value)
            .saturating_add(HEADER_LINE_EXTRA)
    })
}

/// Whether a request's declared `Content-Length` (the raw header value) is over
/// [`MAX_BODY_BYTES`], so that it can be answered `413` before any of the body is read and the
/// client sees the answer rather than a reset. A length too long for `u64` is too large; a
/// missing or non-numeric value is not: the framework's own framing checks and the limited
/// read still apply.
pub fn declared_body_too_large(content_length: Option<&[u8]>) -> bool {
    let Some(digits) = content_length.map(<[u8]>::trim_ascii) else {
        return false;
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|digits| digits.parse::<usize>().ok())
        .is_none_or(|length| length > MAX_BODY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_over_the_limit_are_too_large() {
        assert!(!declared_body_too_large(None));
        assert!(!declared_body_too_large(Some(b"16384")));
        assert!(declared_body_too_large(Some(b"16385")));
        assert!(declared_body_too_large(Some(b" 2097152 ")));
        assert!(declared_body_too_large(Some(b"99999999999999999999999")));
        assert!(!declared_body_too_large(Some(b"-1")));
        assert!(!declared_body_too_large(Some(b"\xff")));
    }

    #[test]
    fn head_bytes_count_the_request_line_and_header_lines() {
        // "GET /public HTTP/1.1\r\n" + "host: x\r\n"
        assert_eq!(head_bytes("GET", "/public", [(4, 1)]), 22 + 9);
        assert_eq!(head_bytes("GET", "/", []), 16);
        assert_eq!(head_bytes("GET", "/", [(1, 10), (2, 0)]), 16 + 15 + 6);
    }
}
