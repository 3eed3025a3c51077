//! The gateway's shared secret (`X-Shared-Secret`), compared in constant time.

use aws_lc_rs::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

use crate::credential_error::CredentialError;
use crate::request::RequestHead;

/// The secret the gateway adds to every request it forwards.
///
/// Both sides are hashed before the constant-time comparison, so neither the secret's
/// length nor its prefix leaks through timing (the source document's
/// `hmac.compare_digest` leaks the length).
///
/// [`Auth::gate`](crate::Auth::gate) requires it in `X-Shared-Secret` on every request but
/// the [ungated paths](crate::AuthBuilder::ungated_paths):
///
/// ```
/// use api_auth::{Auth, AuthError, HttpRequestHead, Issuer, KeySource, SharedSecret};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let secret = SharedSecret::new("gw-7c41f0a9e2d35b68")?;
/// assert!(secret.matches(b"gw-7c41f0a9e2d35b68"));
/// assert!(SharedSecret::new(" gw-7c41f0a9e2d35b68").is_err());
///
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .shared_secret(secret)
///     .ungated_paths(["/healthz"])
///     .build()?;
///
/// let forwarded = http::Request::get("/orders")
///     .header("x-shared-secret", "gw-7c41f0a9e2d35b68")
///     .body(())?;
/// assert_eq!(auth.gate(&HttpRequestHead::new(forwarded.headers(), forwarded.uri())), Ok(()));
///
/// let direct = http::Request::get("/orders").body(())?;
/// assert_eq!(
///     auth.gate(&HttpRequestHead::new(direct.headers(), direct.uri())),
///     Err(AuthError::InvalidSharedSecret)
/// );
///
/// let probe = http::Request::get("/healthz").body(())?;
/// assert_eq!(auth.gate(&HttpRequestHead::new(probe.headers(), probe.uri())), Ok(()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SharedSecret {
    digest: [u8; 32],
}

impl SharedSecret {
    /// Wraps the configured secret. An empty one is a configuration error, and so is one with
    /// leading or trailing whitespace, which no header value can carry.
    pub fn new(secret: &str) -> Result<Self, CredentialError> {
        if secret.is_empty() {
            return Err(CredentialError::Empty);
        }
        if secret.trim() != secret {
            return Err(CredentialError::Whitespace);
        }
        let mut d = [0u8; 32];
        d.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
        Ok(Self { digest: d })
    }

    /// Whether `presented` equals the secret.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let candidate = digest(&SHA256, presented);
        self.digest.ct_eq(candidate.as_ref()).into()
    }

    /// Whether `request` carries the secret in its only `X-Shared-Secret` header: whether
    /// it came through the gateway.
    pub(crate) fn is_presented_in(&self, request: &impl RequestHead) -> bool {
        matches!(request.single_header(HEADER), Ok(Some(value)) if self.matches(value))
    }
}

/// The header the gateway sends the secret in.
const HEADER: &str = "x-shared-secret";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_secret() {
        let s = SharedSecret::new("gateway-secret").unwrap();
        assert!(s.matches(b"gateway-secret"));
        assert!(!s.matches(b"gateway-secre"));
        assert!(!s.matches(b"gateway-secret "));
        assert!(!s.matches(b""));
        assert!(SharedSecret::new("").is_err());
        for padded in [" s3cret", "s3cret ", "\ts3cret"] {
            assert_eq!(
                SharedSecret::new(padded).err(),
                Some(CredentialError::Whitespace)
            );
        }
    }
}
