//! DPoP proofs (RFC 9449 §4) signed with real client keys, well formed or deliberately not,
//! and the RFC 7638 thumbprint that binds a token to a key (`cnf.jkt`, RFC 9449 §6.1).
//!
//! Written from the RFCs, independently of the code under test: a proof is a JWS whose
//! header is `{"typ": "dpop+jwt", "alg", "jwk": <public key>}` and whose claims are `jti`,
//! `htm`, `htu`, `iat` and, with an access token, `ath`.

use std::sync::OnceLock;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::keys::{TestKey, b64, now, sign_raw};

/// The clients' own keys, which sign proofs: distinct from every key of the suite's
/// identity provider, as a client's key is from its authorization server's.
pub struct ClientKeys {
    /// P-256, for ES256 proofs.
    pub ec: TestKey,
    /// Ed25519, for EdDSA proofs.
    pub ed: TestKey,
    /// RSA-2048, for RS256 proofs.
    pub rsa: TestKey,
    /// Another P-256 key: the key a token is *not* bound to.
    pub other: TestKey,
}

/// The client keys, generated on first use.
pub fn client_keys() -> &'static ClientKeys {
    static KEYS: OnceLock<ClientKeys> = OnceLock::new();
    KEYS.get_or_init(|| ClientKeys {
        ec: TestKey::p256("client-ec"),
        ed: TestKey::ed25519("client-ed"),
        rsa: TestKey::rsa("client-rsa"),
        other: TestKey::p256("client-other"),
    })
}

/// The JSON text of a string, quoted and escaped.
fn json_string(value: &Value, member: &str) -> String {
    let text = value[member]
        .as_str()
        .unwrap_or_else(|| panic!("JWK member {member} is not a string: {value}"));
    Value::from(text).to_string()
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: SHA-256 over the JSON object
/// of the key type's required members only (§3.2), in lexicographic order, without
/// whitespace (§3.3). Built as text rather than through a JSON map, whose member order
/// depends on serde_json's features.
pub fn thumbprint(jwk: &Value) -> String {
    let member = |name: &str| format!("\"{name}\":{}", json_string(jwk, name));
    let members: Vec<String> = match jwk["kty"].as_str() {
        Some("EC") => ["crv", "kty", "x", "y"].map(member).to_vec(),
        Some("OKP") => ["crv", "kty", "x"].map(member).to_vec(),
        Some("RSA") => ["e", "kty", "n"].map(member).to_vec(),
        other => panic!("no thumbprint for kty {other:?}"),
    };
    let canonical = format!("{{{}}}", members.join(","));
    b64(digest(&SHA256, canonical.as_bytes()))
}

/// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII text.
pub fn access_token_hash(token: &str) -> String {
    b64(digest(&SHA256, token.as_bytes()))
}

/// A fresh random `jti` (RFC 9449 §4.2: enough entropy that a collision is negligible).
pub fn fresh_jti() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    b64(bytes)
}

/// `key`'s public JWK as a proof carries it: without the `kid` the suite's JWKs have.
pub fn public_jwk(key: &TestKey) -> Value {
    let mut jwk = key.jwk.clone();
    if let Some(map) = jwk.as_object_mut() {
        map.remove("kid");
    }
    jwk
}

/// `key`'s JWK with its private member `d` (RFC 7518 §6.2.2.1, RFC 8037 §2): what a client
/// that serialises its whole key pair would put in a proof. EC and Ed25519 keys only.
pub fn private_jwk(key: &TestKey) -> Value {
    let d = match key.jwk["crv"].as_str() {
        Some(crv @ ("P-256" | "P-384")) => {
            let signing = if crv == "P-256" {
                &ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = EcdsaKeyPair::from_pkcs8(signing, &key.pkcs8).expect("EC import");
            let scalar = pair.private_key().as_be_bytes().expect("EC private scalar");
            b64(scalar.as_ref())
        }
        Some("Ed25519") => {
            let pair = Ed25519KeyPair::from_pkcs8(&key.pkcs8).expect("Ed25519 import");
            let seed = pair.seed().expect("Ed25519 seed");
            b64(seed.as_be_bytes().expect("Ed25519 seed bytes").as_ref())
        }
        other => panic!("no private JWK for crv {other:?}"),
    };
    let mut jwk = public_jwk(key);
    jwk["d"] = json!(d);
    jwk
}

/// A DPoP proof being built: its header and claims, and the key that signs it.
#[derive(Clone)]
pub struct Proof<'k> {
    key: &'k TestKey,
    header: Value,
    claims: Value,
}

impl<'k> Proof<'k> {
    /// A valid proof by `key` for `method` on `url` (the `htu`, as the client sees it),
    /// without `ath`: `typ` `dpop+jwt`, the key's own algorithm, its public JWK, a fresh
    /// `jti` and `iat` now.
    pub fn new(key: &'k TestKey, method: &str, url: &str) -> Self {
        Self {
            key,
            header: json!({
                "typ": "dpop+jwt",
                "alg": format!("{:?}", key.alg),
                "jwk": public_jwk(key),
            }),
            claims: json!({
                "jti": fresh_jti(),
                "htm": method,
                "htu": url,
                "iat": now(),
            }),
        }
    }

    /// The proof that goes with `token` (RFC 9449 §7): `ath` is its hash.
    #[must_use]
    pub fn for_token(self, token: &str) -> Self {
        self.claim("ath", json!(access_token_hash(token)))
    }

    /// This proof with header member `name` set to `value`.
    #[must_use]
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header[name] = value;
        self
    }

    /// This proof without header member `name`.
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        if let Some(map) = self.header.as_object_mut() {
            map.remove(name);
        }
        self
    }

    /// This proof with claim `name` set to `value`.
    #[must_use]
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims[name] = value;
        self
    }

    /// This proof without claim `name`.
    #[must_use]
    pub fn without_claim(mut self, name: &str) -> Self {
        if let Some(map) = self.claims.as_object_mut() {
            map.remove(name);
        }
        self
    }

    /// The claims as they stand.
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// The compact JWS, signed by the proof's key with its algorithm.
    pub fn sign(&self) -> String {
        self.signed_by(self.key)
    }

    /// The compact JWS signed by `signer` (with `signer`'s algorithm), the header unchanged:
    /// with another key than the header's `jwk`, a signature that key does not verify.
    pub fn signed_by(&self, signer: &TestKey) -> String {
        sign_raw(
            &self.header.to_string(),
            &self.claims.to_string(),
            &signer.encoding,
            signer.alg,
        )
    }

    /// The compact JWS with header `alg` `HS256`, its HMAC keyed with `secret` (an attacker's
    /// choice, such as the bytes of the public key).
    pub fn hs256(&self, secret: &[u8]) -> String {
        let mut header = self.header.clone();
        header["alg"] = json!("HS256");
        sign_raw(
            &header.to_string(),
            &self.claims.to_string(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
    }

    /// The unsecured JWS (RFC 7515 §A.5): header `alg` `none` and an empty signature.
    pub fn unsigned(&self) -> String {
        let mut header = self.header.clone();
        header["alg"] = json!("none");
        format!(
            "{}.{}.",
            b64(header.to_string()),
            b64(self.claims.to_string())
        )
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    use super::*;

    /// RFC 7638 §3.1's example key and its thumbprint.
    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// Members a key type does not require (`kid`, `alg`, `use`, `d`) do not change it.
    #[test]
    fn thumbprint_ignores_optional_and_private_members() {
        let key = &client_keys().ec;
        let bare = thumbprint(&public_jwk(key));
        assert_eq!(thumbprint(&key.jwk), bare);
        assert_eq!(thumbprint(&private_jwk(key)), bare);
        assert_ne!(thumbprint(&public_jwk(&client_keys().other)), bare);
    }

    /// Every proof the builder signs verifies against the JWK in its own header, with the
    /// claims it was given; the private JWK's `d` is the key's own.
    #[test]
    fn signed_proofs_verify_with_their_header_key() {
        let keys = client_keys();
        for key in [&keys.ec, &keys.ed, &keys.rsa] {
            let proof = Proof::new(key, "GET", "https://api.example.test/protected")
                .for_token("a.b.c")
                .sign();
            let header = decode_header(&proof).expect("header");
            assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
            let jwk: Jwk = serde_json::from_value(public_jwk(key)).expect("JWK");
            let mut validation = Validation::new(key.alg);
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            let data = decode::<Value>(
                &proof,
                &DecodingKey::from_jwk(&jwk).expect("key"),
                &validation,
            )
            .expect("the proof verifies with its jwk");
            assert_eq!(data.claims["htm"], "GET");
            assert_eq!(data.claims["ath"], access_token_hash("a.b.c"));
        }
    }

    /// The private JWK's `d` is the key's own: the Ed25519 seed derives the published `x`.
    #[test]
    fn private_jwk_carries_the_keys_own_secret() {
        use aws_lc_rs::signature::KeyPair;
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let ed = private_jwk(&client_keys().ed);
        let seed = URL_SAFE_NO_PAD
            .decode(ed["d"].as_str().expect("d"))
            .expect("d is base64url");
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed");
        assert_eq!(b64(pair.public_key().as_ref()), ed["x"]);
        let ec = private_jwk(&client_keys().ec);
        let scalar = URL_SAFE_NO_PAD
            .decode(ec["d"].as_str().expect("d"))
            .expect("d is base64url");
        assert_eq!(scalar.len(), 32);
    }
}
