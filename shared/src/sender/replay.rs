//! Where the `jti` of accepted DPoP proofs is remembered, so that a proof is accepted once
//! (RFC 9449 §11.1).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a replay store remembers of one proof: a SHA-256 digest of the proof key's thumbprint
/// and the proof's `jti`, never the `jti` itself (a client's identifiers stay out of shared
/// infrastructure, and every key has the same size whatever the `jti`).
///
/// The thumbprint is part of it so that a `jti` is unique per key (RFC 9449 §11.1 asks for
/// uniqueness within the window; one client cannot use up another's identifiers).
///
/// It also carries a digest of the thumbprint alone, [`client`](Self::client): the identity
/// of the client key, so that a store can share its room fairly between clients
/// ([`MemoryReplayStore`](crate::MemoryReplayStore) does).
///
/// ```
/// use api_auth::ReplayKey;
///
/// let first = ReplayKey::for_proof("jkt-of-the-proof-key", "jti-1");
/// let second = ReplayKey::for_proof("jkt-of-the-proof-key", "jti-2");
/// assert_ne!(first.as_bytes(), second.as_bytes());
/// assert_eq!(first.client(), second.client());
/// assert_ne!(first.client(), ReplayKey::for_proof("another-jkt", "jti-1").client());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    digest: [u8; 32],
    client: ClientDigest,
}

/// A digest of a proof key's thumbprint (`jkt`): who a [`ReplayKey`] belongs to, without the
/// thumbprint itself. 128 bits: two client keys share a digest only by a chance of one in
/// 2⁶⁴ even for someone generating keys to find one, and a shared digest would only make
/// two clients share one share of the store, never let a replay through.
pub type ClientDigest = [u8; 16];

/// SHA-256 of `domain` and the length-prefixed `parts`, so that no two lists of parts hash
/// the same input.
fn digest_of(domain: &[u8], parts: &[&str]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(domain);
    for part in parts {
        context.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        context.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

impl ReplayKey {
    /// The key of a proof signed by the key with thumbprint `jkt`, carrying `jti`.
    pub fn for_proof(jkt: &str, jti: &str) -> Self {
        let digest = digest_of(b"api-auth dpop jti\0", &[jkt, jti]);
        let whole = digest_of(b"api-auth dpop jkt\0", &[jkt]);
        let mut client = [0u8; 16];
        client.copy_from_slice(&whole[..16]);
        Self { digest, client }
    }

    /// The digest of the thumbprint and the `jti`: what identifies the proof.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The digest of the thumbprint alone: the same for every proof of one client key.
    pub fn client(&self) -> &ClientDigest {
        &self.client
    }

    /// The digest in base64url (43 characters), for stores whose keys are text.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.digest)
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey({})", self.to_base64url())
    }
}

/// Whether a proof was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Not seen before; it is now remembered for the time asked.
    Fresh,
    /// Seen before, and still remembered: a replay.
    Replayed,
}

/// Why a replay store did not take a proof. The proof is then refused, never accepted
/// unchecked: an unchecked proof could be a replay. Most reasons are the store's (`503`);
/// [`ClientOverShare`](Self::ClientOverShare) is the client's (`429`). The text never holds
/// a URL or a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayStoreError {
    /// The store holds as many live entries as it may, and evicting one would let its
    /// replay through.
    #[error("the replay store is full")]
    Full,
    /// No answer within the store's time bound.
    #[error("the replay store did not answer in time")]
    Timeout,
    /// The store cannot be reached or answered with an error.
    #[error("the replay store cannot be used: {0}")]
    Unavailable(&'static str),
    /// The proof's client key already holds more than its share of a store that is more
    /// than half full; other clients are still served. The client may retry after
    /// `retry_after_secs`, by when its entries have expired.
    #[error("this client key holds more than its share of the replay store")]
    ClientOverShare {
        /// Seconds until the client's live entries have expired (at least 1).
        retry_after_secs: u64,
    },
}

/// The answer of [`ReplayStore::check_and_remember`]: boxed, so that the trait is object-safe
/// and needs no macro.
pub type ReplayFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Freshness, ReplayStoreError>> + Send + 'a>>;

/// Remembers the proofs a service accepted, for as long as each could be accepted again.
///
/// [`MemoryReplayStore`](crate::MemoryReplayStore) serves one process;
/// `RedisReplayStore` (feature `redis`) serves a fleet. Another store implements this trait:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::{Duration, Instant};
///
/// use api_auth::{Freshness, ReplayFuture, ReplayKey, ReplayStore};
///
/// /// Unbounded: for illustration only.
/// #[derive(Default)]
/// struct Naive(Mutex<HashMap<ReplayKey, Instant>>);
///
/// impl ReplayStore for Naive {
///     fn check_and_remember<'a>(&'a self, key: &'a ReplayKey, ttl: Duration) -> ReplayFuture<'a> {
///         let now = Instant::now();
///         let mut seen = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
///         let fresh = seen.get(key).is_none_or(|until| *until <= now);
///         if fresh {
///             seen.insert(*key, now + ttl);
///         }
///         let answer = if fresh { Freshness::Fresh } else { Freshness::Replayed };
///         Box::pin(std::future::ready(Ok(answer)))
///     }
/// }
/// ```
pub trait ReplayStore: Send + Sync {
    /// Atomically: answers whether `key` is remembered, and if not, remembers it for `ttl`.
    ///
    /// Two concurrent calls with the same key must not both get [`Freshness::Fresh`]. An
    /// implementation that cannot tell returns an error rather than `Fresh`.
    fn check_and_remember<'a>(&'a self, key: &'a ReplayKey, ttl: Duration) -> ReplayFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_jkt_and_jti() {
        let a = ReplayKey::for_proof("ab", "c");
        assert_eq!(a, ReplayKey::for_proof("ab", "c"));
        assert_ne!(a, ReplayKey::for_proof("a", "bc"));
        assert_ne!(a, ReplayKey::for_proof("ab", "d"));
        assert_eq!(a.to_base64url().len(), 43);
        let key = ReplayKey::for_proof("jkt", "client-jti-4711");
        assert!(!format!("{key:?}").contains("4711"));
    }
}
