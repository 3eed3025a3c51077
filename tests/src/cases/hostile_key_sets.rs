//! Key sets that would let a forger through, crash or wedge the key store, flood the logs or
//! leak their own content: unusable keys are skipped and the rest of the set serves.
//!
//! An Ed25519 public key of small order (a point of the eight-element torsion subgroup)
//! accepts the signature `R` = identity, `S` = 0 for every message whose hash is a multiple
//! of the point's order: with the identity, for every message. Such a key must never be used,
//! in any encoding (RFC 8032 §5.1.3, §5.1.7; "Taming the many EdDSAs", ed25519-speccheck).

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::Case;
use super::support::{
    FAST_REFETCH, assert_granted, assert_invalid_token, claims, claims_with, remote_cached,
    remote_with, sample_on_jwks_url_with, until,
};
use crate::idp::{Idp, jwks_of};
use crate::keys::{b64, keys, mint, mint_with_header};
use crate::sample::Sample;

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

/// Every small-order Ed25519 point as a JWK `x`: the eight torsion points canonically
/// encoded, then the non-canonical encodings of the same points (`y` >= p, or the sign bit
/// set where `x` = 0). Each label is the kid the key is published under.
const SMALL_ORDER_X: [(&str, &str); 14] = [
    ("identity", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ("order-2", "7P_______________________________________38"),
    ("order-4", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ("order-4-neg", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA"),
    ("order-8-a", "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU"),
    (
        "order-8-a-neg",
        "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_IU",
    ),
    ("order-8-b", "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o"),
    (
        "order-8-b-neg",
        "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA_o",
    ),
    (
        "identity-x-sign",
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA",
    ),
    (
        "order-2-x-sign",
        "7P________________________________________8",
    ),
    (
        "order-4-y-over-p",
        "7f_______________________________________38",
    ),
    (
        "order-4-neg-y-over-p",
        "7f________________________________________8",
    ),
    (
        "identity-y-over-p",
        "7v_______________________________________38",
    ),
    (
        "identity-y-over-p-x-sign",
        "7v________________________________________8",
    ),
];

/// Forgery attempts per small-order key.
const TRIES: usize = 16;

/// The forged signature: `R` = the identity's encoding, `S` = 0.
fn forged_signature() -> [u8; 64] {
    let mut signature = [0u8; 64];
    signature[0] = 1;
    signature
}

/// The public JWK of a small-order point.
fn small_order_jwk(kid: &str, x: &str) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x })
}

/// [`TRIES`] admin tokens under `kid`, each with its own `jti`, signed with the forged
/// signature. Tokens that the bare backend verifies against `x` are preferred, so that every
/// try is a forgery that works unless the key is refused; where none does (the non-canonical
/// encodings, which the backend cannot decode), the first `jti`s are taken.
fn forged_admin_tokens(kid: &str, x: &str, issuer: &str) -> Vec<String> {
    let point = URL_SAFE_NO_PAD
        .decode(x)
        .expect("the test vector is base64url");
    let backend = UnparsedPublicKey::new(&ED25519, point);
    let signature = forged_signature();
    let header = json!({ "alg": "EdDSA", "kid": kid, "typ": "JWT" });
    let token = |jti: usize| {
        let payload = claims_with(
            issuer,
            json!({ "sub": "mallory", "roles": ["admin"], "jti": format!("forged-{jti}") }),
        );
        let input = format!("{}.{}", b64(header.to_string()), b64(payload.to_string()));
        let verifies = backend.verify(input.as_bytes(), &signature).is_ok();
        (format!("{input}.{}", b64(signature)), verifies)
    };
    let mut forgeries = Vec::with_capacity(TRIES);
    for jti in 0..64 * TRIES {
        let (candidate, verifies) = token(jti);
        if verifies {
            forgeries.push(candidate);
            if forgeries.len() == TRIES {
                return forgeries;
            }
        }
    }
    forgeries.extend((0..).map(|jti| token(jti).0).take(TRIES - forgeries.len()));
    forgeries
}

/// A sample trusting `idp`'s key set URL directly, with a short refetch cooldown.
async fn sample_on(bin: &str, idp: &Idp) -> Sample {
    let fast = [
        ("AUTH_JWKS_COOLDOWN_SECS", "1"),
        ("AUTH_JWKS_MIN_TTL_SECS", "10"),
    ];
    sample_on_jwks_url_with(bin, idp, &fast).await
}

/// Waits until the sample's logs contain `needle` at least `count` times (the lines of one
/// fetch are written before its outcome, so this orders the check after that fetch).
async fn wait_logged(sample: &Sample, needle: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = sample.logs();
        if logs.matches(needle).count() >= count {
            return logs;
        }
        assert!(
            Instant::now() < deadline,
            "never logged {needle:?} {count} times; logs (last 2,000 bytes):\n{}",
            tail(&logs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The end of a log, for an assertion message.
fn tail(logs: &str) -> &str {
    let start = logs.len().saturating_sub(2000);
    let start = (start..logs.len())
        .find(|i| logs.is_char_boundary(*i))
        .unwrap_or(logs.len());
    &logs[start..]
}

/// Keys that must not be used are skipped; the rest of the set serves.
async fn weak_enc_symmetric_and_duplicate_keys_are_skipped(bin: &str) {
    let k = keys();
    let mut weak = k.rsa2.jwk.clone();
    weak["kid"] = json!("weak");
    weak["n"] = json!(b64([0xC5u8; 128]));
    let mut enc = k.rsa2.jwk.clone();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let mut duplicate = k.rsa2.jwk.clone();
    duplicate["kid"] = json!("rsa-1");
    let set = json!({ "keys": [
        weak, enc,
        { "kty": "EC", "crv": "P-256", "kid": "off-curve", "x": b64([1u8; 32]), "y": b64([2u8; 32]) },
        { "kty": "oct", "kid": "hmac", "k": b64(b"symmetric-secret") },
        { "kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB" },
        "not a key",
        k.rsa.jwk, duplicate,
    ]});
    let r = remote_with(bin, set, &[]).await;
    let iss = r.idp.issuer();
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(&k.rsa, &claims(&iss)))
            .await,
        "good key",
    );
    let with_kid = |kid: &str, key: &EncodingKey| {
        mint_with_header(
            &json!({ "alg": "RS256", "kid": kid }),
            &claims(&iss),
            key,
            Algorithm::RS256,
        )
    };
    for kid in ["weak", "enc", "rsa-1"] {
        assert_invalid_token(
            &r.sample
                .get_bearer("/protected", &with_kid(kid, &k.rsa2.encoding))
                .await,
            kid,
        );
    }
    let hmac = mint_with_header(
        &json!({"alg":"HS256","kid":"hmac"}),
        &claims(&iss),
        &EncodingKey::from_secret(b"symmetric-secret"),
        Algorithm::HS256,
    );
    assert_invalid_token(
        &r.sample.get_bearer("/protected", &hmac).await,
        "oct key from the set",
    );
}

/// Unusable keys beside good ones: the good keys serve, the bad kids are refused, `/healthz`
/// stays sane, and a later rotation is still picked up (the store is not wedged).
async fn unusable_keys_are_skipped(bin: &str) {
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

/// For each small-order Ed25519 key, a set holding it (under its own kid) beside a good key:
/// the good key serves, and forged admin tokens under the small-order kid are `401`, never
/// `200`, on every try.
async fn small_order_ed25519_keys_never_verify(bin: &str) {
    let good = &keys().ed;
    for (kid, x) in SMALL_ORDER_X {
        let idp = Idp::start(jwks_of(&[&small_order_jwk(kid, x), &good.jwk])).await;
        let iss = idp.issuer();
        let sample = sample_on(bin, &idp).await;
        assert_granted(
            &sample
                .get_bearer("/protected", &mint(good, &claims(&iss)))
                .await,
            &format!("{kid}: the good key beside it"),
        );
        for (attempt, token) in forged_admin_tokens(kid, x, &iss).iter().enumerate() {
            let resp = sample.get_bearer("/admin", token).await;
            assert_ne!(
                resp.status, 200,
                "{kid}: forged admin token accepted on try {attempt}: {}",
                resp.text
            );
            assert_invalid_token(&resp, &format!("{kid}, try {attempt}"));
        }
    }
}

/// A set holding only small-order Ed25519 keys holds no usable key: token routes answer
/// `503` (as for any unusable key set), forged tokens included.
async fn only_small_order_ed25519_keys_is_no_key_set(bin: &str) {
    let set: Vec<Value> = SMALL_ORDER_X
        .iter()
        .map(|(kid, x)| small_order_jwk(kid, x))
        .collect();
    let idp = Idp::start(json!({ "keys": set })).await;
    let iss = idp.issuer();
    let sample = sample_on(bin, &idp).await;
    for (kid, x) in SMALL_ORDER_X {
        let forged = &forged_admin_tokens(kid, x, &iss)[0];
        for path in ["/admin", "/protected"] {
            let resp = sample.get_bearer(path, forged).await;
            assert_eq!(resp.status, 503, "{kid} on {path}: {}", resp.text);
            assert!(resp.header("retry-after").is_some(), "{kid} on {path}");
        }
    }
    let health = sample.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["count"], 0, "{}", health.text);
}

/// Tens of thousands of unusable entries cost a few log lines per fetch, not one per entry,
/// and no log line repeats a kid or other content of the document.
async fn skipped_keys_logged_in_bounded_lines(bin: &str) {
    const JUNK: usize = 60_000;
    const SECRET_KID: &str = "AKIA-kid-from-the-document";
    let k = keys();
    let published = [&k.rsa, &k.rsa2, &k.ec256, &k.ec384];
    let set_of = |count: usize| {
        let mut entries: Vec<Value> = published[..count]
            .iter()
            .map(|key| key.jwk.clone())
            .collect();
        entries.push(json!({ "kty": "oct", "kid": SECRET_KID, "k": "c2VjcmV0" }));
        entries.push(small_order_jwk(SECRET_KID, SMALL_ORDER_X[0].1));
        entries.extend(std::iter::repeat_n(json!({}), JUNK));
        json!({ "keys": entries })
    };
    let idp = Idp::start(set_of(1)).await;
    let iss = idp.issuer();
    let sample = sample_on(bin, &idp).await;
    assert_granted(
        &sample
            .get_bearer("/protected", &mint(&k.rsa, &claims(&iss)))
            .await,
        "first key",
    );
    wait_logged(&sample, "key set loaded", 1).await;
    // Each rotation is one more fetch of the flooded set, triggered by a client's unknown kid.
    for count in 2..=published.len() {
        idp.publish(set_of(count));
        let newest = published[count - 1];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let resp = sample
                .get_bearer("/protected", &mint(newest, &claims(&iss)))
                .await;
            if resp.status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{}: {}", newest.kid, resp.text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        wait_logged(&sample, "key set rotated", count - 1).await;
    }
    let fetches = idp.fetches();
    let logs = sample.logs();
    // Every line but the refusals of this case's own polling requests.
    let lines = logs
        .lines()
        .filter(|line| !line.contains("request refused"))
        .count();
    assert!(
        lines <= 5 * fetches,
        "{lines} log lines for {fetches} fetches of a set with {JUNK} junk entries; last lines:\n{}",
        tail(&logs)
    );
    assert!(
        !logs.contains(SECRET_KID),
        "a kid from the document was logged:\n{}",
        tail(&logs)
    );
}

/// A document that is not a key set is refused in the service's own words: neither
/// `/healthz` `last_error` nor the logs repeat what the document holds.
async fn key_set_content_never_echoed(bin: &str) {
    const SECRET: &str = "AKIA-internal-value";
    let idp = Idp::start(json!({ "keys": SECRET })).await;
    let iss = idp.issuer();
    let sample = sample_on(bin, &idp).await;
    let resp = sample
        .get_bearer("/protected", &mint(&keys().rsa, &claims(&iss)))
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text);
    let health = sample.get("/healthz", &[]).await;
    let error = health.json["keys"]["last_error"].as_str();
    assert!(error.is_some(), "no last_error: {}", health.text);
    assert!(!health.text.contains("AKIA"), "{}", health.text);
    let logs = wait_logged(&sample, "key set refused", 1).await;
    assert!(!logs.contains("AKIA"), "{}", tail(&logs));
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(weak_enc_symmetric_and_duplicate_keys_are_skipped),
    case!(unusable_keys_are_skipped),
    case!(small_order_ed25519_keys_never_verify),
    case!(only_small_order_ed25519_keys_is_no_key_set),
    case!(skipped_keys_logged_in_bounded_lines),
    case!(key_set_content_never_echoed),
];
