//! Tokens from a real issuer: every asymmetric algorithm, the claims that decide (`exp`,
//! `nbf`, `iss`, `aud`, roles and scopes), the algorithm allow-list and HS256, and the
//! `Authorization` header's forms.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::Case;
use super::support::{
    assert_granted, assert_invalid_token, assert_refused, claims, claims_with, remote,
    standard_jwks, without,
};
use crate::idp::Idp;
use crate::keys::{keys, mint, mint_as, mint_with_header, now};
use crate::sample::Sample;

/// No credentials: 401 with a bare challenge and `missing_token`.
async fn missing_token_gets_a_bare_challenge(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    for path in ["/protected", "/admin"] {
        let r = s.get(path, &[]).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"api\""),
            "{path}"
        );
        assert_eq!(r.error(), "missing_token", "{path}");
        assert!(r.json["error_description"].is_string());
    }
}

/// Every asymmetric algorithm verifies, with all claims returned.
async fn every_asymmetric_algorithm_is_accepted(bin: &str) {
    let r = remote(bin, &[]).await;
    let k = keys();
    let iss = r.idp.issuer();
    let c = claims_with(&iss, json!({ "custom": { "nested": [1, 2] } }));
    let tokens = [
        ("RS256", mint(&k.rsa, &c)),
        ("RS384", mint_as(&k.rsa, Algorithm::RS384, &c)),
        ("RS512", mint_as(&k.rsa, Algorithm::RS512, &c)),
        ("PS256", mint_as(&k.rsa, Algorithm::PS256, &c)),
        ("PS384", mint_as(&k.rsa, Algorithm::PS384, &c)),
        ("PS512", mint_as(&k.rsa, Algorithm::PS512, &c)),
        ("ES256", mint(&k.ec256, &c)),
        ("ES384", mint(&k.ec384, &c)),
        ("EdDSA", mint(&k.ed, &c)),
        (
            "Ed25519",
            mint_with_header(
                &json!({"alg":"Ed25519","kid":"ed-1"}),
                &c,
                &k.ed.encoding,
                Algorithm::EdDSA,
            ),
        ),
    ];
    for (name, token) in tokens {
        let resp = r.sample.get_bearer("/protected", &token).await;
        assert_granted(&resp, name);
        assert_eq!(
            resp.json["user"]["custom"],
            json!({ "nested": [1, 2] }),
            "{name}"
        );
        assert_eq!(resp.json["user"]["sub"], "alice", "{name}");
    }
    assert_eq!(r.idp.fetches(), 1, "one key set fetch serves every request");
}

/// An explicit JWKS URL works without discovery; without `AUTH_ISSUER`, `iss` is not checked.
async fn explicit_jwks_url_needs_no_discovery(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    let url = idp.jwks_url();
    let s = Sample::start(bin, &[("AUTH_JWKS_URL", url.as_str())]).await;
    let token = mint(&keys().ec256, &claims("https://anyone.example"));
    assert_granted(&s.get_bearer("/protected", &token).await, "jwks url");
}

/// `/admin` needs the admin role or scope: 403 `insufficient_scope` otherwise.
async fn admin_needs_the_admin_role_or_scope(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    for (what, extra) in [
        ("roles", json!({ "roles": ["user", "admin"] })),
        ("scope", json!({ "scope": "read admin" })),
    ] {
        let resp = r
            .sample
            .get_bearer("/admin", &mint(k, &claims_with(&iss, extra)))
            .await;
        assert_eq!(resp.status, 200, "{what}: {}", resp.text);
        assert_eq!(resp.json["message"], "Admin access");
        assert_eq!(resp.json["user"]["sub"], "alice");
    }
    for (what, extra) in [
        ("no roles", json!({})),
        ("other role", json!({ "roles": ["user"] })),
        ("roles as string", json!({ "roles": "admin" })),
        ("scope prefix", json!({ "scope": "administrator" })),
    ] {
        let resp = r
            .sample
            .get_bearer("/admin", &mint(k, &claims_with(&iss, extra)))
            .await;
        assert_eq!(resp.status, 403, "{what}: {}", resp.text);
        assert_eq!(resp.error(), "insufficient_scope", "{what}");
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{what}: {challenge}"
        );
        assert!(!resp.text.contains("Admin access"));
    }
}

/// Expired tokens say so; other time-claim defects are refused.
async fn expired_and_not_yet_valid_tokens_are_refused(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let expired = r
        .sample
        .get_bearer(
            "/protected",
            &mint(k, &claims_with(&iss, json!({ "exp": now() - 120 }))),
        )
        .await;
    assert_invalid_token(&expired, "expired");
    assert_eq!(expired.json["error_description"], "Token has expired");
    assert!(
        expired
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("error_description=\"Token has expired\""),
        "{:?}",
        expired.header("www-authenticate")
    );
    let within_leeway = mint(k, &claims_with(&iss, json!({ "exp": now() - 5 })));
    assert_granted(
        &r.sample.get_bearer("/protected", &within_leeway).await,
        "inside the 30 s leeway",
    );
    for (what, c) in [
        ("exp missing", without(claims(&iss), "exp")),
        (
            "exp as string",
            claims_with(&iss, json!({ "exp": (now() + 300).to_string() })),
        ),
        (
            "exp as float",
            claims_with(&iss, json!({ "exp": now() as f64 + 300.5 })),
        ),
        ("exp huge", claims_with(&iss, json!({ "exp": 1e40 }))),
        (
            "nbf in the future",
            claims_with(&iss, json!({ "nbf": now() + 600 })),
        ),
        ("nbf as string", claims_with(&iss, json!({ "nbf": "0" }))),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &mint(k, &c)).await, what);
    }
}

/// `iss` must match exactly; `aud` must contain `AUTH_AUDIENCE` when it is set.
async fn issuer_and_audience_must_match(bin: &str) {
    let r = remote(bin, &[("AUTH_AUDIENCE", "orders-api")]).await;
    let iss = r.idp.issuer();
    let k = &keys().ed;
    let ok = |aud: Value| claims_with(&iss, json!({ "aud": aud }));
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(k, &ok(json!("orders-api"))))
            .await,
        "aud string",
    );
    assert_granted(
        &r.sample
            .get_bearer(
                "/protected",
                &mint(k, &ok(json!(["billing", "orders-api"]))),
            )
            .await,
        "aud array",
    );
    let upper = iss.to_uppercase();
    for (what, c) in [
        ("aud other", ok(json!("billing"))),
        ("aud array without ours", ok(json!(["billing", "orders"]))),
        ("aud missing", claims(&iss)),
        (
            "iss other",
            claims_with("https://evil.example", json!({ "aud": "orders-api" })),
        ),
        (
            "iss trailing slash",
            claims_with(&format!("{iss}/"), json!({ "aud": "orders-api" })),
        ),
        (
            "iss different case",
            claims_with(&upper, json!({ "aud": "orders-api" })),
        ),
        ("iss missing", without(ok(json!("orders-api")), "iss")),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &mint(k, &c)).await, what);
    }
}

/// `AUTH_ALGORITHMS` narrows the allow-list.
async fn algorithms_outside_the_allow_list_are_refused(bin: &str) {
    let r = remote(bin, &[("AUTH_ALGORITHMS", "RS256")]).await;
    let iss = r.idp.issuer();
    let k = keys();
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(&k.rsa, &claims(&iss)))
            .await,
        "RS256 allowed",
    );
    for (what, token) in [
        ("ES256 not listed", mint(&k.ec256, &claims(&iss))),
        (
            "PS256 not listed",
            mint_as(&k.rsa, Algorithm::PS256, &claims(&iss)),
        ),
        ("EdDSA not listed", mint(&k.ed, &claims(&iss))),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, what);
    }
}

/// `AUTH_HS256_SECRET` adds HS256 with that secret, and nothing else symmetric.
async fn hs256_secret_adds_hs256_only(bin: &str) {
    let secret = "tutorial-secret-of-at-least-32-bytes!";
    let r = remote(
        bin,
        &[("AUTH_HS256_SECRET", secret), ("AUTH_ALGORITHMS", "RS256")],
    )
    .await;
    let iss = r.idp.issuer();
    let c = claims(&iss);
    let hs = |key: &[u8], alg: Algorithm| {
        mint_with_header(
            &json!({ "alg": format!("{alg:?}") }),
            &c,
            &EncodingKey::from_secret(key),
            alg,
        )
    };
    assert_granted(
        &r.sample
            .get_bearer("/protected", &hs(secret.as_bytes(), Algorithm::HS256))
            .await,
        "HS256",
    );
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(&keys().rsa, &c))
            .await,
        "RS256 still",
    );
    assert_invalid_token(
        &r.sample
            .get_bearer(
                "/protected",
                &hs(b"another-secret-another-secret-xx", Algorithm::HS256),
            )
            .await,
        "wrong secret",
    );
    assert_invalid_token(
        &r.sample
            .get_bearer("/protected", &hs(secret.as_bytes(), Algorithm::HS512))
            .await,
        "HS512",
    );
}

/// The `Authorization` header's forms (RFC 6750 §2.1).
async fn authorization_header_forms_follow_rfc_6750(bin: &str) {
    let r = remote(bin, &[]).await;
    let token = mint(&keys().ec256, &claims(&r.idp.issuer()));
    let s = &r.sample;
    for form in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer   {token}"),
        format!("Bearer {token}  "),
    ] {
        assert_granted(
            &s.get("/protected", &[("authorization", &form)]).await,
            &form[..8],
        );
    }
    let basic = s
        .get("/protected", &[("authorization", "Basic YWxpY2U6c2VjcmV0")])
        .await;
    assert_eq!(basic.status, 401, "{}", basic.text);
    assert_eq!(
        basic.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
    for (what, value) in [
        ("scheme only", "Bearer"),
        ("scheme and blank", "Bearer  "),
        ("token with inner space", "Bearer a b"),
    ] {
        let resp = s.get("/protected", &[("authorization", value)]).await;
        assert_refused(&resp, what);
        assert!(matches!(resp.status, 400 | 401), "{what}: {}", resp.status);
    }
    let auth = format!("Bearer {token}");
    let two = s
        .get(
            "/protected",
            &[("authorization", &auth), ("authorization", &auth)],
        )
        .await;
    assert_eq!(two.status, 400, "two Authorization headers: {}", two.text);
    assert_eq!(two.error(), "invalid_request");
    assert!(
        two.header("www-authenticate")
            .unwrap_or_default()
            .contains("error=\"invalid_request\"")
    );
    // A newline cannot be inside a header value: on the wire it ends the header line, so the
    // token arrives intact (bare LF is a legal line end for a lenient HTTP/1.1 parser) or the
    // request is refused. The escaped form a shell or config file may leave behind is a bad token.
    let raw = format!(
        "GET /protected HTTP/1.1\nHost: {}\nAuthorization: Bearer {token}\n\n",
        s.authority()
    );
    let code = s.raw(raw.as_bytes()).await;
    assert!(
        code.is_none_or(|c| c < 500),
        "token followed by a bare newline: {code:?}"
    );
    let escaped = format!("Bearer {token}\\n");
    assert_invalid_token(
        &s.get("/protected", &[("authorization", &escaped)]).await,
        "literal \\n after the token",
    );
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(missing_token_gets_a_bare_challenge),
    case!(every_asymmetric_algorithm_is_accepted),
    case!(explicit_jwks_url_needs_no_discovery),
    case!(admin_needs_the_admin_role_or_scope),
    case!(expired_and_not_yet_valid_tokens_are_refused),
    case!(issuer_and_audience_must_match),
    case!(algorithms_outside_the_allow_list_are_refused),
    case!(hs256_secret_adds_hs256_only),
    case!(authorization_header_forms_follow_rfc_6750),
];
