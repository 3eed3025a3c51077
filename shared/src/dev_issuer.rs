//! The development issuer: a signing key generated at start-up, its JWKS and discovery
//! documents, and token minting. Only compiled with the `dev-issuer` feature; to a verifier
//! it is one more issuer, whose keys are a local document ([`DevIssuer::as_issuer`]).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Map, Value, json};

use crate::build_error::BuildError;
use crate::issuer::{Issuer, KeySource};
use crate::token_cache::unix_now;

/// Lifetime of minted tokens when the claims name no `exp`.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Why the development issuer could not start.
#[derive(Debug, thiserror::Error)]
#[error("development issuer: {0}")]
pub struct DevIssuerError(&'static str);

/// The kind of signing key a [`DevIssuer`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevKeyType {
    /// RSA-2048, tokens signed RS256 (what the samples use).
    #[default]
    Rs256,
    /// EC P-256, tokens signed ES256.
    Es256,
    /// Ed25519, tokens signed EdDSA.
    EdDsa,
}

/// A throw-away issuer living inside a process (feature `dev-issuer`): it signs tokens with a
/// key generated at start-up, and publishes that key's JWK set and an OpenID Connect
/// discovery document for a service to serve. For development and tests only.
///
/// ```
/// use api_auth::{Auth, DevIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = DevIssuer::generate("http://127.0.0.1:8080", Some("orders-api".to_owned()))?;
/// let auth = Auth::builder()
///     .issuer(issuer.as_issuer()?)
///     .audience("orders-api")
///     .build()?;
///
/// let token = issuer.mint(serde_json::from_value(serde_json::json!({
///     "sub": "alice",
///     "roles": ["admin"],
/// }))?);
///
/// let claims = auth.verify(&token).await?;
/// assert_eq!(claims.sub(), Some("alice"));
/// assert_eq!(claims.registered().aud, ["orders-api"]);
/// auth.require_role(&claims, "admin")?;
///
/// // What a development server publishes for other services.
/// let discovery = issuer.discovery_document();
/// assert_eq!(discovery["jwks_uri"], "http://127.0.0.1:8080/.well-known/jwks.json");
/// assert_eq!(issuer.jwks()["keys"][0]["alg"], "RS256");
/// # Ok(())
/// # }
/// ```
pub struct DevIssuer {
    issuer: String,
    audience: Option<String>,
    kid: String,
    algorithm: jsonwebtoken::Algorithm,
    signing_key: EncodingKey,
    jwks: Value,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A generated key: its signing half, its public JWK members (without `kid`) and the members
/// of its RFC 7638 thumbprint, in the order that RFC requires.
struct Generated {
    signing_key: EncodingKey,
    public: Value,
    thumbprint_input: String,
}

fn generate_key(kind: DevKeyType) -> Result<Generated, DevIssuerError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    };
    let failed = |_| DevIssuerError("key generation failed");
    match kind {
        DevKeyType::Rs256 => {
            let key = KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let pkcs8 = key
                .as_der()
                .map_err(|_| DevIssuerError("key export failed"))?;
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                STANDARD.encode(pkcs8.as_ref())
            );
            let signing_key = EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|_| DevIssuerError("key import failed"))?;
            let public = key.public_key();
            let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
            Ok(Generated {
                signing_key,
                thumbprint_input: format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
                public: json!({ "kty": "RSA", "alg": "RS256", "n": n, "e": e }),
            })
        }
        DevKeyType::Es256 => {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?;
            let pkcs8 = key
                .to_pkcs8v1()
                .map_err(|_| DevIssuerError("key export failed"))?;
            let signing_key = EncodingKey::from_ec_der(pkcs8.as_ref());
            // An uncompressed SEC1 point: 0x04, then x and y, 32 bytes each.
            let point = key.public_key().as_ref();
            let (x, y) = point
                .get(1..33)
                .zip(point.get(33..65))
                .ok_or(DevIssuerError("unexpected public key encoding"))?;
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            Ok(Generated {
                signing_key,
                thumbprint_input: format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
                public: json!({ "kty": "EC", "alg": "ES256", "crv": "P-256", "x": x, "y": y }),
            })
        }
        DevKeyType::EdDsa => {
            let key = Ed25519KeyPair::generate().map_err(failed)?;
            let pkcs8 = key
                .to_pkcs8()
                .map_err(|_| DevIssuerError("key export failed"))?;
            let signing_key = EncodingKey::from_ed_der(pkcs8.as_ref());
            let x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
            Ok(Generated {
                signing_key,
                thumbprint_input: format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
                public: json!({ "kty": "OKP", "alg": "EdDSA", "crv": "Ed25519", "x": x }),
            })
        }
    }
}

impl DevIssuer {
    /// Generates an RSA-2048 key for the issuer at `issuer` (typically the service's own base
    /// URL). Tokens get `aud: audience` unless their claims set one.
    pub fn generate(issuer: &str, audience: Option<String>) -> Result<Self, DevIssuerError> {
        Self::generate_with(issuer, audience, DevKeyType::Rs256)
    }

    /// [`DevIssuer::generate`] with a key of the given type.
    pub fn generate_with(
        issuer: &str,
        audience: Option<String>,
        kind: DevKeyType,
    ) -> Result<Self, DevIssuerError> {
        let Generated {
            signing_key,
            mut public,
            thumbprint_input,
        } = generate_key(kind)?;
        let kid = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            thumbprint_input.as_bytes(),
        ));
        if let Some(members) = public.as_object_mut() {
            members.insert("use".into(), json!("sig"));
            members.insert("kid".into(), json!(kid));
        }
        let algorithm = match kind {
            DevKeyType::Rs256 => jsonwebtoken::Algorithm::RS256,
            DevKeyType::Es256 => jsonwebtoken::Algorithm::ES256,
            DevKeyType::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        };
        Ok(Self {
            issuer: issuer.to_owned(),
            audience,
            kid,
            algorithm,
            signing_key,
            jwks: json!({ "keys": [public] }),
        })
    }

    /// The issuer URL (`iss` of every minted token).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public JWK set document.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Its public key set as a local key source: verified in process, never fetched.
    pub fn key_source(&self) -> KeySource {
        KeySource::jwks_document(self.jwks.to_string())
    }

    /// This issuer, with [`DevIssuer::key_source`] as its keys, for
    /// [`AuthBuilder::issuer`](crate::AuthBuilder::issuer).
    pub fn as_issuer(&self) -> Result<Issuer, BuildError> {
        Issuer::new(&self.issuer, self.key_source())
    }

    /// The OpenID Connect discovery document.
    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.issuer),
            "token_endpoint": format!("{}/dev/token", self.issuer),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [format!("{:?}", self.algorithm)],
        })
    }

    /// Signs `claims`, filling in `iss`, `iat`, a one-hour `exp` and the audience when absent.
    pub fn mint(&self, mut claims: Map<String, Value>) -> String {
        let now = unix_now();
        claims.entry("iss").or_insert_with(|| json!(self.issuer));
        claims.entry("iat").or_insert_with(|| json!(now));
        claims
            .entry("exp")
            .or_insert_with(|| json!(now + TOKEN_LIFETIME_SECS));
        if let Some(aud) = &self.audience {
            claims.entry("aud").or_insert_with(|| json!(aud));
        }
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        // Encoding a JSON map with our own key cannot fail.
        jsonwebtoken::encode(&header, &claims, &self.signing_key).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_against_the_published_key() {
        for kind in [DevKeyType::Rs256, DevKeyType::Es256, DevKeyType::EdDsa] {
            minted_token_verifies(kind);
        }
    }

    fn minted_token_verifies(kind: DevKeyType) {
        let issuer = DevIssuer::generate_with("http://127.0.0.1:1", None, kind).unwrap();
        let token = issuer.mint(Map::new());
        let set = crate::jwk::parse_jwks(issuer.jwks().to_string().as_bytes(), 1).unwrap();
        let parsed = crate::token::parse(&token, 8192).unwrap();
        let key = match set.select(parsed.kid.as_deref(), parsed.alg) {
            crate::jwk::Selection::Found(k) => k.clone(),
            other => panic!("{other:?}"),
        };
        assert!(
            jsonwebtoken::crypto::verify(
                parsed.signature,
                parsed.signing_input.as_bytes(),
                &key.key,
                parsed.alg.jwt()
            )
            .unwrap()
        );
        let claims = crate::token::decode_claims(parsed.payload).unwrap();
        assert_eq!(
            claims.fields().iss(),
            crate::claim_fields::Claim::Valid("http://127.0.0.1:1")
        );
    }
}
