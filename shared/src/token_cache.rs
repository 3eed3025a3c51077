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

/// The memory the cache may hold, by the entries' estimated size: the parsed claims' heap
/// (see [`Claims::heap_bytes`]) plus [`ENTRY_OVERHEAD`] each.
pub(crate) const MEMORY_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

/// What an entry costs besides its claims: the digest key, the shared `CachedToken`, the
/// claims' map header and `moka`'s own bookkeeping (hash-table slot, access-order and
/// expiry nodes), rounded up.
const ENTRY_OVERHEAD: u64 = 256;

/// A bounded cache of verified tokens (Envoy's jwt_authn keeps one too).
///
/// Bounded twice: by memory ([`MEMORY_BUDGET_BYTES`]), so that a flood of the largest
/// tokens allowed cannot hold more than that, and by count, as each entry weighs at least
/// the budget divided by the configured number of tokens.
///
/// Built on `moka` rather than the `cached` crate: each entry needs its own lifetime (the
/// token's `exp`), and a rotation must drop every entry of a key by predicate; `cached`'s
/// stores give all entries one TTL and can only remove by key.
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<TokenDigest, Arc<CachedToken>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens and [`MEMORY_BUDGET_BYTES`] of their size.
    pub(crate) fn new(capacity: usize, leeway_secs: i64) -> Self {
        Self::with_budget(capacity, MEMORY_BUDGET_BYTES, leeway_secs)
    }

    fn with_budget(capacity: usize, budget_bytes: u64, leeway_secs: i64) -> Self {
        let count = u64::try_from(capacity).unwrap_or(u64::MAX).max(1);
        // Every entry weighs at least `floor` and the cache holds `count` times that, so it
        // never holds more than `count` entries, and exactly that many small ones.
        let floor = (budget_bytes / count).max(1);
        let max_weight = floor.saturating_mul(count).min(budget_bytes);
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_weight)
                .weigher(move |_, token: &Arc<CachedToken>| {
                    let size = u64::try_from(token.claims.heap_bytes())
                        .unwrap_or(u64::MAX)
                        .saturating_add(ENTRY_OVERHEAD)
                        .max(floor);
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn token(claims: Value) -> CachedToken {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        CachedToken {
            claims: Claims::new(map),
            issuer: 0,
            key: None,
            exp: unix_now() + 300,
            nbf: None,
        }
    }

    fn fill(cache: &TokenCache, count: u32, claims: impl Fn(u32) -> Value) {
        for i in 0..count {
            let key = TokenCache::digest(&i.to_string());
            cache.insert(key, token(claims(i)));
        }
        cache.entries.run_pending_tasks();
    }

    #[test]
    fn large_tokens_are_bounded_by_memory() {
        let budget = 4 * 1024 * 1024;
        let cache = TokenCache::with_budget(10_000, budget, 0);
        // As parsed from the largest payload allowed: thousands of small array items.
        fill(&cache, 1_000, |i| json!({"sub": i, "a": vec![0; 2_900]}));
        let weighed = cache.entries.weighted_size();
        assert!(weighed <= budget, "{weighed} > {budget}");
        let kept = cache.entries.entry_count();
        assert!(kept > 0, "a large token still fits");
        assert!(
            kept < 60,
            "each entry weighs at least its 2,900 items: {kept} kept"
        );
    }

    #[test]
    fn small_tokens_are_bounded_by_count() {
        let cache = TokenCache::with_budget(100, MEMORY_BUDGET_BYTES, 0);
        fill(&cache, 1_000, |i| json!({"sub": i}));
        let kept = cache.entries.entry_count();
        assert!(kept > 0 && kept <= 100, "{kept} kept");
        assert!(cache.entries.weighted_size() <= MEMORY_BUDGET_BYTES);
    }

    #[test]
    fn the_default_budget_holds_the_default_count_of_ordinary_tokens() {
        let cache = TokenCache::new(10_000, 0);
        let ordinary = |i| {
            json!({"sub": format!("user-{i}"), "iss": "https://issuer.example",
            "aud": "api", "exp": 2_000_000_000, "iat": 1_900_000_000, "scope": "read write",
            "roles": ["user"]})
        };
        fill(&cache, 10_000, ordinary);
        assert_eq!(cache.entries.entry_count(), 10_000);
    }
}
