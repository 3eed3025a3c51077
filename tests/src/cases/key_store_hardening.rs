//! Key sets and discovery documents that must not crash, stall or stop the key store.

use std::future::Future;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::{assert_granted, assert_invalid_token, claims, remote_cached, standard_jwks};
use crate::idp::{Idp, jwks_of};
use crate::keys::{b64, keys, mint, mint_with_header};
use crate::sample::{Resp, Sample};

/// The shortest cooldown and lifetime floor the contract allows, so that recoveries happen
/// within a case's time.
const FAST_REFETCH: [(&str, &str); 2] = [
    ("AUTH_JWKS_COOLDOWN_SECS", "1"),
    ("AUTH_JWKS_MIN_TTL_SECS", "10"),
];

/// How long a recovery may take: a few cooldowns and backoff steps.
const RECOVERY: Duration = Duration::from_secs(20);

/// Repeats `request` until `done` holds for its answer, or fails with `what` and the last
/// answer after [`RECOVERY`]. The awaited event is the sample's next fetch, which only the
/// sample's own schedule decides, so polling is the only way to observe it.
async fn until<F, Fut>(what: &str, mut request: F, done: impl Fn(&Resp) -> bool) -> Resp
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Resp>,
{
    let deadline = Instant::now() + RECOVERY;
    loop {
        let resp = request().await;
        if done(&resp) {
            return resp;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {} {}",
            resp.status,
            resp.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A copy of `jwk` under `kid` with `member` set to `value`.
fn altered(jwk: &Value, kid: &str, member: &str, value: Value) -> Value {
    let mut key = jwk.clone();
    key["kid"] = json!(kid);
    key[member] = value;
    key
}

/// Keys no verifier may use, each under its own kid (the kids are the case's labels).
fn unusable_keys() -> Vec<Value> {
    let k = keys();
    vec![
        altered(&k.rsa2.jwk, "n-empty", "n", json!("")),
        altered(&k.rsa2.jwk, "n-zero", "n", json!(b64([0u8]))),
        altered(&k.rsa2.jwk, "e-long", "e", json!(b64([1u8, 0, 0, 0, 1]))),
        altered(&k.ec256.jwk, "x-short", "x", json!(b64([7u8; 31]))),
        altered(&k.ec256.jwk, "y-long", "y", json!(b64([7u8; 33]))),
        altered(&k.ec256.jwk, "crv-p384", "crv", json!("P-384")),
        altered(&k.ec256.jwk, "off-curve", "y", json!(b64([1u8; 32]))),
        json!({ "kty": "AKP", "kid": "akp", "alg": "ML-DSA-44", "pub": b64([7u8; 1312]) }),
        json!({ "kty": "OKP", "crv": "Ed448", "kid": "ed448", "x": b64([7u8; 57]) }),
    ]
}

/// Unusable keys beside good ones: the good keys serve, the bad kids are refused, `/healthz`
/// stays sane, and a later rotation is still picked up (the store is not wedged).
pub async fn unusable_keys_are_skipped(bin: &str) {
    let k = keys();
    let mut set = unusable_keys();
    set.extend([k.rsa.jwk.clone(), k.ec256.jwk.clone(), k.ed.jwk.clone()]);
    let r = remote_cached(bin, json!({ "keys": set }), "max-age=1", &FAST_REFETCH).await;
    let iss = r.idp.issuer();
    for (key, what) in [(&k.rsa, "RSA"), (&k.ec256, "P-256"), (&k.ed, "Ed25519")] {
        assert_granted(
            &r.sample
                .get_bearer("/protected", &mint(key, &claims(&iss)))
                .await,
            what,
        );
    }
    for bad in unusable_keys() {
        let kid = bad["kid"].as_str().unwrap_or_default();
        let (header_alg, alg, key) = match bad["kty"].as_str() {
            Some("EC") => ("ES256", Algorithm::ES256, &k.ec256.encoding),
            Some("RSA") => ("RS256", Algorithm::RS256, &k.rsa2.encoding),
            _ => ("EdDSA", Algorithm::EdDSA, &k.ed.encoding),
        };
        let token = mint_with_header(
            &json!({ "alg": header_alg, "kid": kid }),
            &claims(&iss),
            key,
            alg,
        );
        assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, kid);
    }
    let health = r.sample.get("/healthz", &[]).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json["keys"]["count"], 3, "{}", health.text);
    assert!(
        health.json["keys"]["last_error"].is_null(),
        "{}",
        health.text
    );
    // The provider rotates to a new key, still beside the unusable ones.
    let mut rotated = unusable_keys();
    rotated.push(k.rsa2.jwk.clone());
    r.idp.publish(json!({ "keys": rotated }));
    let new = mint(&k.rsa2, &claims(&iss));
    until(
        "the rotated key",
        || r.sample.get_bearer("/protected", &new),
        |resp| resp.status == 200,
    )
    .await;
    let old = mint(&k.rsa, &claims(&iss));
    let resp = until(
        "the retired key",
        || r.sample.get_bearer("/protected", &old),
        |resp| resp.status == 401,
    )
    .await;
    assert_invalid_token(&resp, "retired key");
}

/// A sample trusting `idp` through discovery, with short cooldown and lifetime floor.
async fn sample_by_discovery(bin: &str, idp: &Idp) -> Sample {
    let issuer = idp.issuer();
    let mut env = vec![("AUTH_ISSUER", issuer.as_str())];
    env.extend_from_slice(&FAST_REFETCH);
    Sample::start(bin, &env).await
}

/// A discovery document naming another issuer is a failed fetch: no keys, `503`, and
/// `/healthz` says why; once the provider fixes it, a later attempt loads the keys.
pub async fn discovery_issuer_mismatch(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.set_discovery_issuer(Some("https://impostor.example"));
    let s = sample_by_discovery(bin, &idp).await;
    let iss = idp.issuer();
    let token = mint(&keys().rsa, &claims(&iss));
    let resp = s.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 503, "{}", resp.text);
    let health = s.get("/healthz", &[]).await;
    let error = health.json["keys"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("issuer"), "{}", health.text);
    assert_eq!(health.json["keys"]["count"], 0, "{}", health.text);
    assert_eq!(
        idp.fetches(),
        0,
        "keys were fetched from a refused document"
    );
    idp.set_discovery_issuer(None);
    until(
        "after the provider fixed its document",
        || s.get_bearer("/protected", &token),
        |resp| resp.status == 200,
    )
    .await;
    let health = s.get("/healthz", &[]).await;
    assert!(
        health.json["keys"]["last_error"].is_null(),
        "{}",
        health.text
    );
}

/// The provider moves its key set (discovery names the new URL, the old one answers `404`)
/// and rotates: the sample follows after failing, without a restart.
pub async fn discovery_retried_and_moved_keys(bin: &str) {
    let k = keys();
    let idp = Idp::start(jwks_of(&[&k.rsa.jwk])).await;
    idp.set_cache_control("max-age=1");
    let s = sample_by_discovery(bin, &idp).await;
    let iss = idp.issuer();
    let old = mint(&k.rsa, &claims(&iss));
    assert_granted(&s.get_bearer("/protected", &old).await, "before the move");
    idp.move_keys("/v2/keys");
    idp.publish(jwks_of(&[&k.rsa2.jwk]));
    let new = mint(&k.rsa2, &claims(&iss));
    until(
        "the key published at the new location",
        || s.get_bearer("/protected", &new),
        |resp| resp.status == 200,
    )
    .await;
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["count"], 1, "{}", health.text);
}

/// Up to three redirects to the key set are followed; a fourth is not.
pub async fn key_set_redirects(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    let iss = idp.issuer();
    let token = mint(&keys().ec384, &claims(&iss));
    for hops in 1..=3 {
        let url = idp.redirecting_jwks_url(hops);
        let s = Sample::start(
            bin,
            &[
                ("AUTH_JWKS_URL", url.as_str()),
                ("AUTH_ISSUER", iss.as_str()),
            ],
        )
        .await;
        assert_granted(
            &s.get_bearer("/protected", &token).await,
            &format!("{hops} redirects"),
        );
    }
    let url = idp.redirecting_jwks_url(4);
    let s = Sample::start(
        bin,
        &[
            ("AUTH_JWKS_URL", url.as_str()),
            ("AUTH_ISSUER", iss.as_str()),
        ],
    )
    .await;
    let resp = s.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 503, "4 redirects: {}", resp.text);
    let health = s.get("/healthz", &[]).await;
    let error = health.json["keys"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("redirect"), "{}", health.text);
}
