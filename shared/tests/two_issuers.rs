//! The library as a service uses it, through its public API only: one verifier for two
//! issuers (one fetched over HTTP with a caller-supplied client, one from a JWKS file),
//! an axum router behind `AuthLayer` on a real socket, and handlers reading typed claims.

#[path = "common/loopback.rs"]
mod loopback;

use api_auth::{Auth, AuthLayer, Claims, DevIssuer, DevKeyType, Issuer, KeySource};
use axum::routing::get;
use axum::{Extension, Json, Router};
use loopback::serve;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use test_keys::now;

/// The claims this service expects, borrowed from the verified token.
#[derive(Deserialize)]
struct OrderClaims<'a> {
    sub: &'a str,
    tenant: &'a str,
    #[serde(default)]
    roles: Vec<&'a str>,
}

async fn whoami(Extension(claims): Extension<Claims>) -> Json<Value> {
    match claims.deserialize::<OrderClaims>() {
        Ok(mine) => Json(json!({
            "sub": mine.sub,
            "tenant": mine.tenant,
            "roles": mine.roles,
            "iss": claims.registered().iss,
        })),
        Err(e) => Json(json!({ "error": e.to_string() })),
    }
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn two_issuers_typed_claims_through_the_layer() {
    // Issuer A publishes its keys over HTTP; issuer B's keys are in a file.
    let a =
        DevIssuer::generate_with("https://a.example", None, DevKeyType::Es256).expect("issuer A");
    let b =
        DevIssuer::generate_with("https://b.example", None, DevKeyType::EdDsa).expect("issuer B");
    let a_jwks = a.jwks().clone();
    let jwks_server = serve(Router::new().route(
        "/keys",
        get(move || {
            let doc = a_jwks.clone();
            async move { Json(doc) }
        }),
    ))
    .await;
    let dir = std::env::temp_dir().join(format!("api-auth-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let b_file = dir.join("b-jwks.json");
    std::fs::write(&b_file, b.jwks().to_string()).expect("write JWKS file");

    let client = reqwest::Client::builder()
        .no_proxy()
        .user_agent("orders-service/1.0")
        .build()
        .expect("client");
    let auth = Auth::builder()
        .issuer(
            Issuer::new(
                "https://a.example",
                KeySource::jwks_url(&format!("http://{jwks_server}/keys")).expect("URL"),
            )
            .expect("issuer A"),
        )
        .issuer(Issuer::new("https://b.example", KeySource::jwks_file(&b_file)).expect("issuer B"))
        .http_client(client)
        .audience("orders")
        .build()
        .expect("verifier");
    let _ = std::fs::remove_dir_all(&dir);

    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(AuthLayer::new(auth));
    let service = serve(app).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let call = |token: String| {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{service}/whoami"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = response.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            (status, challenge, body)
        }
    };
    let token = |issuer: &DevIssuer, extra: Value| {
        let mut c = claims(json!({ "aud": "orders", "exp": now() + 300 }));
        c.extend(claims(extra));
        issuer.mint(c)
    };

    // Each issuer's tokens verify with its own keys; typed claims reach the handler.
    let (status, _, body) = call(token(
        &a,
        json!({"sub":"alice","tenant":"acme","roles":["buyer"]}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["roles"], json!(["buyer"]));
    assert_eq!(body["iss"], "https://a.example");
    let (status, _, body) = call(token(&b, json!({"sub":"bob","tenant":"globex"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["iss"], "https://b.example");

    // A token signed by B's key but claiming A is refused: keys never cross issuers.
    let forged = token(
        &b,
        json!({"sub":"mallory","tenant":"acme","iss":"https://a.example"}),
    );
    let (status, challenge, body) = call(forged).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.is_some_and(|c| c.contains("invalid_token")),
        "{body}"
    );

    // An issuer that is not listed, a missing token and a wrong audience: refused.
    let stranger = token(
        &b,
        json!({"sub":"eve","tenant":"x","iss":"https://c.example"}),
    );
    assert_eq!(call(stranger).await.0, 401);
    let wrong_aud = token(&a, json!({"sub":"alice","tenant":"acme","aud":"billing"}));
    assert_eq!(call(wrong_aud).await.0, 401);
    let response = http
        .get(format!("http://{service}/whoami"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"api\"")
    );
}
