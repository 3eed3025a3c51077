//! Verified tokens, remembered until they expire so a repeated token skips the signature check.

use std::collections::HashSet;
use std::mem::size_of;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use moka::Expiry;

use crate::claims::ClaimsData;
use crate::jwk::Fingerprint;

/// The cache key: a digest of the whole token, so the token itself is never stored.
pub(crate) type TokenDigest = [u8; 32];

/// What a hit needs to be served again without a signature check.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub(crate) claims: Arc<ClaimsData>,
    /// The position of the issuer whose key verified it.
    pub(crate) issuer: usize,
    /// The key that verified it (`None` for HS256), re-checked against the current set.
    pub(crate) key: Option<Fingerprint>,
    /// When it stops being served: its `exp`, or an earlier expiry its format adds (the ALB
    /// header's `exp`).
    pub(crate) exp: i64,
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

/// The memory the cache may hold, by the entries' weight ([`entry_weight`]).
pub(crate) const MEMORY_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

/// What the allocator adds to an allocation, at most: glibc's `malloc` puts an 8-byte header
/// before each chunk and rounds the chunk up to a multiple of 16 bytes, 32 at least.
const ALLOCATION_OVERHEAD: usize = 32;

/// The reference counts in front of an `Arc`'s value.
const ARC_COUNTS: usize = 2 * size_of::<usize>();

/// What `moka` allocates for each entry besides the value: the key, its hash-table bucket, the
/// entry's shared state and its nodes in the access-order, write-order and expiry structures.
/// Measured with a counting allocator (`moka` 0.12.16, 64-bit, this cache's options): 310 to
/// 315 bytes in 8 allocations per entry, the hash table's growth included; rounded up.
const MOKA_BYTES_PER_ENTRY: usize = 352;
const MOKA_ALLOCATIONS_PER_ENTRY: usize = 8;

/// What a cached token holds, in bytes: its claims' text and fields (exactly, see
/// [`ClaimsData::heap_bytes`]), the two shared allocations around them (the entry and the
/// claims), the allocator's overhead on each allocation and `moka`'s own bookkeeping.
///
/// A verified token's claims are never held as a `serde_json::Value` tree, whose size depends
/// on the shape of the claims (a one-member object costs a B-tree node of several hundred
/// bytes): this weight is what the process really holds, not an estimate that some shape of
/// claims could outgrow.
fn entry_weight(token: &CachedToken) -> usize {
    let claims = &token.claims;
    let allocations = 2 + claims.allocations() + MOKA_ALLOCATIONS_PER_ENTRY;
    (ARC_COUNTS + size_of::<CachedToken>())
        + (ARC_COUNTS + size_of::<ClaimsData>())
        + claims.heap_bytes()
        + MOKA_BYTES_PER_ENTRY
        + allocations * ALLOCATION_OVERHEAD
}

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
                    let size = u64::try_from(entry_weight(token))
                        .unwrap_or(u64::MAX)
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

    /// A token of these claims, valid for five more minutes.
    fn token(mut claims: Value) -> CachedToken {
        claims["exp"] = json!(unix_now() + 300);
        let claims = ClaimsData::from_payload(claims.to_string().as_bytes()).unwrap();
        CachedToken {
            exp: claims.exp(),
            claims: Arc::new(claims),
            issuer: 0,
            key: None,
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
        // Held as text, each item costs the two bytes of `0,`, and each entry weighs at least that.
        let most = budget / (2 * 2_900);
        assert!(kept <= most, "{kept} kept, at most {most}");
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
