//! Key sets that would let a forger through, flood the logs or leak their own content.
//!
//! An Ed25519 public key of small order (a point of the eight-element torsion subgroup)
//! accepts the signature `R` = identity, `S` = 0 for every message whose hash is a multiple
//! of the point's order: with the identity, for every message. Such a key must never be used,
//! in any encoding (RFC 8032 §5.1.3, §5.1.7; "Taming the many EdDSAs", ed25519-speccheck).

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{assert_granted, assert_invalid_token, claims, claims_with};
use crate::idp::{Idp, jwks_of};
use crate::keys::{b64, keys, mint};
use crate::sample::Sample;

/// Every small-order Ed25519 point as a JWK `x`: the eight torsion points canonically
/// encoded, then the non-canonical encodings of the same points (`y` >= p, or the sign bit
/// set where `x` = 0). Each label is the kid the key is published under.
pub(crate) const SMALL_ORDER_X: [(&str, &str); 14] = [
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
    let issuer = idp.issuer();
    let url = idp.jwks_url();
    Sample::start(
        bin,
        &[
            ("AUTH_JWKS_URL", url.as_str()),
            ("AUTH_ISSUER", issuer.as_str()),
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
            ("AUTH_JWKS_MIN_TTL_SECS", "10"),
        ],
    )
    .await
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

/// For each small-order Ed25519 key, a set holding it (under its own kid) beside a good key:
/// the good key serves, and forged admin tokens under the small-order kid are `401`, never
/// `200`, on every try.
pub async fn small_order_ed25519_keys_never_verify(bin: &str) {
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
pub async fn only_small_order_ed25519_keys_is_no_key_set(bin: &str) {
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
pub async fn skipped_keys_logged_in_bounded_lines(bin: &str) {
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
pub async fn key_set_content_never_echoed(bin: &str) {
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
