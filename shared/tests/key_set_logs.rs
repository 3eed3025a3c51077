//! What parsing a key set logs: one summary line per document however many entries it
//! skips, counted by fixed reasons, and nothing of the document itself (no kid, no value);
//! and errors that describe a refused document without repeating it.
//!
//! The logs are captured by a process-wide subscriber (`common/log_capture.rs` says why).

#[path = "common/log_capture.rs"]
mod log_capture;

use std::sync::Mutex;

use api_auth::{JwksError, parse_jwks};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use log_capture::{capture, lock};
use serde_json::{Value, json};

/// A kid that must never reach the logs.
const SECRET_KID: &str = "AKIA-kid-from-the-document";

/// Runs `f` alone and returns what it logged.
fn logged_by<T>(f: impl FnOnce() -> T) -> (T, String) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = lock(&ONE_AT_A_TIME);
    let buffer = capture("trace");
    lock(buffer).clear();
    let result = f();
    let text = String::from_utf8(std::mem::take(&mut *lock(buffer))).expect("UTF-8 logs");
    (result, text)
}

fn ed25519_jwk(kid: &str) -> Value {
    let key = Ed25519KeyPair::generate().expect("key generation");
    json!({
        "kty": "OKP", "crv": "Ed25519", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(key.public_key().as_ref()),
    })
}

#[test]
fn a_flood_of_unusable_entries_is_logged_in_one_summary_line() {
    let mut keys = vec![ed25519_jwk(SECRET_KID), ed25519_jwk(SECRET_KID)];
    keys.push(json!({
        "kty": "OKP", "crv": "Ed25519", "kid": SECRET_KID,
        "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    }));
    keys.push(json!({ "kty": "oct", "kid": SECRET_KID, "k": "c2VjcmV0" }));
    keys.extend(std::iter::repeat_n(json!({}), 100_000));
    let document = serde_json::to_vec(&json!({ "keys": keys })).expect("JSON");
    let (kept, logs) = logged_by(|| parse_jwks(&document, 100).map(|set| set.len()));
    assert_eq!(kept, Ok(1));
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.contains("skipped=100003"), "{logs}");
    for count in [
        "100000 not a JWK object",
        "1 Ed25519 point of small order",
        "1 unsupported key type",
        "1 duplicate kid",
    ] {
        assert!(logs.contains(count), "{count}: {logs}");
    }
    assert!(!logs.contains("AKIA"), "{logs}");
}

#[test]
fn keys_beyond_the_limit_are_counted_not_logged_one_by_one() {
    let many: Vec<Value> = (0..1000).map(|i| ed25519_jwk(&format!("k{i}"))).collect();
    let document = serde_json::to_vec(&json!({ "keys": many })).expect("JSON");
    let (kept, logs) = logged_by(|| parse_jwks(&document, 10).map(|set| set.len()));
    assert_eq!(kept, Ok(10));
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.contains("990 beyond the limit"), "{logs}");
}

#[test]
fn a_clean_set_logs_nothing() {
    let document = serde_json::to_vec(&json!({ "keys": [ed25519_jwk("a")] })).expect("JSON");
    let (kept, logs) = logged_by(|| parse_jwks(&document, 10).map(|set| set.len()));
    assert_eq!(kept, Ok(1));
    assert_eq!(logs, "");
}

#[test]
fn errors_never_repeat_the_document() {
    for (document, expected) in [
        (
            &br#"{"keys":"AKIA-internal-value"}"#[..],
            JwksError::NotAKeySet,
        ),
        (
            br#"{"keys":[{"kty":"AKIA-internal-value","kid":"AKIA-kid"}]}"#,
            JwksError::NoUsableKey,
        ),
        (br#"{"AKIA-internal-value":1}"#, JwksError::NotAKeySet),
        (br#"AKIA-internal-value"#, JwksError::NotJson),
        (br#"{"keys":[], "AKIA-internal-value"#, JwksError::NotJson),
    ] {
        let (result, logs) = logged_by(|| parse_jwks(document, 100));
        let error = result.expect_err("a refused document");
        assert_eq!(error, expected);
        for text in [error.to_string(), format!("{error:?}"), logs] {
            assert!(!text.contains("AKIA"), "{text}");
        }
    }
}
