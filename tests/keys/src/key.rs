//! Freshly generated signing keys with their public JWKs (RFC 7517, RFC 7518 §6, RFC 8037),
//! using the same backend as `api-auth` (aws-lc-rs).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

use crate::b64;

/// One signing key with its public halves in every form a test needs.
pub struct TestKey {
    /// The key id published in the JWK.
    pub kid: String,
    /// The algorithm tokens are signed with.
    pub alg: Algorithm,
    /// The private key, for `jsonwebtoken`.
    pub encoding: EncodingKey,
    /// The public key, for `jsonwebtoken`, built from the same numbers as the JWK.
    pub decoding: DecodingKey,
    /// The public JWK: `kty`, `crv` where there is one, `kid` and the key's numbers; a
    /// caller adds `alg` or `use` where a case needs them.
    pub jwk: Value,
    /// The private key as PKCS#8 DER (for signing with aws-lc-rs directly).
    pub pkcs8: Vec<u8>,
    /// The public key as DER `SubjectPublicKeyInfo`.
    pub public_der: Vec<u8>,
    /// The public key as a PEM `PUBLIC KEY` (for algorithm-confusion cases).
    pub public_pem: String,
}

/// `der` as PEM with the given label, in 64-character lines.
pub fn pem(label: &str, der: &[u8]) -> String {
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

impl TestKey {
    /// An RSA-2048 key for RS256 (it also signs RS384/512 and PS256/384/512).
    pub fn rsa(kid: &str) -> Self {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pkcs8 = key.as_der().expect("RSA export").as_ref().to_vec();
        let public = key.public_key();
        let spki = public
            .as_der()
            .expect("RSA public export")
            .as_ref()
            .to_vec();
        let n = public.modulus().big_endian_without_leading_zero();
        let e = public.exponent().big_endian_without_leading_zero();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(pem("PRIVATE KEY", &pkcs8).as_bytes())
                .expect("RSA import"),
            decoding: DecodingKey::from_rsa_raw_components(n, e),
            jwk: json!({ "kty": "RSA", "kid": kid, "n": b64(n), "e": b64(e) }),
            public_pem: pem("PUBLIC KEY", &spki),
            public_der: spki,
            pkcs8,
        }
    }

    /// A P-256 key for ES256.
    pub fn p256(kid: &str) -> Self {
        Self::ec(
            kid,
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES256,
            "P-256",
        )
    }

    /// A P-384 key for ES384.
    pub fn p384(kid: &str) -> Self {
        Self::ec(
            kid,
            &ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::ES384,
            "P-384",
        )
    }

    fn ec(kid: &str, signing: &'static EcdsaSigningAlgorithm, alg: Algorithm, crv: &str) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &SystemRandom::new())
            .expect("EC key generation")
            .as_ref()
            .to_vec();
        let key = EcdsaKeyPair::from_pkcs8(signing, &pkcs8).expect("EC import");
        // The uncompressed point: 0x04, then x and y of equal length.
        let point = key.public_key().as_ref();
        let size = (point.len() - 1) / 2;
        let spki = key
            .public_key()
            .as_der()
            .expect("EC public export")
            .as_ref()
            .to_vec();
        Self {
            kid: kid.to_owned(),
            alg,
            encoding: EncodingKey::from_ec_der(&pkcs8),
            decoding: DecodingKey::from_ec_der(point),
            jwk: json!({
                "kty": "EC", "crv": crv, "kid": kid,
                "x": b64(&point[1..=size]), "y": b64(&point[1 + size..]),
            }),
            public_pem: pem("PUBLIC KEY", &spki),
            public_der: spki,
            pkcs8,
        }
    }

    /// An Ed25519 key for EdDSA.
    pub fn ed25519(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("Ed25519 key generation")
            .as_ref()
            .to_vec();
        let key = Ed25519KeyPair::from_pkcs8(&pkcs8).expect("Ed25519 import");
        let x = key.public_key().as_ref();
        let spki = key
            .public_key()
            .as_der()
            .expect("Ed25519 public export")
            .as_ref()
            .to_vec();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(&pkcs8),
            decoding: DecodingKey::from_ed_der(x),
            jwk: json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(x) }),
            public_pem: pem("PUBLIC KEY", &spki),
            public_der: spki,
            pkcs8,
        }
    }

    /// This key with `member` of its JWK set to `value` (`use`, `alg`, ...).
    #[must_use]
    pub fn with_jwk_member(mut self, member: &str, value: &str) -> Self {
        self.jwk[member] = json!(value);
        self
    }
}
