//! PEM public keys as a key source: a token signed by the key verifies, one signed by another
//! key or under another algorithm does not, and a PEM that is not a key of the pinned
//! algorithm's type is a build error.

use api_auth::{Algorithm, Auth, AuthError, BuildError, Issuer, KeySource, TokenError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

const ISSUER: &str = "urn:example:gateway";

/// A fresh Ed25519 key pair.
fn ed25519() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key generation");
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("generated key")
}

/// The key's public half as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 8410).
fn public_pem(key: &Ed25519KeyPair) -> String {
    point_pem(key.public_key().as_ref())
}

/// An Ed25519 point as a PEM `PUBLIC KEY`.
fn point_pem(point: &[u8]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(point);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

/// A compact JWS with header `alg`, signed by `key`.
fn token(key: &Ed25519KeyPair, alg: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
    let claims = json!({ "iss": ISSUER, "sub": "svc", "exp": 4_000_000_000_i64 });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).as_ref());
    format!("{input}.{signature}")
}

#[tokio::test]
async fn a_pem_key_verifies_its_own_tokens_only() {
    let key = ed25519();
    let auth = Auth::builder()
        .issuer(
            Issuer::new(ISSUER, KeySource::pem(Algorithm::EdDSA, public_pem(&key)))
                .expect("issuer"),
        )
        .build()
        .expect("verifier");

    let claims = auth.verify(&token(&key, "EdDSA")).await.expect("own token");
    assert_eq!(claims.sub(), Some("svc"));
    assert!(
        auth.verify(&token(&key, "Ed25519")).await.is_ok(),
        "RFC 9864 name"
    );

    let other = auth.verify(&token(&ed25519(), "EdDSA")).await.unwrap_err();
    assert_eq!(other, AuthError::InvalidToken(TokenError::BadSignature));
    let wrong_alg = auth.verify(&token(&key, "ES256")).await.unwrap_err();
    assert!(
        matches!(wrong_alg, AuthError::InvalidToken(_)),
        "{wrong_alg:?}"
    );
}

#[test]
fn a_pem_of_another_key_type_is_a_build_error() {
    let pem = public_pem(&ed25519());
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let err = Auth::builder()
            .issuer(Issuer::new(ISSUER, KeySource::pem(alg, pem.clone())).expect("issuer"))
            .build()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::Pem { index: 0, .. }),
            "{alg}: {err}"
        );
    }
    let err = Auth::builder()
        .issuer(Issuer::new(ISSUER, KeySource::pem(Algorithm::EdDSA, "not a key")).expect("issuer"))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Pem { .. }), "{err}");
}

#[test]
fn a_small_order_or_non_canonical_ed25519_pem_is_a_build_error() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    // y = p + 1 (p = 2^255 - 19): a non-canonical encoding of the identity.
    let mut non_canonical = [0xffu8; 32];
    non_canonical[0] = 0xee;
    non_canonical[31] = 0x7f;
    for point in [identity, [0u8; 32], non_canonical] {
        let pem = point_pem(&point);
        let err = Auth::builder()
            .issuer(Issuer::new(ISSUER, KeySource::pem(Algorithm::EdDSA, pem)).expect("issuer"))
            .build()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::Pem { index: 0, .. }),
            "{point:?}: {err}"
        );
    }
}
