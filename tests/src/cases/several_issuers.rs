//! Several issuers (`AUTH_ISSUER` as a comma-separated list): each with its own key set,
//! chosen by the token's `iss` before any key is looked up.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::Case;
use super::support::{
    assert_granted, assert_invalid_token, claims, claims_with, standard_jwks, without,
};
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
async fn each_issuer_verifies_with_its_own_keys(bin: &str) {
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
async fn keys_never_cross_issuers(bin: &str) {
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
async fn unlisted_issuer_refused_without_fetch(bin: &str) {
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
        ("no iss", mint(&k.rsa, &without(claims(&a.issuer()), "iss"))),
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
async fn one_outage_leaves_other_issuers_serving(bin: &str) {
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

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(each_issuer_verifies_with_its_own_keys),
    case!(keys_never_cross_issuers),
    case!(unlisted_issuer_refused_without_fetch),
    case!(one_outage_leaves_other_issuers_serving),
];
