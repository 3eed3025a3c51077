//! The gates in their order (request target, host, HTTPS redirect, shared secret) and the
//! choice of issuer by `iss`.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use api_auth::{Auth, AuthBuilder, AuthError, Issuer, KeySource, SharedSecret, TokenError};

const ISSUER: &str = "https://issuer.example";
const SECRET: [u8; 32] = [7; 32];
/// The gateway's shared secret of the gate tests.
const GATE_SECRET: &str = "gate-secret-of-the-tests-3f9a0c2e71b5";

/// A verifier for [`ISSUER`] whose tokens are HS256 with [`SECRET`].
fn auth() -> Auth {
    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    Auth::builder()
        .issuer(Issuer::new(ISSUER, KeySource::jwks_document(jwks)).unwrap())
        .hs256_secret(SECRET)
        .build()
        .unwrap()
}

fn token(iss: Option<Value>) -> String {
    let mut claims = json!({ "sub": "a", "exp": unix_now() + 300 });
    if let Some(iss) = iss {
        claims["iss"] = iss;
    }
    let key = EncodingKey::from_secret(&SECRET);
    jsonwebtoken::encode(&Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap()
}

/// The gate of an HS256-only verifier configured by `configure`, on one request.
fn gate(
    configure: impl FnOnce(AuthBuilder) -> AuthBuilder,
    request: http::request::Builder,
) -> Result<(), AuthError> {
    let auth = configure(Auth::builder().hs256_secret(SECRET))
        .ungated_paths(["/healthz"])
        .build()
        .unwrap();
    let request = request.body(()).unwrap();
    auth.gate(&api_auth::HttpRequestHead::new(
        request.headers(),
        request.uri(),
    ))
}

fn get(target: &str, host: &str) -> http::request::Builder {
    http::Request::get(target).header("host", host)
}

#[test]
fn targets_that_are_not_paths_are_refused_before_any_gate() {
    for target in ["example.com:80", "*", "public"] {
        let request = http::Request::builder()
            .method("OPTIONS")
            .uri(target)
            .header("host", "a.example");
        let refused = gate(|b| b.force_https(true), request);
        assert!(
            matches!(refused, Err(AuthError::MalformedRequest(_))),
            "{target}: {refused:?}"
        );
    }
}

#[test]
fn hosts_are_checked_first_and_the_target_authority_wins() {
    let hosts = |b: AuthBuilder| {
        b.allowed_hosts(["good.example"])
            .force_https(true)
            .shared_secret(SharedSecret::new(GATE_SECRET).unwrap())
    };
    let refused =
        |result: Result<(), AuthError>| matches!(result, Err(AuthError::MalformedRequest(_)));
    assert!(refused(gate(hosts, get("/x", "evil.example"))));
    assert!(refused(gate(hosts, http::Request::get("/x"))));
    assert!(refused(gate(
        hosts,
        get("http://evil.example/x", "good.example")
    )));
    assert!(refused(gate(
        hosts,
        get("/x", "good.example").header("host", "good.example")
    )));
    assert_eq!(gate(hosts, get("/healthz", "evil.example")), Ok(()));
    assert_eq!(
        gate(hosts, get("http://GOOD.example/x?q", "evil.example")),
        Err(AuthError::HttpsRequired("https://GOOD.example/x?q".into()))
    );
    assert_eq!(
        gate(
            hosts,
            get("/x", "good.example:8080").header("x-forwarded-proto", "http, https")
        ),
        Err(AuthError::InvalidSharedSecret)
    );
}

#[test]
fn the_redirect_follows_the_target_authority_and_the_last_forwarded_value() {
    let https = |b: AuthBuilder| b.force_https(true);
    assert_eq!(
        gate(https, get("http://good.example/x", "evil.example")),
        Err(AuthError::HttpsRequired("https://good.example/x".into()))
    );
    let proto = |values: &[&str]| {
        let mut request = get("/x", "a.example");
        for value in values {
            request = request.header("x-forwarded-proto", *value);
        }
        gate(https, request).is_ok()
    };
    assert!(proto(&["http, https"]));
    assert!(proto(&["https, http", "https"]));
    assert!(!proto(&["https, http"]));
    assert!(!proto(&["https", "http"]));
}

#[tokio::test]
async fn iss_must_be_exactly_a_listed_issuer() {
    let auth = auth();
    assert!(auth.verify(&token(Some(json!(ISSUER)))).await.is_ok());
    for (iss, error) in [
        (
            Some(json!("https://issuer.example/")),
            TokenError::WrongIssuer,
        ),
        (
            Some(json!("HTTPS://issuer.example")),
            TokenError::WrongIssuer,
        ),
        (Some(json!(7)), TokenError::InvalidClaim("iss")),
        (None, TokenError::MissingClaim("iss")),
    ] {
        assert_eq!(
            auth.verify(&token(iss.clone())).await,
            Err(AuthError::InvalidToken(error)),
            "{iss:?}"
        );
    }
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit")
}
