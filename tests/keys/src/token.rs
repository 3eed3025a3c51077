//! Tokens signed with test keys, including the deliberately malformed ones attack cases need.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::TestKey;

/// Base64url without padding, as JOSE uses it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Signs `header.payload` (given as raw JSON text, so malformed JSON is possible) with
/// `key` under `alg`.
pub fn sign_raw(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("signing");
    format!("{input}.{signature}")
}

/// A well-formed token signed by `key` with its own algorithm and kid.
pub fn mint(key: &TestKey, claims: &Value) -> String {
    mint_as(key, key.alg, claims)
}

/// A token signed by `key` under `alg` (for PS256/RS384 variants of an RSA key).
pub fn mint_as(key: &TestKey, alg: Algorithm, claims: &Value) -> String {
    let header = json!({ "alg": format!("{alg:?}"), "kid": key.kid, "typ": "JWT" });
    sign_raw(&header.to_string(), &claims.to_string(), &key.encoding, alg)
}

/// A token with a custom header (as JSON value), signed by `key` under `alg`.
pub fn mint_with_header(
    header: &Value,
    claims: &Value,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), key, alg)
}
