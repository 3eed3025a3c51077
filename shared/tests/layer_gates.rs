//! `AuthLayer` does everything the `Auth` it wraps was built to do: the allowed hosts, the
//! HTTPS redirect and the shared secret, in that order and on every path but the ungated
//! ones, then the token. An axum router behind the layer, on a real socket, driven over raw
//! HTTP/1.1 so that the request target and `Host` are exactly what each case sends.

#[path = "common/loopback.rs"]
mod loopback;

use std::net::SocketAddr;

use api_auth::{Auth, AuthLayer, Claims, DevIssuer, SharedSecret};
use axum::routing::get;
use axum::{Extension, Router};
use loopback::serve;
use serde_json::{Map, Value, json};
use test_keys::now;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "gateway-secret-of-the-layer-test-5d0e9b";
const HOST: &str = "api.example";

async fn orders(Extension(claims): Extension<Claims>) -> String {
    format!("orders of {}", claims.sub().unwrap_or("nobody"))
}

/// Sends one request with exactly these head lines; returns the status and the head.
async fn send(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("GET {target} HTTP/1.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn the_layer_applies_every_gate_of_its_auth_before_the_token() {
    let issuer = DevIssuer::generate("https://issuer.example", None).expect("issuer");
    let auth = Auth::builder()
        .issuer(issuer.as_issuer().expect("issuer"))
        .allowed_hosts([HOST])
        .force_https(true)
        .shared_secret(SharedSecret::new(SECRET).expect("secret"))
        .ungated_paths(["/healthz"])
        .build()
        .expect("verifier");
    let app = Router::new()
        .route("/orders", get(orders))
        .route("/healthz", get(|| async { "ok" }))
        .route_layer(AuthLayer::new(auth));
    let addr = serve(app).await;
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("alice"));
    claims.insert("exp".into(), Value::from(now() + 300));
    let bearer = format!("Bearer {}", issuer.mint(claims));

    // A host that is not served: 400, before anything else, even with everything else right.
    let (status, head) = send(
        addr,
        "/orders",
        &[
            ("host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-shared-secret", SECRET),
            ("authorization", &bearer),
        ],
    )
    .await;
    assert_eq!(status, 400, "{head}");
    assert!(head.contains("invalid_request"), "{head}");

    // Plain HTTP: redirected to the https URL of the listed host, never to the handler.
    let (status, head) = send(
        addr,
        "/orders?page=2",
        &[
            ("host", HOST),
            ("x-shared-secret", SECRET),
            ("authorization", &bearer),
        ],
    )
    .await;
    assert_eq!(status, 308, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: https://api.example/orders?page=2"),
        "{head}"
    );

    // Over HTTPS without the gateway's secret, or with another: 401 invalid_shared_secret.
    for secret in [None, Some("gateway-secret-of-the-layer-test-5d0e9c")] {
        let mut headers = vec![
            ("host", HOST),
            ("x-forwarded-proto", "https"),
            ("authorization", bearer.as_str()),
        ];
        headers.extend(secret.map(|s| ("x-shared-secret", s)));
        let (status, head) = send(addr, "/orders", &headers).await;
        assert_eq!(status, 401, "{secret:?}: {head}");
        assert!(head.contains("invalid_shared_secret"), "{secret:?}: {head}");
        assert!(!head.contains("orders of"), "{head}");
    }

    // Through every gate, the token decides.
    let gated = [
        ("host", HOST),
        ("x-forwarded-proto", "https"),
        ("x-shared-secret", SECRET),
    ];
    let (status, head) = send(addr, "/orders", &gated).await;
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("missing_token"), "{head}");
    let mut with_token = gated.to_vec();
    with_token.push(("authorization", &bearer));
    let (status, head) = send(addr, "/orders", &with_token).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.ends_with("orders of alice"), "{head}");

    // An ungated path skips the gates, not the token.
    let (status, head) = send(addr, "/healthz", &[("host", "evil.example")]).await;
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("missing_token"), "{head}");
}
