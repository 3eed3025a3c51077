//! Several issuers (`AUTH_ISSUER` as a comma-separated list): each with its own key set,
//! chosen by the token's `iss` before any key is looked up.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::{assert_granted, assert_invalid_token, claims, claims_with, standard_jwks};
use crate::idp::{Idp, jwks_of};
use crate::keys::{keys, mint, mint_with_header};
use crate::sample::Sample;

/// Two providers: A publishes the standard keys, B publishes the second RSA key under A's
/// RSA `kid`, so a `kid` alone cannot tell them apart.
async fn two_providers() -> (Idp, Idp) {
    let a = Idp::start(standard_jwks()).await;
    let mut b_key = keys().rsa2.jwk.clone();
    b_key["kid"] = json!(keys().rsa.kid);
    let b = Idp::start(jwks_of(&[&b_key])).await;
    (a, b)
}

async fn sample_for(bin: &str, issuers: &[&Idp]) -> Sample {
    let list: Vec<String> = issuers.iter().map(|idp| idp.issuer()).collect();
    Sample::start(bin, &[("AUTH_ISSUER", &list.join(","))]).await
}

/// B's key signing a token under the shared `kid`.
fn signed_by_b(claims: &serde_json::Value) -> String {
    let k = keys();
    mint_with_header(
        &json!({ "alg": "RS256", "kid": k.rsa.kid }),
        claims,
        &k.rsa2.encoding,
        Algorithm::RS256,
    )
}

/// Tokens of each listed issuer verify against that issuer's own keys; `/healthz` reports
/// every issuer's key set.
pub async fn several_issuers_accepted(bin: &str) {
    let (a, b) = two_providers().await;
    let s = sample_for(bin, &[&a, &b]).await;
    let (iss_a, iss_b) = (a.issuer(), b.issuer());
    assert_granted(
        &s.get_bearer("/protected", &mint(&keys().rsa, &claims(&iss_a)))
            .await,
        "issuer A",
    );
    assert_granted(
        &s.get_bearer("/protected", &mint(&keys().ec256, &claims(&iss_a)))
            .await,
        "issuer A, EC key",
    );
    let resp = s
        .get_bearer("/protected", &signed_by_b(&claims(&iss_b)))
        .await;
    assert_granted(&resp, "issuer B");
    assert_eq!(resp.json["user"]["iss"], iss_b.as_str());
    let health = s.get("/healthz", &[]).await;
    let issuers = health.json["issuers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let named: Vec<&str> = issuers
        .iter()
        .filter_map(|i| i["issuer"].as_str())
        .collect();
    assert_eq!(named, [iss_a.as_str(), iss_b.as_str()], "{}", health.text);
    assert!(
        issuers
            .iter()
            .all(|i| i["count"].as_u64().is_some_and(|n| n > 0)),
        "{}",
        health.text
    );
}

/// A `kid` only ever matches keys of the token's own issuer: B's key, under the `kid` both
/// issuers publish, never verifies a token claiming A, and A's never one claiming B.
pub async fn several_issuers_keys_never_cross(bin: &str) {
    let (a, b) = two_providers().await;
    let s = sample_for(bin, &[&a, &b]).await;
    let (iss_a, iss_b) = (a.issuer(), b.issuer());
    assert_invalid_token(
        &s.get_bearer("/protected", &signed_by_b(&claims(&iss_a)))
            .await,
        "B's key claiming A",
    );
    assert_invalid_token(
        &s.get_bearer("/protected", &mint(&keys().rsa, &claims(&iss_b)))
            .await,
        "A's key claiming B",
    );
    assert_invalid_token(
        &s.get_bearer("/protected", &mint(&keys().ed, &claims(&iss_b)))
            .await,
        "A's Ed25519 key claiming B",
    );
}

/// A token whose `iss` is not listed, or that has none, is refused without any fetch.
pub async fn several_issuers_unlisted_refused_without_fetch(bin: &str) {
    let (a, b) = two_providers().await;
    let s = sample_for(bin, &[&a, &b]).await;
    // Both start-up fetches have completed once each issuer's token verifies.
    assert_granted(
        &s.get_bearer("/protected", &mint(&keys().rsa, &claims(&a.issuer())))
            .await,
        "A",
    );
    assert_granted(
        &s.get_bearer("/protected", &signed_by_b(&claims(&b.issuer())))
            .await,
        "B",
    );
    let before = (a.fetches(), b.fetches());
    let other = Idp::start(standard_jwks()).await;
    let k = keys();
    for (what, token) in [
        ("unlisted issuer", mint(&k.rsa, &claims(&other.issuer()))),
        (
            "unlisted issuer, unknown kid",
            mint_with_header(
                &json!({ "alg": "RS256", "kid": "somewhere-else" }),
                &claims(&other.issuer()),
                &k.rsa.encoding,
                Algorithm::RS256,
            ),
        ),
        (
            "issuer with a trailing slash",
            mint(&k.rsa, &claims(&format!("{}/", a.issuer()))),
        ),
        (
            "no iss",
            mint(&k.rsa, &super::without(claims(&a.issuer()), "iss")),
        ),
        (
            "iss not a string",
            mint(&k.rsa, &claims_with(&a.issuer(), json!({ "iss": 7 }))),
        ),
    ] {
        assert_invalid_token(&s.get_bearer("/protected", &token).await, what);
    }
    assert_eq!((a.fetches(), b.fetches()), before, "a refusal fetched keys");
    assert_eq!(other.fetches(), 0, "the unlisted issuer was contacted");
}

/// One issuer's outage leaves the other's tokens working.
pub async fn several_issuers_outage_is_isolated(bin: &str) {
    let (a, b) = two_providers().await;
    a.stop();
    let s = sample_for(bin, &[&a, &b]).await;
    let resp = s
        .get_bearer("/protected", &signed_by_b(&claims(&b.issuer())))
        .await;
    assert_granted(&resp, "B while A is down");
    let resp = s
        .get_bearer("/protected", &mint(&keys().rsa, &claims(&a.issuer())))
        .await;
    assert_eq!(resp.status, 503, "A while A is down: {}", resp.text);
    assert!(resp.header("retry-after").is_some(), "{:?}", resp.headers);
}

/// `AUTH_JWKS_URL` names one key set, so it cannot serve several issuers; an empty entry in
/// the list is a start-up error too.
pub async fn several_issuers_startup_errors(bin: &str) {
    for (env, var) in [
        (
            vec![
                ("AUTH_ISSUER", "https://a.example,https://b.example"),
                ("AUTH_JWKS_URL", "https://a.example/keys"),
            ],
            "AUTH_JWKS_URL",
        ),
        (
            vec![("AUTH_ISSUER", "https://a.example,,https://b.example")],
            "AUTH_ISSUER",
        ),
        (
            vec![("AUTH_ISSUER", "https://a.example,https://a.example")],
            "AUTH_ISSUER",
        ),
    ] {
        let (code, stderr) = Sample::start_failure(bin, &env).await;
        assert!(code.is_some_and(|c| c != 0), "{env:?} started");
        assert!(
            stderr.contains(var),
            "{env:?}: error does not name {var}:\n{stderr}"
        );
    }
}
