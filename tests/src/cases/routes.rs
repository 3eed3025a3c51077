//! The routes: what answers without credentials, what is unknown (`404`) or has another
//! method (`405` with `Allow`), paths matched byte for byte, bodies refused from their
//! declared length, and request targets that are not in origin form (RFC 9112 §3.2):
//! authority form, asterisk form and a path without its leading `/` get a `400`, never a
//! panic or a closed connection; absolute form is routed by its path. The request-target
//! cases run with `FORCE_HTTPS=1`, whose redirect must not answer a target that names no
//! path.

use serde_json::json;

use super::Case;
use crate::raw::{RawAnswer, exchange, raw_get};
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
async fn assert_target_refused(s: &Sample, request_lines: &[&str]) {
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

/// `/healthz` and `/public` answer without credentials.
async fn open_routes_need_no_credentials(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json["status"], "ok");
    assert_eq!(health.header("content-type"), Some("application/json"));
    let public = s.get("/public", &[]).await;
    assert_eq!(public.status, 200);
    assert_eq!(public.json, json!({ "message": "Anyone can see this" }));
}

/// Unknown routes and methods are clean 4xx answers, never 500.
async fn unknown_routes_and_methods_get_clean_4xx(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    for path in ["/nope", "/public/", "//public"] {
        let resp = s.get(path, &[]).await;
        assert_eq!(resp.status, 404, "{path}: {}", resp.text);
        assert_eq!(resp.error(), "not_found", "{path}: {}", resp.text);
    }
    for (method, path, allow) in [
        (reqwest::Method::POST, "/public", "GET, HEAD"),
        (reqwest::Method::DELETE, "/protected", "GET, HEAD"),
        (reqwest::Method::GET, "/dev/token", "POST"),
    ] {
        let resp = s
            .request(method.clone(), path, &[], Some(b"x".to_vec()))
            .await;
        assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
        assert_eq!(resp.error(), "method_not_allowed", "{method} {path}");
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
    // Oversized bodies: `declared_oversize_body_refused_before_sent`, which reads the answer
    // before it could be reset while sending.
    for size in [20 * 1024, 200 * 1024] {
        let huge_header = format!(
            "GET /public HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        let code = s.raw(huge_header.as_bytes()).await;
        assert!(
            code.is_none_or(|c| c == 431),
            "{size} byte header: {code:?}"
        );
    }
}

/// Paths match byte for byte: no percent-decoding, case folding or slash folding.
async fn paths_match_byte_for_byte(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    for path in ["/%70ublic", "/Public", "/public/", "//public", "/public%2F"] {
        let answer = raw_get(s.authority(), path.as_bytes(), "").await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.error(), "not_found", "{path}");
    }
    assert_eq!(raw_get(s.authority(), b"/public", "").await.status, 200);
}

/// A `POST /dev/token` declaring 2 MiB is answered `413` before its body is sent: the client
/// writes the head (and the first bytes of the body, which Rocket needs before it routes any
/// request with a body) in one write, reads the answer, and never sends the rest, so it
/// cannot be reset while still sending.
async fn declared_oversize_body_refused_before_sent(bin: &str) {
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

/// Authority form (`GET example.com:80`, `CONNECT host:443`), which only a proxy serves.
async fn authority_form_target_refused(bin: &str) {
    let s = redirecting(bin).await;
    assert_target_refused(
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
async fn asterisk_form_target_refused(bin: &str) {
    let s = redirecting(bin).await;
    assert_target_refused(&s, &["OPTIONS * HTTP/1.1", "GET * HTTP/1.1"]).await;
}

/// A path without its leading `/`.
async fn relative_path_target_refused(bin: &str) {
    let s = redirecting(bin).await;
    assert_target_refused(&s, &["GET public HTTP/1.1", "GET healthz HTTP/1.1"]).await;
}

/// Absolute form (`GET http://a.example/public`) is routed by its path, gates included.
async fn absolute_form_target_routed_by_path(bin: &str) {
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

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(open_routes_need_no_credentials),
    case!(unknown_routes_and_methods_get_clean_4xx),
    case!(paths_match_byte_for_byte),
    case!(declared_oversize_body_refused_before_sent),
    case!(authority_form_target_refused),
    case!(asterisk_form_target_refused),
    case!(relative_path_target_refused),
    case!(absolute_form_target_routed_by_path),
];
