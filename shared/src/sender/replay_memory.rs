//! A replay store in the process's memory, bounded, shared fairly between client keys, that
//! fails closed when full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::replay::{
    ClientDigest, Freshness, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError,
};

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
/// **Shared fairly.** It counts the live entries of each client key (the proof key's
/// thumbprint, [`ReplayKey::client`]). While more than half of the capacity is live, a
/// client key that holds more than 1 % of the capacity is refused with
/// [`ReplayStoreError::ClientOverShare`] (the caller answers `429` with `Retry-After`), and
/// every other key is still served: one key sending fresh proofs as fast as it can holds at
/// most half the store, then 1 % of it, and cannot fill it. A key at or below its share, or
/// any key while the store is at most half full, is never refused for its share (only
/// the hard capacity remains, which many keys flooding together can still reach). The
/// counts live only while their key has live entries.
///
/// **Memory.** Each entry costs about [`BYTES_PER_ENTRY`](Self::BYTES_PER_ENTRY) bytes of
/// heap (the 32-byte key, its lifetime and client, `moka`'s bookkeeping, and the count of
/// its client when each entry has a client of its own, measured by
/// `tests/dpop_replay_memory.rs`), so the ceiling is `capacity × BYTES_PER_ENTRY`: 51 MiB
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
/// assert_eq!(store.live(), 1);
/// # Ok(())
/// # }
/// ```
pub struct MemoryReplayStore {
    /// Each key with the time it is remembered for and its client.
    entries: moka::sync::Cache<[u8; 32], Entry>,
    /// Entries inserted and not yet reported removed by `moka`. Counted here rather than
    /// read from `entry_count`, which lags behind inserts; this count runs ahead of the
    /// truth (a removal is reported a little after it happens), never behind, so the bound
    /// is never exceeded.
    live: Arc<AtomicU64>,
    /// The live entries of each client key, counted the same way as `live`.
    clients: Arc<Clients>,
    capacity: u64,
}

/// What the store keeps with each key.
#[derive(Clone, Copy)]
struct Entry {
    /// How long the key is remembered.
    ttl: Duration,
    /// Whose proof it was.
    client: ClientDigest,
}

/// Expires each entry after the time it was remembered for.
struct AfterItsTtl;

impl Expiry<[u8; 32], Entry> for AfterItsTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        entry: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// The live entries of one client key (16 bytes, next to its 16-byte digest).
struct Holding {
    /// Entries taken and not yet reported removed.
    live: u64,
    /// When the last of them expires at the latest, in whole seconds from the epoch of its
    /// [`Clients`], rounded up.
    until: u64,
}

/// The client keys that hold live entries: at most one per live entry, so bounded by the
/// capacity.
struct Clients {
    table: Mutex<HashMap<ClientDigest, Holding>>,
    epoch: Instant,
}

impl Clients {
    fn new() -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientDigest, Holding>> {
        // The map is consistent after every statement; a panic elsewhere leaves it usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whole seconds from the epoch to `at`, rounded up when `up`.
    fn seconds(&self, at: Instant, up: bool) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        since
            .as_secs()
            .saturating_add(u64::from(up && since.subsec_nanos() > 0))
    }

    /// The live entries of `client`.
    #[cfg(test)]
    fn live(&self, client: &ClientDigest) -> u64 {
        self.lock().get(client).map_or(0, |holding| holding.live)
    }

    /// Takes one entry for `client` that expires by `until` ([`Clients::seconds`]), unless
    /// `refused` says that the entries it holds are too many; then answers when they have
    /// expired.
    fn take(
        &self,
        client: &ClientDigest,
        until: u64,
        refused: impl FnOnce(u64) -> bool,
    ) -> Result<(), u64> {
        let mut clients = self.lock();
        if let Some(holding) = clients.get(client)
            && refused(holding.live)
        {
            return Err(holding.until);
        }
        let holding = clients.entry(*client).or_insert(Holding { live: 0, until });
        holding.live = holding.live.saturating_add(1);
        holding.until = holding.until.max(until);
        Ok(())
    }

    /// Gives back one entry of `client`; a key with no live entry left is forgotten.
    fn release(&self, client: &ClientDigest) {
        let mut clients = self.lock();
        let Some(holding) = clients.get_mut(client) else {
            return;
        };
        holding.live = holding.live.saturating_sub(1);
        if holding.live == 0 {
            clients.remove(client);
            // A flood of many keys leaves a large table behind: give the room back once
            // it is mostly empty (amortised, as the table halves at most every few removals).
            if clients.capacity() > 64 && clients.len().saturating_mul(4) < clients.capacity() {
                let keep = clients.len().saturating_mul(2);
                clients.shrink_to(keep);
            }
        }
    }
}

impl MemoryReplayStore {
    /// The capacity of [`MemoryReplayStore::default`].
    pub const DEFAULT_CAPACITY: u64 = 100_000;

    /// Heap bytes per entry, an upper bound: measured with a counting allocator (`moka`
    /// 0.12.16, 64-bit) in the worst case, a client key per entry and the table of their
    /// counts just doubled: 392 bytes in 8 allocations, 520 with glibc's 16 bytes of
    /// overhead on each; rounded up. The ceiling of the store is `capacity` times this.
    pub const BYTES_PER_ENTRY: u64 = 528;

    /// A store of at most `capacity` live entries (at least one).
    pub fn new(capacity: u64) -> Self {
        let live = Arc::new(AtomicU64::new(0));
        let clients = Arc::new(Clients::new());
        let (removed, released) = (Arc::clone(&live), Arc::clone(&clients));
        let entries = moka::sync::Cache::builder()
            // No `max_capacity`: moka would evict (or refuse to admit) entries to stay
            // under it, silently, and either lets a replay through. The bound is `live`.
            .expire_after(AfterItsTtl)
            .eviction_listener(move |_key, entry: Entry, _cause| {
                // Every entry inserted is reported removed exactly once (expired, or
                // replaced once expired).
                let _ = removed.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(1))
                });
                released.release(&entry.client);
            })
            .build();
        Self {
            entries,
            live,
            clients,
            capacity: capacity.max(1),
        }
    }

    /// The most live entries it holds.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The live entries it holds: counted ahead of the truth, as an entry that has just
    /// expired may still count until `moka`'s next housekeeping.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Acquire)
    }

    /// Whether more than half of the capacity is live, so that shares count.
    fn over_half(&self) -> bool {
        self.live().saturating_mul(2) > self.capacity
    }

    /// Whether `held` live entries are more than a client's share, 1 % of the capacity.
    fn over_share(&self, held: u64) -> bool {
        held.saturating_mul(100) > self.capacity
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

    /// Takes an entry of `client` expiring `ttl` from `now`, unless the client holds more
    /// than its share while the store is over half full; then the seconds until its
    /// entries have expired.
    fn take_share(&self, client: &ClientDigest, now: Instant, ttl: Duration) -> Result<(), u64> {
        let until = self
            .clients
            .seconds(now.checked_add(ttl).unwrap_or(now), true);
        let refused = |held| self.over_share(held) && self.over_half();
        if self.clients.take(client, until, refused).is_ok() {
            return Ok(());
        }
        // The counts run ahead of moka's housekeeping: have it done (without holding the
        // counts, which its removals update) before refusing.
        self.entries.run_pending_tasks();
        self.clients.take(client, until, refused).map_err(|until| {
            let now = self.clients.seconds(Instant::now(), false);
            until.saturating_sub(now).max(1)
        })
    }

    fn check_and_remember_now(
        &self,
        key: &ReplayKey,
        ttl: Duration,
    ) -> Result<Freshness, ReplayStoreError> {
        // At least a millisecond: an entry that expires at once remembers nothing.
        let ttl = ttl.max(Duration::from_millis(1));
        let client = key.client();
        if let Err(retry_after_secs) = self.take_share(client, Instant::now(), ttl) {
            return if self.entries.contains_key(key.as_bytes()) {
                Ok(Freshness::Replayed)
            } else {
                Err(ReplayStoreError::ClientOverShare { retry_after_secs })
            };
        }
        if !self.reserve() {
            // Removals of expired entries are reported when moka does its housekeeping;
            // have it done now before answering that the store is full.
            self.entries.run_pending_tasks();
            if !self.reserve() {
                self.clients.release(client);
                return if self.entries.contains_key(key.as_bytes()) {
                    Ok(Freshness::Replayed)
                } else {
                    Err(ReplayStoreError::Full)
                };
            }
        }
        // `or_insert_with` runs through moka's value initializer, which lets one of several
        // concurrent calls for a key insert and shows the others its entry. (`or_insert` is
        // a lookup then an insert: two concurrent uses of one proof could both be fresh.)
        let entry = self
            .entries
            .entry(*key.as_bytes())
            .or_insert_with(|| Entry {
                ttl,
                client: *client,
            });
        if entry.is_fresh() {
            Ok(Freshness::Fresh)
        } else {
            self.release();
            self.clients.release(client);
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
            .field("live", &self.live())
            .field("clients", &self.clients.lock().len())
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

    /// A proof of client `n`: each of its own, so that shares never count.
    fn key(n: u32) -> ReplayKey {
        ReplayKey::for_proof(&format!("jkt {n}"), "jti")
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
        assert_eq!(store.clients.live(key(7).client()), 1);
    }

    #[test]
    fn a_proof_used_at_the_same_moment_by_many_threads_is_fresh_once() {
        const THREADS: usize = 8;
        let store = MemoryReplayStore::new(100_000);
        for round in 0..300 {
            let proof = ReplayKey::for_proof("one client", &format!("jti {round}"));
            let start = std::sync::Barrier::new(THREADS);
            let fresh = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            store.check_and_remember_now(&proof, LONG)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .filter_map(|h| h.join().ok())
                    .filter(|r| *r == Ok(Freshness::Fresh))
                    .count()
            });
            assert_eq!(fresh, 1, "round {round}: one proof accepted {fresh} times");
        }
        assert_eq!(store.live.load(Ordering::Acquire), 300);
    }

    fn proof_of(client: &str, n: u32) -> ReplayKey {
        ReplayKey::for_proof(client, &n.to_string())
    }

    #[test]
    fn one_client_over_its_share_is_refused_once_the_store_is_half_full() {
        // Half is 500 entries, a share 10.
        let store = MemoryReplayStore::new(1000);
        // While at most half full, no key is refused, however many it holds.
        for n in 0..501 {
            assert_eq!(
                store.check_and_remember_now(&proof_of("flood", n), LONG),
                Ok(Freshness::Fresh),
                "proof {n}"
            );
        }
        // Now over half full, and the flood holds 501 entries, more than 10.
        let refused = store.check_and_remember_now(&proof_of("flood", 501), LONG);
        let Err(ReplayStoreError::ClientOverShare { retry_after_secs }) = refused else {
            panic!("the flooding key was not refused for its share: {refused:?}");
        };
        // Until its entries have expired: at most their lifetime (and a second of rounding to
        // whole seconds), at least a second.
        assert!((1..=LONG.as_secs() + 1).contains(&retry_after_secs));
        // Refused proofs take no room, and a replay of the flood is still a replay.
        assert_eq!(store.live(), 501);
        assert_eq!(store.clients.live(proof_of("flood", 0).client()), 501);
        assert_eq!(
            store.check_and_remember_now(&proof_of("flood", 3), LONG),
            Ok(Freshness::Replayed)
        );
        // Others are served up to their share (10) and one more, then refused in turn.
        for n in 0..11 {
            assert_eq!(
                store.check_and_remember_now(&proof_of("other", n), LONG),
                Ok(Freshness::Fresh)
            );
        }
        assert!(matches!(
            store.check_and_remember_now(&proof_of("other", 11), LONG),
            Err(ReplayStoreError::ClientOverShare { .. })
        ));
        // A key at or under its share is never refused for it.
        for client in ["third", "fourth"] {
            for n in 0..10 {
                assert_eq!(
                    store.check_and_remember_now(&proof_of(client, n), LONG),
                    Ok(Freshness::Fresh)
                );
            }
        }
        assert_eq!(store.live(), 501 + 11 + 20);
    }

    #[test]
    fn a_flooding_key_cannot_fill_the_store() {
        let store = MemoryReplayStore::new(1000);
        let refused = (0..5000)
            .filter(|n| {
                store
                    .check_and_remember_now(&proof_of("flood", *n), LONG)
                    .is_err()
            })
            .count();
        assert_eq!(refused, 5000 - 501);
        assert_eq!(store.live(), 501);
        // Room is left for 44 other keys at their full share (11 each): 485 entries.
        for client in 0..44 {
            for n in 0..11 {
                assert_eq!(
                    store.check_and_remember_now(&proof_of(&format!("client {client}"), n), LONG),
                    Ok(Freshness::Fresh)
                );
            }
        }
    }

    #[test]
    fn client_counts_return_to_zero_when_entries_leave() {
        let store = MemoryReplayStore::new(100);
        for n in 0..5 {
            assert_eq!(
                store.check_and_remember_now(&proof_of("a", n), LONG),
                Ok(Freshness::Fresh)
            );
        }
        assert_eq!(
            store.check_and_remember_now(&proof_of("b", 0), LONG),
            Ok(Freshness::Fresh)
        );
        // A replay takes no count.
        assert_eq!(
            store.check_and_remember_now(&proof_of("b", 0), LONG),
            Ok(Freshness::Replayed)
        );
        assert_eq!(store.clients.live(proof_of("a", 0).client()), 5);
        assert_eq!(store.clients.live(proof_of("b", 0).client()), 1);
        // Every removal goes through the listener, as expiry does.
        store.entries.invalidate_all();
        store.entries.run_pending_tasks();
        assert_eq!(store.live(), 0);
        assert_eq!(store.clients.live(proof_of("a", 0).client()), 0);
        assert!(store.clients.lock().is_empty());
    }

    #[test]
    fn client_counts_return_to_zero_after_expiry() {
        let store = MemoryReplayStore::new(100);
        let short = Duration::from_millis(20);
        for n in 0..3 {
            assert_eq!(
                store.check_and_remember_now(&proof_of("a", n), short),
                Ok(Freshness::Fresh)
            );
        }
        let long_lived = proof_of("b", 0);
        assert_eq!(
            store.check_and_remember_now(&long_lived, LONG),
            Ok(Freshness::Fresh)
        );
        // Poll, bounded, until the three short entries have aged out (20 ms each).
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.clients.live(proof_of("a", 0).client()) > 0 {
            assert!(
                Instant::now() < deadline,
                "expired entries were never counted out"
            );
            std::thread::sleep(Duration::from_millis(5));
            store.entries.run_pending_tasks();
        }
        assert_eq!(store.live(), 1);
        assert_eq!(store.clients.lock().len(), 1);
        assert_eq!(store.clients.live(long_lived.client()), 1);
    }

    #[test]
    fn the_client_table_gives_its_room_back() {
        let store = MemoryReplayStore::new(10_000);
        for n in 0..2000 {
            assert_eq!(
                store.check_and_remember_now(&proof_of(&n.to_string(), 0), LONG),
                Ok(Freshness::Fresh)
            );
        }
        let grown = store.clients.lock().capacity();
        assert!(grown >= 2000);
        store.entries.invalidate_all();
        store.entries.run_pending_tasks();
        assert!(store.clients.lock().capacity() < grown / 4);
    }
}
