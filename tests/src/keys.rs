//! Real signing keys for the suite, generated once per test binary, and token minting,
//! including the deliberately malformed tokens the attack cases need.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// Base64url without padding, as JOSE uses it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// One signing key with its public JWK.
pub struct TestKey {
    /// The key id published in the JWK.
    pub kid: String,
    /// The algorithm tokens are signed with.
    pub alg: Algorithm,
    /// The private key.
    pub encoding: EncodingKey,
    /// The public JWK (with `kid`, without `alg` unless set by a case).
    pub jwk: Value,
    /// The public key as a PEM `PUBLIC KEY` (for algorithm-confusion cases).
    pub public_pem: String,
}

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

fn rsa_key(kid: &str) -> TestKey {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let pkcs8 = key.as_der().expect("RSA export");
    let public = key.public_key();
    let spki = public.as_der().expect("RSA public export");
    TestKey {
        kid: kid.to_owned(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .expect("RSA import"),
        jwk: json!({
            "kty": "RSA", "kid": kid, "use": "sig",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        }),
        public_pem: pem("PUBLIC KEY", spki.as_ref()),
    }
}

fn ec_key(kid: &str, p384: bool) -> TestKey {
    let (signing, alg, crv, size) = if p384 {
        (
            &ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::ES384,
            "P-384",
            48,
        )
    } else {
        (
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES256,
            "P-256",
            32,
        )
    };
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &aws_lc_rs::rand::SystemRandom::new())
        .expect("EC key generation");
    let key = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).expect("EC import");
    let point = key.public_key().as_ref().to_vec();
    let spki = key.public_key().as_der().expect("EC public export");
    TestKey {
        kid: kid.to_owned(),
        alg,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": crv, "kid": kid,
            "x": b64(&point[1..=size]), "y": b64(&point[1 + size..]),
        }),
        public_pem: pem("PUBLIC KEY", spki.as_ref()),
    }
}

fn ed_key(kid: &str) -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
        .expect("Ed25519 key generation");
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 import");
    let x = key.public_key().as_ref().to_vec();
    TestKey {
        kid: kid.to_owned(),
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&x) }),
        public_pem: String::new(),
    }
}

/// The keys, generated on first use.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa_key("rsa-1"),
        rsa2: rsa_key("rsa-2"),
        ec256: ec_key("ec-256", false),
        ec384: ec_key("ec-384", true),
        ed: ed_key("ed-1"),
    })
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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

/// The public JWK of a freshly generated P-256 key under `kid` (its private half is dropped).
pub fn fresh_p256_jwk(kid: &str) -> Value {
    ec_key(kid, false).jwk
}
