//! The contract's edges: bodies refused from their declared length, paths matched byte for
//! byte, development routes absent outside development mode, redirect targets that are valid
//! URI references, and configuration that is refused rather than misread.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::remote;
use crate::sample::Sample;

/// How long a raw exchange may take before the case fails.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(15);

/// An answer read off a raw connection.
pub(crate) struct RawAnswer {
    /// The status code of the status line.
    pub(crate) status: u16,
    /// The status line and headers.
    pub(crate) head: Vec<u8>,
    /// The body, as far as `Content-Length` announced it.
    pub(crate) body: Vec<u8>,
}

impl RawAnswer {
    /// The raw value of header `name` (lower case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.split(|&b| b == b'\n').skip(1).find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let (field, value) = line.split_at(colon);
            field
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| value[1..].trim_ascii())
        })
    }

    /// The `error` code of a JSON body.
    pub(crate) fn error(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Writes `request` on a fresh connection to `authority` and reads the answer: its head, then
/// as much body as its `Content-Length` announces (or until the server closes).
pub(crate) async fn exchange(authority: &str, request: &[u8]) -> RawAnswer {
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connect to the sample");
        stream.write_all(request).await.expect("write the request");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).await.expect("read the answer");
            assert!(n > 0, "closed before a complete answer head: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        };
        let body = buf.split_off(head_end);
        let mut answer = RawAnswer {
            status: 0,
            head: buf,
            body,
        };
        answer.status = std::str::from_utf8(&answer.head)
            .ok()
            .and_then(|h| h.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let length: usize = answer
            .header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while answer.body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.body.extend_from_slice(&chunk[..n]),
            }
        }
        answer
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {EXCHANGE_TIMEOUT:?}"))
}

/// `GET path` as raw bytes, so that no client library normalises the path.
async fn raw_get(authority: &str, path: &[u8], headers: &str) -> RawAnswer {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(format!(" HTTP/1.1\r\nHost: a.example\r\n{headers}\r\n").as_bytes());
    exchange(authority, &request).await
}

/// Waits until the sample's logs contain `needle` (they are collected as they are written).
pub(crate) async fn wait_logs(s: &Sample, needle: &str) -> String {
    for _ in 0..200 {
        let logs = s.logs();
        if logs.contains(needle) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("logs never contained {needle:?}:\n{}", s.logs());
}

/// A `POST /dev/token` declaring 2 MiB is answered `413` before its body is sent: the client
/// writes the head (and the first bytes of the body, which Rocket needs before it routes any
/// request with a body) in one write, reads the answer, and never sends the rest, so it
/// cannot be reset while still sending.
pub async fn declared_oversize_body_refused_before_sent(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    let request = b"POST /dev/token HTTP/1.1\r\nHost: a.example\r\n\
        Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{\"sub\":\"alice\",  ";
    let answer = exchange(s.authority(), request).await;
    assert_eq!(
        answer.status,
        413,
        "{}",
        String::from_utf8_lossy(&answer.head)
    );
    assert_eq!(answer.error(), "payload_too_large");
    let small = s
        .request(
            reqwest::Method::POST,
            "/dev/token",
            &[("content-type", "application/json")],
            Some(br#"{"sub":"alice"}"#.to_vec()),
        )
        .await;
    assert_eq!(small.status, 200, "{}", small.text);
}

/// Outside development mode its paths answer `404` for every method; in development mode a
/// wrong method still gets `405` with `Allow`.
pub async fn dev_paths_absent_for_every_method(bin: &str) {
    let r = remote(bin, &[]).await;
    let dev = Sample::start(bin, &[]).await;
    for path in [
        "/dev/token",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        for method in [
            reqwest::Method::GET,
            reqwest::Method::POST,
            reqwest::Method::DELETE,
        ] {
            let resp = r
                .sample
                .request(method.clone(), path, &[], Some(b"{}".to_vec()))
                .await;
            assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
            assert_eq!(resp.error(), "not_found", "{method} {path}");
        }
    }
    for (method, path, allow) in [
        (reqwest::Method::GET, "/dev/token", "POST"),
        (reqwest::Method::POST, "/.well-known/jwks.json", "GET, HEAD"),
    ] {
        let resp = dev.request(method.clone(), path, &[], None).await;
        assert_eq!(resp.status, 405, "dev mode {method} {path}: {}", resp.text);
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
}

/// Paths match byte for byte: no percent-decoding, case folding or slash folding.
pub async fn paths_match_byte_for_byte(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    for path in ["/%70ublic", "/Public", "/public/", "//public", "/public%2F"] {
        let answer = raw_get(s.authority(), path.as_bytes(), "").await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.error(), "not_found", "{path}");
    }
    assert_eq!(raw_get(s.authority(), b"/public", "").await.status, 200);
}

/// A request line with raw UTF-8 bytes gets a `308` whose `Location` is ASCII and decodes back
/// to the request's URL; a framework whose parser refuses such a request line answers `400`
/// (actix-web), never anything else.
pub async fn redirect_location_is_a_uri(bin: &str) {
    let s = Sample::start(bin, &[("FORCE_HTTPS", "1")]).await;
    let answer = raw_get(s.authority(), "/café?q=é&x=ü".as_bytes(), "").await;
    if answer.status == 400 {
        return;
    }
    assert_eq!(
        answer.status,
        308,
        "{}",
        String::from_utf8_lossy(&answer.head)
    );
    let location = answer.header("location").expect("a Location header");
    assert!(
        location.iter().all(|b| (0x21..0x7f).contains(b)),
        "not printable ASCII: {location:?}"
    );
    let decoded = percent_encoding::percent_decode(location).decode_utf8_lossy();
    assert_eq!(decoded, "https://a.example/café?q=é&x=ü");
    assert!(url::Url::parse(std::str::from_utf8(location).unwrap_or_default()).is_ok());
}

/// Values that would be misread are start-up errors: one line, naming the variable, non-zero.
pub async fn misleading_configuration_refused(bin: &str) {
    let hs_padded = " 0123456789abcdef0123456789abcdef";
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("AUTH_ISSUER", &[("AUTH_ISSUER", "")]),
        ("AUTH_ISSUER", &[("AUTH_ISSUER", "  ")]),
        ("AUTH_JWKS_URL", &[("AUTH_JWKS_URL", "")]),
        ("AUTH_AUDIENCE", &[("AUTH_AUDIENCE", "")]),
        ("SHARED_SECRET", &[("SHARED_SECRET", " s3cret")]),
        ("SHARED_SECRET", &[("SHARED_SECRET", "s3cret ")]),
        ("AUTH_HS256_SECRET", &[("AUTH_HS256_SECRET", hs_padded)]),
        ("API_KEYS", &[("API_KEYS", "alice: key-a")]),
        ("AUTH_LEEWAY_SECS", &[("AUTH_LEEWAY_SECS", "99999999999")]),
        ("AUTH_LEEWAY_SECS", &[("AUTH_LEEWAY_SECS", "301")]),
        ("AUTH_DEV_MODE", &[("AUTH_DEV_MODE", "yes")]),
        (
            "AUTH_DEV_MODE",
            &[
                ("AUTH_DEV_MODE", "1"),
                ("AUTH_ISSUER", "https://idp.example"),
            ],
        ),
        (
            "AUTH_DEV_MODE",
            &[
                ("AUTH_DEV_MODE", "1"),
                ("AUTH_JWKS_URL", "https://idp.example/jwks"),
            ],
        ),
        ("AUTH_ISSUER", &[("HOST", "0.0.0.0")]),
    ];
    for (var, env) in cases {
        let (code, stderr) = Sample::start_failure(bin, env).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{env:?} started (exit {code:?})"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{env:?}: {stderr}");
        assert!(
            stderr.contains(var),
            "{env:?}: does not name {var}: {stderr}"
        );
        for (name, value) in *env {
            if name.contains("SECRET") || *name == "API_KEYS" {
                assert!(!stderr.contains(value.trim()), "{name}: secret in {stderr}");
            }
        }
    }
}

/// `AUTH_DEV_MODE=1` allows development mode on every interface.
pub async fn dev_mode_on_all_interfaces_when_asked(bin: &str) {
    let s = Sample::start(bin, &[("HOST", "0.0.0.0"), ("AUTH_DEV_MODE", "1")]).await;
    let port = s.authority().rsplit(':').next().expect("a port");
    let answer = raw_get(&format!("127.0.0.1:{port}"), b"/public", "").await;
    assert_eq!(answer.status, 200);
    s.wait_stdout("DEVELOPMENT MODE").await;
}

/// A real issuer without `AUTH_AUDIENCE` starts, with a warning that any of its tokens is
/// accepted.
pub async fn missing_audience_is_warned(bin: &str) {
    let r = remote(bin, &[]).await;
    let logs = wait_logs(&r.sample, "AUTH_AUDIENCE").await;
    assert!(logs.contains("any API"), "{logs}");
}
