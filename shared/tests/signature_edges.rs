//! Signatures that must never verify, through the crate's own verification path
//! (`Auth::verify`: key selection, then `jsonwebtoken` on the aws-lc backend).
//!
//! * ECDSA (FIPS 186-5 §6.4.2 step 1, RFC 7518 §3.4): a signature whose `r` or `s` is 0 or
//!   at least the group order n, the all-zero signature among them, on P-256 and P-384.
//! * EdDSA (RFC 8032 §5.1.7): `S` not below the group order L (a malleated signature), and
//!   `R` = identity, `S` = 0 under a key of small order, which a key set must never hold.

use api_auth::{Auth, AuthError, BuildError, JwksError, KeySource, TokenError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The order n of the P-256 group (FIPS 186-5 / SP 800-186 §3.2.1.3), big-endian.
const P256_ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// The order n of the P-384 group (SP 800-186 §3.2.1.4), big-endian.
const P384_ORDER: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
                          581a0db248b0a77aecec196accc52973";
/// The order L of the Ed25519 base point (RFC 8032 §5.1), little-endian as `S` is encoded.
const ED25519_ORDER_LE: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/// The eight Ed25519 points of small order, canonically encoded, as JWK `x` values.
const SMALL_ORDER_X: [&str; 8] = [
    "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "7P_______________________________________38",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA",
    "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU",
    "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_IU",
    "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o",
    "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA_o",
];

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A verifier trusting exactly the keys of `jwks`, without issuer checks.
fn verifier(jwks: Value) -> Result<Auth, BuildError> {
    Auth::builder()
        .keys_without_issuer(KeySource::jwks_document(jwks.to_string()))
        .build()
}

/// `header.payload` for these claims under `alg` and `kid`.
fn signing_input(alg: &str, kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": alg, "kid": kid, "typ": "JWT" });
    format!("{}.{}", b64(header.to_string()), b64(claims.to_string()))
}

fn claims() -> Value {
    json!({ "sub": "mallory", "roles": ["admin"], "exp": 4_000_000_000_i64 })
}

struct EcCase {
    alg: &'static str,
    kid: &'static str,
    signing: &'static EcdsaSigningAlgorithm,
    crv: &'static str,
    order: &'static str,
}

const EC_CASES: [EcCase; 2] = [
    EcCase {
        alg: "ES256",
        kid: "p256",
        signing: &ECDSA_P256_SHA256_FIXED_SIGNING,
        crv: "P-256",
        order: P256_ORDER,
    },
    EcCase {
        alg: "ES384",
        kid: "p384",
        signing: &ECDSA_P384_SHA384_FIXED_SIGNING,
        crv: "P-384",
        order: P384_ORDER,
    },
];

#[tokio::test]
async fn ecdsa_signatures_with_r_or_s_out_of_range_never_verify() {
    for case in EC_CASES {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(case.signing, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(case.signing, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref();
        let size = (point.len() - 1) / 2;
        let auth = verifier(json!({ "keys": [{
            "kty": "EC", "crv": case.crv, "kid": case.kid,
            "x": b64(&point[1..=size]), "y": b64(&point[1 + size..]),
        }]}))
        .unwrap();
        let input = signing_input(case.alg, case.kid, &claims());
        let genuine = key.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec();
        let token = |signature: &[u8]| format!("{input}.{}", b64(signature));
        // The control: the genuine signature verifies on this path.
        assert!(auth.verify(&token(&genuine)).await.is_ok(), "{}", case.alg);

        let (r, s) = genuine.split_at(size);
        let zero = vec![0u8; size];
        let order = hex(case.order);
        let all_ones = vec![0xFFu8; size];
        let forged = [
            ("all zero", [zero.as_slice(), zero.as_slice()].concat()),
            ("r = 0", [zero.as_slice(), s].concat()),
            ("s = 0", [r, zero.as_slice()].concat()),
            ("r = n", [order.as_slice(), s].concat()),
            ("s = n", [r, order.as_slice()].concat()),
            ("r = 2^k - 1 > n", [all_ones.as_slice(), s].concat()),
            ("s = 2^k - 1 > n", [r, all_ones.as_slice()].concat()),
            ("r = s = n", [order.as_slice(), order.as_slice()].concat()),
        ];
        for (what, signature) in forged {
            assert_eq!(signature.len(), 2 * size);
            assert_eq!(
                auth.verify(&token(&signature)).await.unwrap_err(),
                AuthError::InvalidToken(TokenError::BadSignature),
                "{}: {what}",
                case.alg
            );
        }
    }
}

#[tokio::test]
async fn an_ed25519_signature_with_s_not_below_the_order_never_verifies() {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let auth = verifier(json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(key.public_key().as_ref()),
    }]}))
    .unwrap();
    let input = signing_input("EdDSA", "ed", &claims());
    let genuine = key.sign(input.as_bytes()).as_ref().to_vec();
    assert!(
        auth.verify(&format!("{input}.{}", b64(&genuine)))
            .await
            .is_ok()
    );

    // S + L encodes the same scalar modulo L; it still fits in 253 bits.
    let order = hex(ED25519_ORDER_LE);
    let mut malleated = genuine.clone();
    let mut carry = 0u16;
    for (byte, add) in malleated[32..].iter_mut().zip(&order) {
        let sum = u16::from(*byte) + u16::from(*add) + carry;
        *byte = (sum & 0xFF) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    let mut s_is_order = genuine.clone();
    s_is_order[32..].copy_from_slice(&order);
    for (what, signature) in [("S + L", malleated), ("S = L", s_is_order)] {
        assert_eq!(
            auth.verify(&format!("{input}.{}", b64(&signature)))
                .await
                .unwrap_err(),
            AuthError::InvalidToken(TokenError::BadSignature),
            "{what}"
        );
    }
}

/// `R` = identity, `S` = 0: verifies under a small-order key `A` for every message whose
/// hash is a multiple of A's order.
fn forged_signature() -> [u8; 64] {
    let mut signature = [0u8; 64];
    signature[0] = 1;
    signature
}

#[tokio::test]
async fn tokens_forged_for_a_small_order_key_never_verify() {
    let good = Ed25519KeyPair::generate().unwrap();
    for x in SMALL_ORDER_X {
        let auth = verifier(json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "kid": "small", "x": x },
            { "kty": "OKP", "crv": "Ed25519", "kid": "good", "x": b64(good.public_key().as_ref()) },
        ]}))
        .unwrap();
        let backend = UnparsedPublicKey::new(&ED25519, URL_SAFE_NO_PAD.decode(x).unwrap());
        let mut tried = 0;
        for jti in 0..1024 {
            let mut claims = claims();
            claims["jti"] = json!(jti);
            let input = signing_input("EdDSA", "small", &claims);
            // Only messages the backend alone would accept: real forgeries.
            if backend
                .verify(input.as_bytes(), &forged_signature())
                .is_err()
            {
                continue;
            }
            let token = format!("{input}.{}", b64(forged_signature()));
            assert!(
                matches!(auth.verify(&token).await, Err(AuthError::InvalidToken(_))),
                "{x}: forged token accepted"
            );
            tried += 1;
            if tried == 16 {
                break;
            }
        }
        assert_eq!(tried, 16, "{x}: too few forgeries found");
    }
}

#[test]
fn a_set_of_small_order_keys_only_is_no_key_set() {
    let keys: Vec<Value> = SMALL_ORDER_X
        .iter()
        .enumerate()
        .map(|(i, x)| json!({ "kty": "OKP", "crv": "Ed25519", "kid": format!("k{i}"), "x": x }))
        .collect();
    let error = verifier(json!({ "keys": keys })).unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::KeySet {
                source: JwksError::NoUsableKey,
                ..
            }
        ),
        "{error}"
    );
}
