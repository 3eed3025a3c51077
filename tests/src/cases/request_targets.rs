//! Request targets that are not in origin form (RFC 9112 §3.2): authority form, asterisk form
//! and a path without its leading `/` get a `400`, never a panic or a closed connection;
//! absolute form is routed by its path. Each request is written as raw bytes, since no client
//! library sends these forms, and each case runs with `FORCE_HTTPS=1`, whose redirect must
//! not answer a target that names no path.

use super::contract_edges::{RawAnswer, exchange};
use crate::sample::Sample;

/// A sample with the HTTPS redirect on.
async fn redirecting(bin: &str) -> Sample {
    Sample::start(bin, &[("FORCE_HTTPS", "1")]).await
}

/// Sends `request_line` with `Host: a.example` and the given extra header lines.
async fn send(s: &Sample, request_line: &str, headers: &str) -> RawAnswer {
    let request = format!("{request_line}\r\nHost: a.example\r\n{headers}\r\n");
    exchange(s.authority(), request.as_bytes()).await
}

/// Each target gets `400 invalid_request`, and the sample goes on serving.
async fn assert_refused(s: &Sample, request_lines: &[&str]) {
    for line in request_lines {
        let answer = send(s, line, "").await;
        assert_eq!(
            answer.status,
            400,
            "{line}: {}",
            String::from_utf8_lossy(&answer.head)
        );
        assert_eq!(answer.error(), "invalid_request", "{line}");
    }
    let after = send(s, "GET /public HTTP/1.1", "X-Forwarded-Proto: https\r\n").await;
    assert_eq!(after.status, 200, "the sample stopped serving");
}

/// Authority form (`GET example.com:80`, `CONNECT host:443`), which only a proxy serves.
pub async fn authority_form_target_refused(bin: &str) {
    let s = redirecting(bin).await;
    assert_refused(
        &s,
        &[
            "GET example.com:80 HTTP/1.1",
            "CONNECT host:443 HTTP/1.1",
            "GET a.example:8080 HTTP/1.1",
        ],
    )
    .await;
}

/// Asterisk form (`OPTIONS *`), which names the server rather than a route.
pub async fn asterisk_form_target_refused(bin: &str) {
    let s = redirecting(bin).await;
    assert_refused(&s, &["OPTIONS * HTTP/1.1", "GET * HTTP/1.1"]).await;
}

/// A path without its leading `/`.
pub async fn relative_path_target_refused(bin: &str) {
    let s = redirecting(bin).await;
    assert_refused(&s, &["GET public HTTP/1.1", "GET healthz HTTP/1.1"]).await;
}

/// Absolute form (`GET http://a.example/public`) is routed by its path, gates included.
pub async fn absolute_form_target_routed_by_path(bin: &str) {
    let s = redirecting(bin).await;
    let https = "X-Forwarded-Proto: https\r\n";
    let public = send(&s, "GET http://a.example/public HTTP/1.1", https).await;
    assert_eq!(
        public.status,
        200,
        "{}",
        String::from_utf8_lossy(&public.head)
    );
    let body: serde_json::Value = serde_json::from_slice(&public.body).unwrap_or_default();
    assert_eq!(body, serde_json::json!({"message": "Anyone can see this"}));
    let protected = send(&s, "GET http://a.example/protected HTTP/1.1", https).await;
    assert_eq!(protected.status, 401);
    assert_eq!(protected.error(), "missing_token");
    let unknown = send(&s, "GET http://a.example/Public HTTP/1.1", https).await;
    assert_eq!(unknown.status, 404);
    let plain = send(&s, "GET http://a.example/public?x=1 HTTP/1.1", "").await;
    assert_eq!(plain.status, 308);
    assert_eq!(
        plain.header("location"),
        Some(&b"https://a.example/public?x=1"[..])
    );
    let probe = send(&s, "GET http://a.example/healthz HTTP/1.1", "").await;
    assert_eq!(probe.status, 200, "probes are never redirected");
}
