//! Server-provided DPoP nonces (RFC 9449 §9), stateless and shared by a fleet.
//!
//! A nonce is the number of a time window and an HMAC-SHA256 tag over it:
//! `base64url(window as 8 big-endian bytes ‖ tag)`, 54 characters of base64url (which
//! RFC 9449 §8.1's `NQCHAR`s include). Checking one needs no store: recompute the tag.
//!
//! **Fleet.** Replicas share nothing, yet a client that got a nonce from replica A sends it
//! to replica B. So the HMAC key is derived (HKDF-SHA256, RFC 5869) from a secret every
//! replica is configured with ([`DpopNonces::from_secret`]); a key drawn at random per
//! process ([`DpopNonces::random`]) only serves a single replica.
//!
//! **The secret is the nonces' own.** Every client sees nonces, and a nonce is a public
//! window number with an HMAC of it: anyone holding one can test guesses of the secret
//! offline, at two HMACs a guess. So the secret must be one that no guessing can reach (at
//! least [`DpopNonces::MIN_SECRET_BYTES`], drawn at random) and must not serve as anything
//! else: a secret that also opened a gate (a gateway's shared secret) would fall with a weak
//! nonce key, or give the gate away if it were weak itself.
//!
//! **Rotation.** A nonce of the current window or of the one before is accepted, so a nonce
//! lives between one and two windows; one of the next window is accepted too, so that a
//! replica whose clock runs up to a window ahead of this one does not have its nonces
//! refused. A client that sends an older nonce is told `use_dpop_nonce` with a fresh one.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac::{self, HMAC_SHA256};
use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::dpop_config::DpopConfigError;
use crate::token_cache::unix_now;

/// The window lengths a nonce configuration accepts.
pub const DPOP_NONCE_WINDOW_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(10)..=Duration::from_secs(3600);

/// The default window: a nonce is accepted for two to four minutes.
const DEFAULT_WINDOW: Duration = Duration::from_secs(120);

/// Window number (8 bytes) and HMAC-SHA256 tag (32 bytes).
const NONCE_BYTES: usize = 8 + 32;
/// The base64url length of [`NONCE_BYTES`].
const NONCE_CHARS: usize = 54;

/// Domain separation of the derived key (RFC 5869 §3.1 salt, §3.2 info).
const HKDF_SALT: &[u8] = b"api-auth dpop nonce";
const HKDF_INFO: &[u8] = b"hmac-sha256 key, v1";

/// Issues and checks stateless server nonces for DPoP proofs (RFC 9449 §9).
///
/// ```
/// use api_auth::DpopNonces;
///
/// // Every replica is configured with the same secret, 32 random bytes or more, used for
/// // nothing else.
/// let secret = b"dpop-nonces-4c1f8e0a7b3d95e2c6a0f17d";
/// let replica_a = DpopNonces::from_secret(secret)?;
/// let replica_b = DpopNonces::from_secret(secret)?;
/// let nonce = replica_a.issue();
/// assert!(replica_b.check(&nonce));
/// assert!(!DpopNonces::random()?.check(&nonce));
/// assert!(DpopNonces::from_secret(b"letmein").is_err());
/// # Ok::<(), api_auth::DpopConfigError>(())
/// ```
#[derive(Clone)]
pub struct DpopNonces {
    key: hmac::Key,
    window_secs: i64,
}

impl DpopNonces {
    /// The shortest secret [`from_secret`](Self::from_secret) accepts, in bytes: 256 bits,
    /// out of reach of an offline search from the nonces every client sees.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// Nonces keyed by `secret`: every replica configured with the same secret accepts the
    /// nonces of the others. The secret must be at least
    /// [`MIN_SECRET_BYTES`](Self::MIN_SECRET_BYTES) long and serve for nothing else (see
    /// the module documentation: nonces are public, so they expose their key to offline
    /// guessing); it goes through HKDF-SHA256 before use.
    pub fn from_secret(secret: &[u8]) -> Result<Self, DpopConfigError> {
        if secret.is_empty() {
            return Err(DpopConfigError::EmptyNonceSecret);
        }
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(DpopConfigError::ShortNonceSecret {
                min: Self::MIN_SECRET_BYTES,
            });
        }
        let prk = Salt::new(HKDF_SHA256, HKDF_SALT).extract(secret);
        let okm = prk
            .expand(&[HKDF_INFO], HMAC_SHA256)
            // Only fails for an output longer than 255 hashes; this one is one hash.
            .map_err(|_| DpopConfigError::EmptyNonceSecret)?;
        Ok(Self::with_key(hmac::Key::from(okm)))
    }

    /// Nonces keyed by a random key of this process: only for a single replica (another
    /// replica, or this one restarted, refuses them and the client fetches a new one).
    pub fn random() -> Result<Self, DpopConfigError> {
        hmac::Key::generate(HMAC_SHA256, &SystemRandom::new())
            .map(Self::with_key)
            .map_err(|_| DpopConfigError::NoRandomness)
    }

    fn with_key(key: hmac::Key) -> Self {
        Self {
            key,
            window_secs: DEFAULT_WINDOW.as_secs().cast_signed(),
        }
    }

    /// The same nonces with another window length (default 120 s), within
    /// [`DPOP_NONCE_WINDOW_RANGE`]. A nonce is accepted for one to two windows.
    pub fn with_window(mut self, window: Duration) -> Result<Self, DpopConfigError> {
        if !DPOP_NONCE_WINDOW_RANGE.contains(&window) {
            return Err(DpopConfigError::NonceWindowOutOfRange);
        }
        self.window_secs = window.as_secs().cast_signed();
        Ok(self)
    }

    /// A nonce for the current window, for the `DPoP-Nonce` response header.
    pub fn issue(&self) -> String {
        self.issue_at(unix_now())
    }

    /// Whether `nonce` was issued with this key for the previous, current or next window.
    pub fn check(&self, nonce: &str) -> bool {
        self.check_at(nonce, unix_now())
    }

    fn window_at(&self, now: i64) -> i64 {
        now.div_euclid(self.window_secs)
    }

    pub(crate) fn issue_at(&self, now: i64) -> String {
        let window = self.window_at(now).to_be_bytes();
        let tag = hmac::sign(&self.key, &window);
        let mut bytes = [0u8; NONCE_BYTES];
        bytes[..8].copy_from_slice(&window);
        bytes[8..].copy_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(crate) fn check_at(&self, nonce: &str, now: i64) -> bool {
        if nonce.len() != NONCE_CHARS {
            return false;
        }
        let mut bytes = [0u8; NONCE_BYTES];
        if URL_SAFE_NO_PAD.decode_slice(nonce, &mut bytes) != Ok(NONCE_BYTES) {
            return false;
        }
        let (window, tag) = bytes.split_at(8);
        let Ok(window) = <[u8; 8]>::try_from(window) else {
            return false;
        };
        let current = self.window_at(now);
        let issued = i64::from_be_bytes(window);
        let recent = issued
            .checked_sub(current)
            .is_some_and(|offset| (-1..=1).contains(&offset));
        // The tag is checked in constant time (`hmac::verify`).
        recent && hmac::verify(&self.key, &window, tag).is_ok()
    }
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn a_nonce_is_accepted_by_every_replica_sharing_the_secret() {
        let a = DpopNonces::from_secret(b"fleet secret, 32 bytes or more: 9f2c").unwrap();
        let b = DpopNonces::from_secret(b"fleet secret, 32 bytes or more: 9f2c").unwrap();
        let nonce = a.issue_at(NOW);
        assert_eq!(nonce.len(), NONCE_CHARS);
        assert!(b.check_at(&nonce, NOW));
        assert!(
            !DpopNonces::from_secret(b"other secret, 32 bytes or more: 4e1a")
                .unwrap()
                .check_at(&nonce, NOW)
        );
        assert!(!DpopNonces::random().unwrap().check_at(&nonce, NOW));
    }

    #[test]
    fn nonces_rotate_and_old_ones_are_refused() {
        let nonces = DpopNonces::from_secret(b"fleet secret, 32 bytes or more: 9f2c").unwrap();
        let window = DEFAULT_WINDOW.as_secs().cast_signed();
        let start = NOW - NOW.rem_euclid(window);
        let nonce = nonces.issue_at(start);
        assert_eq!(nonces.issue_at(start + window - 1), nonce, "one per window");
        assert_ne!(nonces.issue_at(start + window), nonce, "rotated");
        assert!(
            nonces.check_at(&nonce, start + 2 * window - 1),
            "previous window"
        );
        assert!(
            !nonces.check_at(&nonce, start + 2 * window),
            "two windows old"
        );
        assert!(
            nonces.check_at(&nonce, start - 1),
            "a replica a window ahead"
        );
        assert!(
            !nonces.check_at(&nonce, start - window - 1),
            "too far ahead"
        );
    }

    #[test]
    fn a_tampered_nonce_is_refused() {
        let nonces = DpopNonces::from_secret(b"fleet secret, 32 bytes or more: 9f2c").unwrap();
        let nonce = nonces.issue_at(NOW);
        // Another window under the old tag.
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        bytes[7] ^= 1;
        assert!(!nonces.check_at(&URL_SAFE_NO_PAD.encode(&bytes), NOW));
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        bytes[20] ^= 1;
        assert!(!nonces.check_at(&URL_SAFE_NO_PAD.encode(&bytes), NOW));
        for bad in [
            "",
            "x",
            &nonce[1..],
            &format!("{nonce}A"),
            &format!("+{}", &nonce[1..]),
        ] {
            assert!(!nonces.check_at(bad, NOW), "{bad}");
        }
    }

    #[test]
    fn configuration_is_checked() {
        assert_eq!(
            DpopNonces::from_secret(b"").unwrap_err(),
            DpopConfigError::EmptyNonceSecret
        );
        // A secret within reach of an offline search from the nonces themselves.
        for weak in [&b"letmein"[..], &[7u8; 31]] {
            assert_eq!(
                DpopNonces::from_secret(weak).unwrap_err(),
                DpopConfigError::ShortNonceSecret { min: 32 }
            );
        }
        let nonces = DpopNonces::random().unwrap();
        assert!(nonces.clone().with_window(Duration::from_secs(9)).is_err());
        assert!(
            nonces
                .clone()
                .with_window(Duration::from_secs(3601))
                .is_err()
        );
        let short = nonces.with_window(Duration::from_secs(10)).unwrap();
        let nonce = short.issue_at(NOW);
        assert!(!short.check_at(&nonce, NOW + 30));
    }
}
