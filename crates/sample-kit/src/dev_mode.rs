//! Development mode: the embedded issuer that mints tokens for anyone, its demo API key, and
//! minting from a `POST /dev/token` body. To the library, the issuer is one more issuer with
//! a local key set; everything that makes it a development mode lives here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use api_auth::{ApiKeys, AuthBuilder, AuthError, DevIssuer};

use crate::limits;

/// The embedded issuer of a process in development mode, and the demo API key it accepts.
#[derive(Debug)]
pub struct DevMode {
    issuer: DevIssuer,
    demo_api_key: Option<String>,
}

/// Why development mode could not start.
#[derive(Debug, thiserror::Error)]
#[error("development issuer: {0}")]
pub struct DevModeError(String);

impl DevMode {
    /// Makes a development issuer, with a key generated now and `base_url` as its issuer, the
    /// only issuer of `builder`; with `demo_key`, a random demo API key (user `demo`) is the
    /// only API key.
    pub fn install(
        builder: AuthBuilder,
        base_url: &str,
        audience: Option<String>,
        demo_key: bool,
    ) -> Result<(AuthBuilder, Self), DevModeError> {
        let failed = |e: &dyn std::fmt::Display| DevModeError(e.to_string());
        let issuer = DevIssuer::generate(base_url, audience).map_err(|e| failed(&e))?;
        let mut builder = builder.issuer(issuer.as_issuer().map_err(|e| failed(&e))?);
        let demo_api_key = if demo_key {
            let key = random_api_key().map_err(|e| failed(&e))?;
            builder = builder.api_keys(ApiKeys::single("demo", &key));
            Some(key)
        } else {
            None
        };
        Ok((
            builder,
            Self {
                issuer,
                demo_api_key,
            },
        ))
    }

    /// The embedded issuer.
    pub fn issuer(&self) -> &DevIssuer {
        &self.issuer
    }

    /// The demo API key, when `API_KEYS` is unset.
    pub fn demo_api_key(&self) -> Option<&str> {
        self.demo_api_key.as_deref()
    }

    /// A token minted from a `POST /dev/token` body (a JSON object of claims; empty means
    /// none), as the `{"token": ...}` answer, or the refusal of a body that is not one.
    pub fn mint_from_body(&self, body: &[u8]) -> Result<Value, AuthError> {
        if body.len() > limits::MAX_BODY_BYTES {
            return Err(AuthError::MalformedRequest("body too large"));
        }
        let claims: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            serde_json::from_slice(body)
                .map_err(|_| AuthError::MalformedRequest("body must be a JSON object of claims"))?
        };
        for time in ["exp", "nbf", "iat"] {
            if claims.get(time).is_some_and(|v| v.as_i64().is_none()) {
                return Err(AuthError::MalformedRequest(
                    "exp, nbf and iat must be integers",
                ));
            }
        }
        Ok(json!({ "token": self.issuer.mint(claims) }))
    }
}

/// A demo API key: `dev_` and 24 random bytes.
fn random_api_key() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut random = [0u8; 24];
    aws_lc_rs::rand::fill(&mut random)?;
    Ok(format!("dev_{}", URL_SAFE_NO_PAD.encode(random)))
}

#[cfg(test)]
mod tests {
    use api_auth::Auth;

    use super::*;

    fn dev_mode(demo_key: bool) -> (api_auth::Auth, DevMode) {
        let (builder, dev) =
            DevMode::install(Auth::builder(), "http://127.0.0.1:1", None, demo_key).unwrap();
        (builder.build().unwrap(), dev)
    }

    #[test]
    fn bad_bodies_are_refused() {
        let (_, dev) = dev_mode(false);
        let too_large = vec![b' '; limits::MAX_BODY_BYTES + 1];
        for body in [&b"[]"[..], b"{", b"{\"exp\":\"soon\"}", &too_large] {
            assert!(dev.mint_from_body(body).is_err());
        }
        assert!(dev.mint_from_body(b"").is_ok());
    }

    #[tokio::test]
    async fn minted_tokens_and_the_demo_key_are_accepted() {
        let (auth, dev) = dev_mode(true);
        let minted = dev.mint_from_body(br#"{"sub":"bob"}"#).unwrap();
        let claims = auth
            .verify(minted["token"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(claims.sub(), Some("bob"));
        let key = dev.demo_api_key().unwrap();
        assert!(key.starts_with("dev_") && key.len() > 30);
        assert_ne!(dev_mode(true).1.demo_api_key(), Some(key));
    }
}
