//! A replay store in the process's memory, bounded, that fails closed when full.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::replay::{Freshness, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError};

/// Remembers accepted proofs in this process: replays are refused within one replica only.
/// A fleet shares a `RedisReplayStore` (feature `redis`) instead.
///
/// **Bounded, and closed when full.** It holds at most [`capacity`](Self::capacity) live
/// entries. When that many proofs are live, a new proof is refused with
/// [`ReplayStoreError::Full`] (the caller answers `503` with `Retry-After`) rather than
/// evicting an entry: an evicted `jti` could be replayed while its proof is still within its
/// age window, and an attacker able to fill the store would choose exactly that moment.
/// Entries leave only when their time is up, so a full store frees itself as proofs age out.
/// A replay of a live entry is still refused as a replay when the store is full.
///
/// **Memory.** Each entry costs about [`BYTES_PER_ENTRY`](Self::BYTES_PER_ENTRY) bytes of
/// heap (the 32-byte key, its lifetime and `moka`'s bookkeeping, measured by
/// `tests/dpop_replay_memory.rs`), so the ceiling is `capacity × BYTES_PER_ENTRY`: 43 MiB
/// at the default capacity. The store sustains `capacity / lifetime` proofs a second, where
/// an entry's lifetime is at most the proof age plus twice the leeway (by default
/// 100 000 / 120 s, over 800 proofs a second); beyond that it answers `503` rather than
/// forget.
///
/// ```
/// use std::time::Duration;
/// use api_auth::{Freshness, MemoryReplayStore, ReplayKey, ReplayStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), api_auth::ReplayStoreError> {
/// let store = MemoryReplayStore::new(10_000);
/// let key = ReplayKey::for_proof("jkt-of-the-proof-key", "jti-of-the-proof");
/// let ttl = Duration::from_secs(90);
/// assert_eq!(store.check_and_remember(&key, ttl).await?, Freshness::Fresh);
/// assert_eq!(store.check_and_remember(&key, ttl).await?, Freshness::Replayed);
/// # Ok(())
/// # }
/// ```
pub struct MemoryReplayStore {
    /// Each key with the time it is remembered for.
    entries: moka::sync::Cache<[u8; 32], Duration>,
    /// Entries inserted and not yet reported removed by `moka`. Counted here rather than
    /// read from `entry_count`, which lags behind inserts; this count runs ahead of the
    /// truth (a removal is reported a little after it happens), never behind, so the bound
    /// is never exceeded.
    live: Arc<AtomicU64>,
    capacity: u64,
}

/// Expires each entry after the time it was remembered for.
struct AfterItsTtl;

impl Expiry<[u8; 32], Duration> for AfterItsTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        ttl: &Duration,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(*ttl)
    }
}

impl MemoryReplayStore {
    /// The capacity of [`MemoryReplayStore::default`].
    pub const DEFAULT_CAPACITY: u64 = 100_000;

    /// Heap bytes per entry, an upper bound: measured with a counting allocator (`moka`
    /// 0.12.16, 64-bit), 303 bytes in 7 allocations, 431 with glibc's 16 bytes of overhead
    /// on each of 8; rounded up. The ceiling of the store is `capacity` times this.
    pub const BYTES_PER_ENTRY: u64 = 448;

    /// A store of at most `capacity` live entries (at least one).
    pub fn new(capacity: u64) -> Self {
        let live = Arc::new(AtomicU64::new(0));
        let removed = Arc::clone(&live);
        let entries = moka::sync::Cache::builder()
            // No `max_capacity`: moka would evict (or refuse to admit) entries to stay
            // under it, silently, and either lets a replay through. The bound is `live`.
            .expire_after(AfterItsTtl)
            .eviction_listener(move |_key, _ttl, _cause| {
                // Every entry inserted is reported removed exactly once (expired, or
                // replaced once expired).
                let _ = removed.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(1))
                });
            })
            .build();
        Self {
            entries,
            live,
            capacity: capacity.max(1),
        }
    }

    /// The most live entries it holds.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Takes a slot for a new entry, if one is free.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then(|| n.saturating_add(1))
            })
            .is_ok()
    }

    fn release(&self) {
        let _ = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }

    fn check_and_remember_now(
        &self,
        key: &ReplayKey,
        ttl: Duration,
    ) -> Result<Freshness, ReplayStoreError> {
        if !self.reserve() {
            // Removals of expired entries are reported when moka does its housekeeping;
            // have it done now before answering that the store is full.
            self.entries.run_pending_tasks();
            if !self.reserve() {
                return if self.entries.contains_key(key.as_bytes()) {
                    Ok(Freshness::Replayed)
                } else {
                    Err(ReplayStoreError::Full)
                };
            }
        }
        // At least a millisecond: an entry that expires at once remembers nothing.
        let ttl = ttl.max(Duration::from_millis(1));
        // `entry().or_insert` is atomic: of two concurrent calls, one inserts.
        let entry = self.entries.entry(*key.as_bytes()).or_insert(ttl);
        if entry.is_fresh() {
            Ok(Freshness::Fresh)
        } else {
            self.release();
            Ok(Freshness::Replayed)
        }
    }
}

impl Default for MemoryReplayStore {
    /// A store of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) entries.
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
            .field("live", &self.live.load(Ordering::Acquire))
            .finish()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn check_and_remember<'a>(&'a self, key: &'a ReplayKey, ttl: Duration) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.check_and_remember_now(key, ttl)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> ReplayKey {
        ReplayKey::for_proof("jkt", &n.to_string())
    }

    const LONG: Duration = Duration::from_secs(300);

    #[test]
    fn a_key_is_fresh_once() {
        let store = MemoryReplayStore::new(10);
        assert_eq!(
            store.check_and_remember_now(&key(1), LONG),
            Ok(Freshness::Fresh)
        );
        assert_eq!(
            store.check_and_remember_now(&key(1), LONG),
            Ok(Freshness::Replayed)
        );
        assert_eq!(
            store.check_and_remember_now(&key(2), LONG),
            Ok(Freshness::Fresh)
        );
    }

    #[test]
    fn a_full_store_refuses_new_keys_and_still_knows_old_ones() {
        let store = MemoryReplayStore::new(3);
        for n in 0..3 {
            assert_eq!(
                store.check_and_remember_now(&key(n), LONG),
                Ok(Freshness::Fresh)
            );
        }
        assert_eq!(
            store.check_and_remember_now(&key(3), LONG),
            Err(ReplayStoreError::Full)
        );
        // Nothing was evicted to make room: every live key is still a replay.
        for n in 0..3 {
            assert_eq!(
                store.check_and_remember_now(&key(n), LONG),
                Ok(Freshness::Replayed)
            );
        }
        // A replay answered while full does not take a slot either.
        assert_eq!(
            store.check_and_remember_now(&key(4), LONG),
            Err(ReplayStoreError::Full)
        );
    }

    #[test]
    fn expired_entries_make_room_and_are_forgotten() {
        let store = MemoryReplayStore::new(2);
        let short = Duration::from_millis(50);
        assert_eq!(
            store.check_and_remember_now(&key(1), short),
            Ok(Freshness::Fresh)
        );
        assert_eq!(
            store.check_and_remember_now(&key(2), short),
            Ok(Freshness::Fresh)
        );
        assert_eq!(
            store.check_and_remember_now(&key(3), LONG),
            Err(ReplayStoreError::Full)
        );
        // Poll, bounded, until both entries have aged out (50 ms each).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match store.check_and_remember_now(&key(3), LONG) {
                Ok(Freshness::Fresh) => break,
                Err(ReplayStoreError::Full) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => panic!("expired entries never made room: {other:?}"),
            }
        }
        // Key 1 expired: remembered no more, so it is fresh again (and takes the last slot).
        assert_eq!(
            store.check_and_remember_now(&key(1), LONG),
            Ok(Freshness::Fresh)
        );
        assert_eq!(
            store.check_and_remember_now(&key(2), LONG),
            Err(ReplayStoreError::Full)
        );
    }

    #[test]
    fn concurrent_uses_of_one_key_give_one_fresh() {
        let store = Arc::new(MemoryReplayStore::new(1000));
        let fresh = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let store = Arc::clone(&store);
                    scope.spawn(move || store.check_and_remember_now(&key(7), LONG))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok())
                .filter(|r| *r == Some(Ok(Freshness::Fresh)))
                .count()
        });
        assert_eq!(fresh, 1);
        assert_eq!(store.live.load(Ordering::Acquire), 1);
    }
}
