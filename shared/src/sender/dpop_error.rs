//! Why a DPoP proof was refused, and the `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1).

use std::fmt::Write as _;

use super::replay::ReplayStoreError;
use crate::algorithm::Algorithm;
use crate::error::quoted_string_safe;

/// Seconds a client is asked to wait (`Retry-After`) when the replay store is unavailable.
pub const REPLAY_STORE_RETRY_AFTER_SECS: u64 = 5;

/// Which check of RFC 9449 §4.3 a proof failed: a fixed vocabulary for logs and
/// `error_description`, which never quotes the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofDefect {
    /// No `DPoP` header with a DPoP-bound token (check 1).
    #[error("proof is missing")]
    Missing,
    /// More than one `DPoP` header (check 1).
    #[error("proof header appears more than once")]
    Repeated,
    /// Longer than the bound on proofs.
    #[error("proof is too large")]
    TooLarge,
    /// Not a compact JWS of three base64url parts of JSON objects (check 2).
    #[error("proof is not a well-formed JWS")]
    Malformed,
    /// `typ` is not `dpop+jwt` (check 4).
    #[error("proof typ is not dpop+jwt")]
    Type,
    /// `alg` is `none`, symmetric, unknown or not allowed (check 5).
    #[error("proof algorithm is not allowed")]
    Algorithm,
    /// A `crit` or `b64` header (no extension is understood).
    #[error("proof uses an unsupported header extension")]
    Extension,
    /// No `jwk` header (check 3).
    #[error("proof has no jwk header")]
    MissingKey,
    /// The `jwk` header holds private key members (check 7).
    #[error("proof jwk holds a private key")]
    PrivateKey,
    /// The `jwk` header is not a usable public key: unknown type, weak or invalid (the checks
    /// every key of a key set gets).
    #[error("proof jwk is not a usable public key")]
    UnusableKey,
    /// The `jwk` does not fit `alg` (check 5).
    #[error("proof algorithm does not fit its jwk")]
    KeyAlgorithmMismatch,
    /// The signature does not verify with the `jwk` (check 6).
    #[error("proof signature is invalid")]
    Signature,
    /// The proof key is not the key the access token is bound to (`cnf.jkt`, RFC 9449 §6).
    #[error("proof key is not the key the token is bound to")]
    KeyBinding,
    /// A required claim is absent (check 3).
    #[error("proof is missing the {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an impossible value.
    #[error("proof has an invalid {0} claim")]
    InvalidClaim(&'static str),
    /// `htm` is not the request's method (check 8).
    #[error("proof htm does not match the request method")]
    Method,
    /// `htu` is not the request's URI (check 9).
    #[error("proof htu does not match the request URI")]
    Uri,
    /// `iat` is older than the maximum age and the leeway (check 11).
    #[error("proof is too old")]
    Stale,
    /// `iat` is further in the future than the leeway (check 11).
    #[error("proof is issued in the future")]
    IssuedInFuture,
    /// `ath` is not the hash of the access token sent with it (check 12).
    #[error("proof ath does not match the access token")]
    AccessTokenHash,
    /// The proof's `jti` was seen before (RFC 9449 §11.1).
    #[error("proof was already used")]
    Replayed,
}

/// Why a request's DPoP proof was not accepted.
///
/// ```
/// use api_auth::{Algorithm, DpopError, ProofDefect};
///
/// let refusal = DpopError::InvalidProof(ProofDefect::Uri);
/// assert_eq!(refusal.status(), 401);
/// assert_eq!(refusal.code(), "invalid_dpop_proof");
/// assert_eq!(
///     refusal.challenge(&[Algorithm::ES256, Algorithm::EdDSA]).as_deref(),
///     Some(r#"DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="DPoP proof htu does not match the request URI""#)
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The proof failed a check (`401 invalid_dpop_proof`).
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(ProofDefect),
    /// Nonces are required and the proof carries none that this service issued recently
    /// (`401 use_dpop_nonce`, with a fresh nonce in `DPoP-Nonce`, RFC 9449 §9).
    #[error("a DPoP nonce issued by this server is required")]
    UseNonce,
    /// The replay store could not say whether the proof is a replay (`503` with
    /// `Retry-After`): the proof is refused, never accepted unchecked.
    #[error("the DPoP replay store is unavailable: {0}")]
    ReplayStoreUnavailable(ReplayStoreError),
    /// The proof's key already holds more than its share of the replay store
    /// ([`ReplayStoreError::ClientOverShare`]): `429` with `Retry-After`, while every other
    /// client is still served.
    #[error("too many DPoP proofs of one key are live in the replay store")]
    TooManyProofs {
        /// Seconds after which the key's live proofs have expired (at least 1).
        retry_after_secs: u64,
    },
}

impl From<ReplayStoreError> for DpopError {
    /// The refusal of a proof the replay store did not take: `429` when its key is over its
    /// share, else `503`.
    fn from(error: ReplayStoreError) -> Self {
        match error {
            ReplayStoreError::ClientOverShare { retry_after_secs } => {
                Self::TooManyProofs { retry_after_secs }
            }
            other => Self::ReplayStoreUnavailable(other),
        }
    }
}

impl DpopError {
    /// The HTTP status: `401`, `503` when the replay store is unavailable, or `429` when
    /// the proof's key holds more than its share of it.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidProof(_) | Self::UseNonce => 401,
            Self::ReplayStoreUnavailable(_) => 503,
            Self::TooManyProofs { .. } => 429,
        }
    }

    /// The `error` code of the challenge and the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidProof(_) => "invalid_dpop_proof",
            Self::UseNonce => "use_dpop_nonce",
            Self::ReplayStoreUnavailable(_) => "temporarily_unavailable",
            Self::TooManyProofs { .. } => "too_many_requests",
        }
    }

    /// The human-readable `error_description`: a fixed text per reason.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidProof(defect) => format!("DPoP {defect}"),
            Self::UseNonce => "Resource server requires nonce in DPoP proof".to_owned(),
            Self::ReplayStoreUnavailable(_) => {
                "DPoP proofs cannot be checked right now; retry later".to_owned()
            }
            Self::TooManyProofs { .. } => {
                "Too many DPoP proofs of this key are live; retry later".to_owned()
            }
        }
    }

    /// Seconds for `Retry-After`, when the client should retry later.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::ReplayStoreUnavailable(_) => Some(REPLAY_STORE_RETRY_AFTER_SECS),
            Self::TooManyProofs { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Self::InvalidProof(_) | Self::UseNonce => None,
        }
    }

    /// The `WWW-Authenticate` value of a `401` ([`dpop_challenge`] with this error); `None`
    /// for a `503` or a `429`, which challenge nothing (the credentials are fine).
    pub fn challenge(&self, algorithms: &[Algorithm]) -> Option<String> {
        (self.status() == 401)
            .then(|| dpop_challenge(algorithms, Some((self.code(), &self.description()))))
    }
}

/// A `WWW-Authenticate` challenge of the `DPoP` scheme (RFC 9449 §7.1):
/// `DPoP algs="ES256 EdDSA"`, followed by `error` and `error_description` when an error is
/// given (`("invalid_dpop_proof", ...)`, `("use_dpop_nonce", ...)`, or `("invalid_token", ...)`
/// for the token itself). Characters a quoted string cannot hold are dropped.
///
/// ```
/// use api_auth::{Algorithm, dpop_challenge};
///
/// assert_eq!(dpop_challenge(&[Algorithm::ES256], None), r#"DPoP algs="ES256""#);
/// assert_eq!(
///     dpop_challenge(&[Algorithm::ES256], Some(("invalid_token", "Token has expired"))),
///     r#"DPoP algs="ES256", error="invalid_token", error_description="Token has expired""#
/// );
/// ```
pub fn dpop_challenge(algorithms: &[Algorithm], error: Option<(&str, &str)>) -> String {
    let mut names: Vec<&str> = Vec::with_capacity(algorithms.len());
    for alg in algorithms {
        if !names.contains(&alg.name()) {
            names.push(alg.name());
        }
    }
    let mut challenge = format!("DPoP algs=\"{}\"", names.join(" "));
    if let Some((code, description)) = error {
        // Writing to a `String` cannot fail.
        let _ = write!(
            challenge,
            ", error=\"{}\", error_description=\"{}\"",
            quoted_string_safe(code),
            quoted_string_safe(description)
        );
    }
    challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_code_and_challenge() {
        let algs = [Algorithm::ES256, Algorithm::PS256];
        let invalid = DpopError::InvalidProof(ProofDefect::Replayed);
        assert_eq!(
            (invalid.status(), invalid.code()),
            (401, "invalid_dpop_proof")
        );
        assert_eq!(
            invalid.challenge(&algs).as_deref(),
            Some(
                r#"DPoP algs="ES256 PS256", error="invalid_dpop_proof", error_description="DPoP proof was already used""#
            )
        );
        assert_eq!(invalid.retry_after_secs(), None);
        let nonce = DpopError::UseNonce;
        assert_eq!((nonce.status(), nonce.code()), (401, "use_dpop_nonce"));
        assert!(
            nonce
                .challenge(&algs)
                .is_some_and(|c| c.contains(r#"error="use_dpop_nonce""#))
        );
        let down = DpopError::ReplayStoreUnavailable(ReplayStoreError::Timeout);
        assert_eq!(down.status(), 503);
        assert_eq!(down.challenge(&algs), None);
        assert_eq!(down.retry_after_secs(), Some(REPLAY_STORE_RETRY_AFTER_SECS));
        let over = DpopError::from(ReplayStoreError::ClientOverShare {
            retry_after_secs: 42,
        });
        assert_eq!(
            over,
            DpopError::TooManyProofs {
                retry_after_secs: 42
            }
        );
        assert_eq!((over.status(), over.code()), (429, "too_many_requests"));
        assert_eq!(over.challenge(&algs), None);
        assert_eq!(over.retry_after_secs(), Some(42));
        assert_eq!(
            DpopError::from(ReplayStoreError::Full),
            DpopError::ReplayStoreUnavailable(ReplayStoreError::Full)
        );
    }

    #[test]
    fn algorithms_are_listed_once_and_quotes_cannot_break_out() {
        assert_eq!(
            dpop_challenge(
                &[Algorithm::EdDSA, Algorithm::EdDSA, Algorithm::Ed25519],
                None
            ),
            r#"DPoP algs="EdDSA Ed25519""#
        );
        assert_eq!(
            dpop_challenge(&[Algorithm::ES256], Some(("x\"", "a\"b\\c"))),
            r#"DPoP algs="ES256", error="x", error_description="abc""#
        );
    }
}
