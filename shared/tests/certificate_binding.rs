//! A certificate-bound token (RFC 8705) through `Auth::authenticate` alone, as `AuthLayer` and
//! any adapter that does not call `Auth::gate` use it: the forwarded certificate is trusted
//! only on a request that carries the gateway's shared secret.

use api_auth::{Auth, AuthError, DevIssuer, DevKeyType, HttpRequestHead, SharedSecret};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, json};

const SECRET: &str = "gateway-secret-of-at-least-some-length";

/// A verifier that accepts certificate-bound tokens forwarded in `X-Client-Cert`, the issuer
/// of its tokens, and the forwarded header value of a client certificate with its
/// `x5t#S256`.
fn setup() -> (Auth, DevIssuer, String, String) {
    let issuer = DevIssuer::generate_with("https://login.example.com", None, DevKeyType::EdDsa)
        .expect("a development key");
    let auth = Auth::builder()
        .issuer(issuer.as_issuer().expect("the issuer's URL"))
        .shared_secret(SharedSecret::new(SECRET).expect("a secret"))
        .certificate_header("X-Client-Cert")
        .build()
        .expect("the verifier");
    let certificate = rcgen::generate_simple_self_signed(vec!["client".into()]).expect("a cert");
    let pem = certificate.cert.pem();
    let header = utf8_percent_encode(&pem, NON_ALPHANUMERIC).to_string();
    let forwarded = api_auth::ForwardedCertificate::from_header(&header).expect("readable");
    let thumbprint = forwarded.x5t_s256().to_owned();
    (auth, issuer, header, thumbprint)
}

fn bound_token(issuer: &DevIssuer, thumbprint: &str) -> String {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("alice"));
    claims.insert("cnf".into(), json!({ "x5t#S256": thumbprint }));
    issuer.mint(claims)
}

async fn authenticate(auth: &Auth, headers: &[(&str, &str)]) -> Result<(), AuthError> {
    let mut request = http::Request::get("/orders");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(()).expect("a request");
    auth.authenticate(&HttpRequestHead::of(&request))
        .await
        .map(drop)
}

#[tokio::test]
async fn the_forwarded_certificate_counts_only_with_the_shared_secret() {
    let (auth, issuer, header, thumbprint) = setup();
    let bearer = format!("Bearer {}", bound_token(&issuer, &thumbprint));
    let through_gateway = [
        ("authorization", bearer.as_str()),
        ("x-client-cert", header.as_str()),
        ("x-shared-secret", SECRET),
    ];
    assert_eq!(authenticate(&auth, &through_gateway).await, Ok(()));

    // The same certificate header sent by someone who reached the service directly.
    let direct = &through_gateway[..2];
    let refused = authenticate(&auth, direct).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (401, "invalid_token"));
    let wrong_secret = [
        through_gateway[0],
        through_gateway[1],
        ("x-shared-secret", "guess"),
    ];
    let refused = authenticate(&auth, &wrong_secret).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (401, "invalid_token"));
}

#[tokio::test]
async fn a_bound_token_is_never_a_bearer_token_to_verify() {
    let (auth, issuer, _, thumbprint) = setup();
    let refused = auth
        .verify(&bound_token(&issuer, &thumbprint))
        .await
        .unwrap_err();
    assert_eq!((refused.status(), refused.code()), (401, "invalid_token"));
}
