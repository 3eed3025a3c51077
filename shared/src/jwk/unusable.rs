//! Why a key set entry is skipped, and the one-line summary a fetch logs of them.

use std::fmt;

/// Why one entry of a key set is skipped: a fixed reason, never content of the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("not a JWK object, or a member of the wrong JSON type")]
    NotAJwk,
    #[error("not for signature verification (use or key_ops)")]
    NotForSignatures,
    #[error("publishes private key material")]
    PrivateMaterial,
    #[error("alg unsupported or not fitting the key type")]
    UnsupportedAlgorithm,
    #[error("unsupported key type or curve")]
    UnsupportedKeyType,
    #[error("a key member is missing, not base64url or of the wrong length")]
    BadMember,
    #[error("RSA modulus outside 2048 to 8192 bits")]
    RsaModulusSize,
    #[error("RSA modulus is even")]
    RsaEvenModulus,
    #[error("RSA exponent not odd, at least 3 and at most 32 bits")]
    RsaExponent,
    #[error("point not on its curve")]
    PointNotOnCurve,
    #[error("Ed25519 point not canonically encoded")]
    NonCanonicalPoint,
    #[error("Ed25519 point of small order")]
    SmallOrderPoint,
    #[error("duplicate kid (the first key keeps it)")]
    DuplicateKid,
    #[error("beyond the limit of keys per set")]
    OverLimit,
}

impl Unusable {
    /// Every reason, in the order a summary lists them.
    const ALL: [Unusable; 14] = [
        Unusable::NotAJwk,
        Unusable::NotForSignatures,
        Unusable::PrivateMaterial,
        Unusable::UnsupportedAlgorithm,
        Unusable::UnsupportedKeyType,
        Unusable::BadMember,
        Unusable::RsaModulusSize,
        Unusable::RsaEvenModulus,
        Unusable::RsaExponent,
        Unusable::PointNotOnCurve,
        Unusable::NonCanonicalPoint,
        Unusable::SmallOrderPoint,
        Unusable::DuplicateKid,
        Unusable::OverLimit,
    ];
}

/// How many entries of one document were skipped, per reason: what one fetch logs, in one
/// line, however many entries the document holds.
#[derive(Debug, Default)]
pub(super) struct Skipped {
    counts: [usize; Unusable::ALL.len()],
}

impl Skipped {
    pub(super) fn add(&mut self, reason: Unusable, count: usize) {
        if let Some(slot) = Unusable::ALL
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| self.counts.get_mut(i))
        {
            *slot = slot.saturating_add(count);
        }
    }

    pub(super) fn total(&self) -> usize {
        self.counts.iter().fold(0, |sum, n| sum.saturating_add(*n))
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (reason, count) in Unusable::ALL.iter().zip(self.counts) {
            if count > 0 {
                if !first {
                    f.write_str("; ")?;
                }
                write!(f, "{count} {reason}")?;
                first = false;
            }
        }
        Ok(())
    }
}
