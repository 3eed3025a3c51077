//! JWS algorithms this crate accepts, and which key types they fit.

use std::fmt;

/// A JWS `alg` value that can be configured and verified.
///
/// `EdDSA` and `Ed25519` (RFC 9864's fully specified name) are distinct names of the
/// same algorithm: they match each other everywhere ([`Algorithm::same_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA (RFC 8037); only Ed25519 keys are supported.
    EdDSA,
    /// EdDSA over Ed25519, fully specified (RFC 9864).
    Ed25519,
    /// HMAC with SHA-256; only ever verified against the secret given to
    /// [`AuthBuilder::hs256_secret`](crate::AuthBuilder::hs256_secret).
    HS256,
}

/// The key type an algorithm needs, as found in a JWK's `kty` (and `crv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    EcP256,
    /// `kty: EC`, `crv: P-384`.
    EcP384,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
    /// A shared secret (never taken from a key set).
    Secret,
}

impl Algorithm {
    /// Every asymmetric algorithm: the default allow-list.
    pub const ASYMMETRIC: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ];

    /// Parses an `alg` value exactly as registered (case-sensitive, so `None` or `rs256`
    /// are not algorithms).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "EdDSA" => Self::EdDSA,
            "Ed25519" => Self::Ed25519,
            "HS256" => Self::HS256,
            _ => return None,
        })
    }

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::Ed25519 => "Ed25519",
            Self::HS256 => "HS256",
        }
    }

    /// The key type this algorithm verifies with.
    pub fn key_kind(self) -> KeyKind {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyKind::Rsa
            }
            Self::ES256 => KeyKind::EcP256,
            Self::ES384 => KeyKind::EcP384,
            Self::EdDSA | Self::Ed25519 => KeyKind::Ed25519,
            Self::HS256 => KeyKind::Secret,
        }
    }

    /// Whether two names denote the same algorithm (`EdDSA` ≡ `Ed25519`).
    pub fn same_as(self, other: Algorithm) -> bool {
        self == other
            || (self.key_kind() == KeyKind::Ed25519 && other.key_kind() == KeyKind::Ed25519)
    }

    /// The `jsonwebtoken` algorithm that performs the signature check.
    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA | Self::Ed25519 => J::EdDSA,
            Self::HS256 => J::HS256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms, as a bit set so that membership costs nothing on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AlgorithmSet(u16);

impl AlgorithmSet {
    fn bit(alg: Algorithm) -> u16 {
        1 << (alg as u16)
    }

    /// Adds an algorithm (and its alias, for EdDSA/Ed25519).
    pub(crate) fn insert(&mut self, alg: Algorithm) {
        self.0 |= Self::bit(alg);
        if alg.key_kind() == KeyKind::Ed25519 {
            self.0 |= Self::bit(Algorithm::EdDSA) | Self::bit(Algorithm::Ed25519);
        }
    }

    /// Whether `alg` is in the set.
    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & Self::bit(alg) != 0
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = Self::default();
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ASYMMETRIC.into_iter().chain([Algorithm::HS256]) {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for bad in ["none", "None", "nOnE", "rs256", "HS384", "ES512", ""] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn eddsa_and_ed25519_are_one_algorithm() {
        assert!(Algorithm::EdDSA.same_as(Algorithm::Ed25519));
        assert!(!Algorithm::ES256.same_as(Algorithm::ES384));
        let set: AlgorithmSet = [Algorithm::Ed25519].into_iter().collect();
        assert!(set.contains(Algorithm::EdDSA));
        assert!(!set.contains(Algorithm::RS256));
    }
}
