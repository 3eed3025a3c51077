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
/// let secret = SharedSecret::new("gw-7c41f0a9e2d35b68a1f0c39e5d7b2468")?;
/// assert!(secret.matches(b"gw-7c41f0a9e2d35b68a1f0c39e5d7b2468"));
/// assert!(SharedSecret::new(" gw-7c41f0a9e2d35b68a1f0c39e5d7b2468").is_err());
/// assert!(SharedSecret::new("s3cret").is_err()); // under 32 bytes
///
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .shared_secret(secret)
///     .ungated_paths(["/healthz"])
///     .build()?;
///
/// let forwarded = http::Request::get("/orders")
///     .header("x-shared-secret", "gw-7c41f0a9e2d35b68a1f0c39e5d7b2468")
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
    /// The SHA-256 of the current secret.
    current: [u8; 32],
    /// The SHA-256 of the previous one, during a rotation.
    previous: Option<[u8; 32]>,
}

impl SharedSecret {
    /// The shortest secret accepted, in bytes: 256 bits, so that no secret can be found by
    /// trying guesses against the gate (a gateway's secret is machine-generated: 32 random
    /// bytes, or 43 base64url characters, are more than enough).
    pub const MIN_BYTES: usize = 32;

    /// Wraps the configured secret. A configuration error when it is shorter than
    /// [`MIN_BYTES`](Self::MIN_BYTES) (empty included), or has leading or trailing
    /// whitespace, which no header value can carry.
    pub fn new(secret: &str) -> Result<Self, CredentialError> {
        Ok(Self {
            current: checked_digest(secret)?,
            previous: None,
        })
    }

    /// Also accepts `previous`, for a rotation without downtime: the gateway is switched to
    /// the new secret while the origin accepts both, then `previous` is dropped. The same
    /// rules as [`new`](Self::new) apply, and it must differ from the current secret.
    ///
    /// ```
    /// use api_auth::SharedSecret;
    ///
    /// let secret = SharedSecret::new("gw-new-5f0c9a7e41b2d8631c7e0a9f4b2d6e81")?
    ///     .with_previous("gw-old-0a8e3f6c17d25b94e0c3a7f1d9b6e245")?;
    /// assert!(secret.matches(b"gw-new-5f0c9a7e41b2d8631c7e0a9f4b2d6e81"));
    /// assert!(secret.matches(b"gw-old-0a8e3f6c17d25b94e0c3a7f1d9b6e245"));
    /// assert!(!secret.matches(b"gw-older-75e1b0c3d9a4f8262e0b1c7d3a9f5e04"));
    /// # Ok::<(), api_auth::CredentialError>(())
    /// ```
    pub fn with_previous(mut self, previous: &str) -> Result<Self, CredentialError> {
        let digest = checked_digest(previous)?;
        if digest == self.current {
            return Err(CredentialError::SameAsCurrent);
        }
        self.previous = Some(digest);
        Ok(self)
    }

    /// Whether `presented` equals the secret (or the previous one, during a rotation). Every
    /// configured secret is compared, in constant time, whichever matches.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let candidate = digest(&SHA256, presented);
        let candidate = candidate.as_ref();
        let previous = self.previous.map_or(subtle::Choice::from(0), |previous| {
            previous.ct_eq(candidate)
        });
        (self.current.ct_eq(candidate) | previous).into()
    }

    /// Whether `request` carries the secret in its only `X-Shared-Secret` header: whether
    /// it came through the gateway.
    pub(crate) fn is_presented_in(&self, request: &impl RequestHead) -> bool {
        matches!(request.single_header(HEADER), Ok(Some(value)) if self.matches(value))
    }
}

/// The SHA-256 of a secret that passes the rules of [`SharedSecret::new`].
fn checked_digest(secret: &str) -> Result<[u8; 32], CredentialError> {
    if secret.is_empty() {
        return Err(CredentialError::Empty);
    }
    if secret.trim() != secret {
        return Err(CredentialError::Whitespace);
    }
    if secret.len() < SharedSecret::MIN_BYTES {
        return Err(CredentialError::TooShort {
            min: SharedSecret::MIN_BYTES,
        });
    }
    let mut d = [0u8; 32];
    d.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
    Ok(d)
}

/// The header the gateway sends the secret in.
const HEADER: &str = "x-shared-secret";

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "gateway-secret-3e9a0c71b5d2f8e4a6c0";
    const PREVIOUS: &str = "gateway-secret-previous-8b1d4f7a2c9e";

    #[test]
    fn matches_only_the_exact_secret() {
        let s = SharedSecret::new(SECRET).unwrap();
        assert!(s.matches(SECRET.as_bytes()));
        assert!(!s.matches(&SECRET.as_bytes()[..SECRET.len() - 1]));
        assert!(!s.matches(format!("{SECRET} ").as_bytes()));
        assert!(!s.matches(b""));
        assert_eq!(SharedSecret::new("").err(), Some(CredentialError::Empty));
        for padded in [
            format!(" {SECRET}"),
            format!("{SECRET} "),
            format!("\t{SECRET}"),
        ] {
            assert_eq!(
                SharedSecret::new(&padded).err(),
                Some(CredentialError::Whitespace)
            );
        }
    }

    #[test]
    fn a_secret_under_32_bytes_is_refused() {
        for short in [
            "s3cret",
            "letmein",
            &"x".repeat(SharedSecret::MIN_BYTES - 1),
        ] {
            assert_eq!(
                SharedSecret::new(short).err(),
                Some(CredentialError::TooShort { min: 32 }),
                "{short}"
            );
        }
        assert!(SharedSecret::new(&"x".repeat(SharedSecret::MIN_BYTES)).is_ok());
    }

    #[test]
    fn during_a_rotation_both_secrets_match_and_no_other() {
        let s = SharedSecret::new(SECRET)
            .unwrap()
            .with_previous(PREVIOUS)
            .unwrap();
        assert!(s.matches(SECRET.as_bytes()));
        assert!(s.matches(PREVIOUS.as_bytes()));
        assert!(!s.matches(b"gateway-secret-something-else-0000000"));
        let current = SharedSecret::new(SECRET).unwrap();
        assert_eq!(
            current.clone().with_previous(SECRET).err(),
            Some(CredentialError::SameAsCurrent)
        );
        assert_eq!(
            current.clone().with_previous("short").err(),
            Some(CredentialError::TooShort { min: 32 })
        );
        // A second call replaces the previous secret rather than adding a third.
        let other = "gateway-secret-another-one-5c2e7a9d0f";
        let s = s.with_previous(other).unwrap();
        assert!(s.matches(other.as_bytes()) && !s.matches(PREVIOUS.as_bytes()));
    }
}
