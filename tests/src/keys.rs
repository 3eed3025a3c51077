//! The suite's keys, generated once per test binary, and the token helpers of `test-keys`
//! (where keys are generated, turned into JWKs and signed with).

use std::sync::OnceLock;

use serde_json::Value;
pub use test_keys::{TestKey, b64, mint, mint_as, mint_with_header, now, sign_raw};

/// The suite's keys: two RSA, one each of P-256, P-384 and Ed25519.
pub struct Keys {
    /// RSA-2048, kid `rsa-1`.
    pub rsa: TestKey,
    /// A second RSA-2048, kid `rsa-2`, unpublished unless a case publishes it.
    pub rsa2: TestKey,
    /// P-256, kid `ec-256`.
    pub ec256: TestKey,
    /// P-384, kid `ec-384`.
    pub ec384: TestKey,
    /// Ed25519, kid `ed-1`.
    pub ed: TestKey,
}

/// The keys, generated on first use. The RSA keys' JWKs carry `"use": "sig"`; no JWK carries
/// `alg` unless a case adds it.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: TestKey::rsa("rsa-1").with_jwk_member("use", "sig"),
        rsa2: TestKey::rsa("rsa-2").with_jwk_member("use", "sig"),
        ec256: TestKey::p256("ec-256"),
        ec384: TestKey::p384("ec-384"),
        ed: TestKey::ed25519("ed-1"),
    })
}

/// The public JWK of a freshly generated P-256 key under `kid` (its private half is dropped).
pub fn fresh_p256_jwk(kid: &str) -> Value {
    TestKey::p256(kid).jwk
}
