//! Verified tokens, remembered until they expire so a repeated token skips the signature check.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use moka::Expiry;

use crate::claims::Claims;
use crate::jwk::Fingerprint;

/// The cache key: a digest of the whole token, so the token itself is never stored.
pub(crate) type TokenDigest = [u8; 32];

/// What a hit needs to be served again without a signature check.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub(crate) claims: Claims,
    /// The position of the issuer whose key verified it.
    pub(crate) issuer: usize,
    /// The key that verified it (`None` for HS256), re-checked against the current set.
    pub(crate) key: Option<Fingerprint>,
    pub(crate) exp: i64,
    pub(crate) nbf: Option<i64>,
}

/// Expires each entry when its token does (plus the leeway).
struct UntilTokenExpiry {
    leeway_secs: i64,
}

impl Expiry<TokenDigest, Arc<CachedToken>> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        value: &Arc<CachedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let remaining = value
            .exp
            .saturating_add(self.leeway_secs)
            .saturating_sub(unix_now());
        Some(Duration::from_secs(remaining.max(0).unsigned_abs()))
    }
}

/// A bounded cache of verified tokens (Envoy's jwt_authn keeps one too).
///
/// Built on `moka` rather than the `cached` crate: each entry needs its own lifetime (the
/// token's `exp`), and a rotation must drop every entry of a key by predicate; `cached`'s
/// stores give all entries one TTL and can only remove by key.
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<TokenDigest, Arc<CachedToken>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens.
    pub(crate) fn new(capacity: usize, leeway_secs: i64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .expire_after(UntilTokenExpiry { leeway_secs })
                .support_invalidation_closures()
                .build(),
        }
    }

    pub(crate) fn digest(token: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        out
    }

    pub(crate) fn get(&self, key: &TokenDigest) -> Option<Arc<CachedToken>> {
        self.entries.get(key)
    }

    pub(crate) fn insert(&self, key: TokenDigest, token: CachedToken) {
        self.entries.insert(key, Arc::new(token));
    }

    pub(crate) fn remove(&self, key: &TokenDigest) {
        self.entries.invalidate(key);
    }

    /// Drops every token verified by one of these keys.
    pub(crate) fn drop_keys(&self, removed: &HashSet<Fingerprint>) {
        let removed = removed.clone();
        // Only fails when invalidation closures are not enabled, and they are.
        let _ = self
            .entries
            .invalidate_entries_if(move |_, token| token.key.is_some_and(|k| removed.contains(&k)));
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
