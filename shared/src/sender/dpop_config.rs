//! The configuration of a [`DpopVerifier`]: algorithms, proof age, leeway, nonces, replay store.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use super::dpop_proof::DpopVerifier;
use super::nonce::DpopNonces;
use super::public_origin::PublicOrigin;
use super::replay::ReplayStore;
use crate::algorithm::{Algorithm, AlgorithmSet, KeyKind};
use crate::builder::MAX_LEEWAY;

/// The maximum proof ages a verifier accepts (`AUTH_DPOP_MAX_AGE_SECS`: 1 to 300 s).
pub const DPOP_MAX_AGE_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(300);

/// The default maximum age of a proof.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// The default clock-skew allowance, as for tokens.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Why a DPoP configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopConfigError {
    /// The nonce secret is empty.
    #[error("the DPoP nonce secret is empty")]
    EmptyNonceSecret,
    /// The nonce secret is shorter than [`DpopNonces::MIN_SECRET_BYTES`](crate::DpopNonces::MIN_SECRET_BYTES).
    #[error("the DPoP nonce secret is shorter than {min} bytes")]
    ShortNonceSecret {
        /// The minimum length, in bytes.
        min: usize,
    },
    /// The nonce window is outside [`DPOP_NONCE_WINDOW_RANGE`](crate::DPOP_NONCE_WINDOW_RANGE).
    #[error("the DPoP nonce window must be between 10 and 3600 seconds")]
    NonceWindowOutOfRange,
    /// The maximum proof age is outside [`DPOP_MAX_AGE_RANGE`].
    #[error("the DPoP proof age must be between 1 and 300 seconds")]
    MaxAgeOutOfRange,
    /// The leeway is over [`MAX_LEEWAY`](crate::MAX_LEEWAY).
    #[error("the DPoP leeway must be at most 300 seconds")]
    LeewayOutOfRange,
    /// No asymmetric algorithm is allowed.
    #[error("DPoP proofs need at least one asymmetric algorithm")]
    NoAlgorithm,
    /// The system's random number generator failed.
    #[error("no random numbers are available for the DPoP nonce key")]
    NoRandomness,
    /// HS256 among the proof algorithms: a proof is signed with the client's private key
    /// (RFC 9449 §4.2), never a shared secret.
    #[error("DPoP proofs are never signed with a symmetric algorithm")]
    SymmetricAlgorithm,
}

/// Configures a [`DpopVerifier`]; made by [`DpopVerifier::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`algorithms`](Self::algorithms) | every asymmetric algorithm ([`Algorithm::ASYMMETRIC`]) |
/// | [`max_age`](Self::max_age) | 60 s (1 to 300 s) |
/// | [`leeway`](Self::leeway) | 30 s (at most 300 s) |
/// | [`nonces`](Self::nonces) | none: no nonce is required |
#[must_use]
pub struct DpopVerifierBuilder {
    origin: PublicOrigin,
    replay: Arc<dyn ReplayStore>,
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    leeway: Duration,
    nonces: Option<DpopNonces>,
}

impl DpopVerifierBuilder {
    pub(super) fn new(origin: PublicOrigin, replay: Arc<dyn ReplayStore>) -> Self {
        Self {
            origin,
            replay,
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            max_age: DEFAULT_MAX_AGE,
            leeway: DEFAULT_LEEWAY,
            nonces: None,
        }
    }

    /// The algorithms a proof may be signed with (RFC 9449 §4.3 check 5); listed in this
    /// order in the challenge's `algs`. Only asymmetric ones: `HS256` fails [`build`](Self::build).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Vec::new();
        for alg in algorithms {
            if !self.algorithms.contains(&alg) {
                self.algorithms.push(alg);
            }
        }
        self
    }

    /// How long after its `iat` a proof is accepted (RFC 9449 §4.3 check 11), within
    /// [`DPOP_MAX_AGE_RANGE`]; whole seconds count.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The clock skew allowed on `iat`, both ways, at most [`MAX_LEEWAY`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires every proof to carry a nonce these issued (RFC 9449 §9).
    pub fn nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Checks the settings and builds the verifier.
    pub fn build(self) -> Result<DpopVerifier, DpopConfigError> {
        if self.algorithms.is_empty() {
            return Err(DpopConfigError::NoAlgorithm);
        }
        if self
            .algorithms
            .iter()
            .any(|alg| alg.key_kind() == KeyKind::Secret)
        {
            return Err(DpopConfigError::SymmetricAlgorithm);
        }
        if !DPOP_MAX_AGE_RANGE.contains(&self.max_age) {
            return Err(DpopConfigError::MaxAgeOutOfRange);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(DpopConfigError::LeewayOutOfRange);
        }
        let allowed: AlgorithmSet = self.algorithms.iter().copied().collect();
        Ok(DpopVerifier {
            origin: self.origin,
            allowed,
            algorithms: self.algorithms,
            // Both are at most 300 s, checked above.
            max_age_secs: self.max_age.as_secs().cast_signed(),
            leeway_secs: self.leeway.as_secs().cast_signed(),
            nonces: self.nonces,
            replay: self.replay,
        })
    }
}

impl std::fmt::Debug for DpopVerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopVerifierBuilder")
            .field("origin", &self.origin)
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}
