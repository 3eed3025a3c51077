//! What a token's claims cost in memory, whatever their shape (the contract: "a cache full of
//! the largest tokens the contract allows, whatever their shape, keeps the process under
//! 256 MiB resident ... not an estimate that a shape of claims can outgrow").
//!
//! For tokens just under the 8 KiB limit whose claims are long arrays of numbers, many small
//! objects, chains of nested one-member objects, long strings, objects whose members come out
//! of order, long `roles` arrays or numbers that `serde_json` writes longer than they came:
//! verifying one peaks below [`PEAK_PER_TOKEN_BYTE`] times its length in heap, and a token
//! cache filled with them holds no more than its 64 MiB budget. Measured by a counting global
//! allocator over the whole process, one test at a time (`moka` frees some of its memory
//! later, from whichever thread collects it, so a per-thread count would be wrong).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

use api_auth::{Auth, Issuer, KeySource};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::FutureExt;

/// Counts the bytes allocated and not freed, and their peak.
struct CountingAllocator;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn record(delta: isize) {
    let now = LIVE.fetch_add(delta, Ordering::SeqCst) + delta;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is passed on to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        record(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(size(new_size) - size(layout.size()));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Held by each test while it measures: one measurement at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result, the bytes it left allocated and the peak of the
/// allocations above where they stood before it.
fn measure<T>(f: impl FnOnce() -> T) -> (T, isize, isize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = f();
    let held = LIVE.load(Ordering::SeqCst) - before;
    let peak = PEAK.load(Ordering::SeqCst) - before;
    (result, held, peak)
}

const ISSUER: &str = "https://issuer.example";
const SECRET: [u8; 32] = [7; 32];
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The token cache's memory budget, as the README states it.
const CACHE_BUDGET_BYTES: isize = 64 * 1024 * 1024;
/// Verifying a token never holds more than this many bytes of heap per byte of token at once.
/// Measured: about 2.2 for most shapes (the decoded payload, its canonical text and, when its
/// members must be sorted, a copy of the text); 6.5 for numbers that `serde_json` writes longer
/// than they came (`1e15` as `1000000000000000.0`: text almost four times the payload).
const PEAK_PER_TOKEN_BYTE: usize = 8;
/// serde_json refuses a 128th level of nesting; the claims object and the array `a` take two.
const MAX_CHAIN_DEPTH: usize = 125;

/// A shape of claims: the claim it fills, and its JSON text with `n` items.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    claim: &'static str,
    items: fn(usize) -> String,
}

const NUMBERS: Shape = Shape {
    name: "numbers",
    claim: "a",
    items: numbers,
};
const SMALL_OBJECTS: Shape = Shape {
    name: "small objects",
    claim: "a",
    items: small_objects,
};
const NESTED_OBJECTS: Shape = Shape {
    name: "nested objects",
    claim: "a",
    items: nested_objects,
};
const LONG_STRING: Shape = Shape {
    name: "long string",
    claim: "a",
    items: long_string,
};
const UNSORTED_MEMBERS: Shape = Shape {
    name: "unsorted members",
    claim: "a",
    items: unsorted_members,
};
const ROLES: Shape = Shape {
    name: "roles",
    claim: "roles",
    items: empty_strings,
};
const LONG_FLOATS: Shape = Shape {
    name: "long floats",
    claim: "a",
    items: long_floats,
};
const SHAPES: [Shape; 7] = [
    NUMBERS,
    SMALL_OBJECTS,
    NESTED_OBJECTS,
    LONG_STRING,
    UNSORTED_MEMBERS,
    ROLES,
    LONG_FLOATS,
];

fn numbers(n: usize) -> String {
    format!("[{}]", vec!["0"; n].join(","))
}

fn small_objects(n: usize) -> String {
    format!("[{}]", vec![r#"{"":0}"#; n].join(","))
}

/// `n` one-member objects, in chains as deep as the parser allows.
fn nested_objects(n: usize) -> String {
    let chain = |depth: usize| format!("{}0{}", r#"{"":"#.repeat(depth), "}".repeat(depth));
    let mut chains = vec![chain(MAX_CHAIN_DEPTH); n / MAX_CHAIN_DEPTH];
    if !n.is_multiple_of(MAX_CHAIN_DEPTH) {
        chains.push(chain(n % MAX_CHAIN_DEPTH));
    }
    format!("[{}]", chains.join(","))
}

fn long_string(n: usize) -> String {
    format!("\"{}\"", "x".repeat(n))
}

/// An object whose `n` members come in descending order: it must be sorted.
fn unsorted_members(n: usize) -> String {
    let members: Vec<String> = (0..n).rev().map(|i| format!("\"{i:04}\":0")).collect();
    format!("{{{}}}", members.join(","))
}

/// Numbers that `serde_json` writes four times longer (`1e15` as `1000000000000000.0`).
fn long_floats(n: usize) -> String {
    format!("[{}]", vec!["1e15"; n].join(","))
}

/// Empty strings (as `roles`, each is kept as a string with its end).
fn empty_strings(n: usize) -> String {
    format!("[{}]", vec![r#""""#; n].join(","))
}

/// The payload of token `index`.
fn payload(shape: Shape, n: usize, index: usize) -> String {
    format!(
        r#"{{"iss":"{ISSUER}","exp":4000000000,"sub":"u{index:08}","{}":{}}}"#,
        shape.claim,
        (shape.items)(n)
    )
}

/// An HS256 token of this payload.
fn token(payload: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &SECRET),
        input.as_bytes(),
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The largest item count whose token is at most 8 KiB (every index gives tokens of one
/// length).
fn largest(shape: Shape) -> usize {
    let fits = |n| token(&payload(shape, n, 0)).len() <= MAX_TOKEN_BYTES;
    let (mut low, mut high) = (1, 2);
    while fits(high) {
        (low, high) = (high, high * 2);
    }
    while high - low > 1 {
        let middle = (low + high) / 2;
        if fits(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

/// A verifier of [`ISSUER`]'s HS256 tokens that remembers `cache_size` of them.
fn auth(cache_size: usize) -> Auth {
    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    Auth::builder()
        .issuer(Issuer::new(ISSUER, KeySource::jwks_document(jwks)).expect("issuer"))
        .hs256_secret(SECRET)
        .token_cache_size(cache_size)
        .build()
        .expect("Auth")
}

/// Verifies `token`, which needs no key fetch and so completes at once.
fn verify(auth: &Auth, token: &str) -> api_auth::Claims {
    match auth.verify(token).now_or_never() {
        Some(Ok(claims)) => claims,
        other => panic!("{other:?}"),
    }
}

#[test]
fn verifying_a_token_peaks_below_a_small_multiple_of_its_size() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let auth = auth(0);
    let mut failures = Vec::new();
    for shape in SHAPES {
        let name = shape.name;
        let token = token(&payload(shape, largest(shape), 0));
        // A first verification settles what is allocated once (metrics handles).
        drop(verify(&auth, &token));
        let (claims, _, peak) = measure(|| verify(&auth, &token));
        drop(claims);
        let limit = PEAK_PER_TOKEN_BYTE * token.len();
        println!("{name}: {} bytes, peak {peak} bytes", token.len());
        if peak > size(limit) {
            failures.push(format!(
                "{name}: a token of {} bytes peaked at {peak} bytes (limit {limit})",
                token.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Verifies more distinct tokens of `shape` than the budget holds; asserts the cache holds no
/// more than its budget.
fn fill_cache_with(shape: Shape) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let name = shape.name;
    // A count far above what the budget holds, so that memory, not count, bounds the cache.
    let auth = auth(1_000_000);
    let n = largest(shape);
    let first = token(&payload(shape, n, 0));
    drop(verify(&auth, &first));
    // At least 6 KiB of claims text per token: 11,000 of them are more than the budget.
    let ((), held, _) = measure(|| {
        for index in 1..=11_000 {
            drop(verify(&auth, &token(&payload(shape, n, index))));
        }
    });
    println!("{name}: {held} bytes held");
    // What `moka` holds besides the entries (its hash table's spare slots and the writes not
    // yet applied) stays within 1 MiB.
    let allowance = 1024 * 1024;
    assert!(
        held <= CACHE_BUDGET_BYTES + allowance,
        "{name}: the cache holds {held} bytes, over its budget of {CACHE_BUDGET_BYTES}"
    );
}

#[test]
fn a_cache_full_of_numbers_holds_its_budget() {
    fill_cache_with(NUMBERS);
}

#[test]
fn a_cache_full_of_small_objects_holds_its_budget() {
    fill_cache_with(SMALL_OBJECTS);
}

#[test]
fn a_cache_full_of_nested_objects_holds_its_budget() {
    fill_cache_with(NESTED_OBJECTS);
}

#[test]
fn a_cache_full_of_long_strings_holds_its_budget() {
    fill_cache_with(LONG_STRING);
}

#[test]
fn a_cache_full_of_roles_holds_its_budget() {
    fill_cache_with(ROLES);
}
