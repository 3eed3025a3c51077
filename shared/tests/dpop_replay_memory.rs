//! What the in-memory DPoP replay store holds per entry, measured by a counting global
//! allocator over the whole process (`moka` frees some memory from other threads), so that
//! `MemoryReplayStore::BYTES_PER_ENTRY`, and the ceiling documented from it, is a measured
//! bound rather than a guess.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use api_auth::{Freshness, MemoryReplayStore, ReplayKey, ReplayStore};
use futures_util::FutureExt;

/// Counts the bytes allocated and not freed.
struct CountingAllocator;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is passed on to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(size(layout.size()), Ordering::SeqCst);
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(size(layout.size()), Ordering::SeqCst);
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(size(layout.size()), Ordering::SeqCst);
        ALLOCATIONS.fetch_sub(1, Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(size(new_size) - size(layout.size()), Ordering::SeqCst);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What the allocator adds to each allocation at most: glibc's `malloc` puts an 8-byte
/// header before each chunk and rounds it up to a multiple of 16 bytes.
const ALLOCATOR_OVERHEAD: isize = 16;

#[test]
fn an_entry_costs_at_most_the_documented_bytes() {
    // One more than a table of 65 536 buckets holds (7/8 of them): the count of clients has
    // just doubled its table, the worst ratio of table to entries.
    const ENTRIES: u32 = 57_345;
    let before = LIVE.load(Ordering::SeqCst);
    let allocations_before = ALLOCATIONS.load(Ordering::SeqCst);
    let store = MemoryReplayStore::new(u64::from(ENTRIES));
    let ttl = Duration::from_secs(300);
    // Each entry of its own client key: the worst case, where the store also counts as many
    // clients as entries.
    for n in 0..ENTRIES {
        let key = ReplayKey::for_proof(&n.to_string(), "jti");
        let answer = store
            .check_and_remember(&key, ttl)
            .now_or_never()
            .expect("the memory store answers at once");
        assert_eq!(answer, Ok(Freshness::Fresh));
    }
    // A replay of the first entry runs moka's pending housekeeping too.
    let first = ReplayKey::for_proof("0", "jti");
    assert_eq!(
        store.check_and_remember(&first, ttl).now_or_never(),
        Some(Ok(Freshness::Replayed))
    );
    let entries = isize::try_from(ENTRIES).unwrap_or(isize::MAX);
    let held = LIVE.load(Ordering::SeqCst) - before;
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - allocations_before;
    // Allocations are whole: round their count per entry up.
    let allocations_per_entry = (allocations + entries - 1) / entries;
    let per_entry = held / entries + allocations_per_entry * ALLOCATOR_OVERHEAD;
    let documented = isize::try_from(MemoryReplayStore::BYTES_PER_ENTRY).unwrap_or(isize::MAX);
    eprintln!(
        "memory replay store: {} bytes in {allocations_per_entry} allocations per entry \
         ({held} bytes, {allocations} allocations for {ENTRIES}); {per_entry} with the \
         allocator's overhead",
        held / entries
    );
    assert!(
        per_entry <= documented,
        "{per_entry} bytes per entry with the allocator's overhead exceed {documented}"
    );
    drop(store);
}
