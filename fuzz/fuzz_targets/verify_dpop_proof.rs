//! Arbitrary bytes as a `DPoP` proof through `DpopVerifier::verify`, with an in-memory replay
//! store.
//!
//! A proof is signed by the key in its own header, so a mutated input cannot carry a valid
//! signature: every input must be refused as an invalid proof (never a panic, never the
//! replay store's `503`).

#![no_main]

use std::sync::{Arc, LazyLock};

use api_auth::{DpopError, DpopVerifier, MemoryReplayStore, PublicOrigin};
use api_auth_fuzz::runtime;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

static HARNESS: LazyLock<(Runtime, DpopVerifier)> = LazyLock::new(|| {
    let origin = PublicOrigin::parse("https://api.example.test").expect("an origin");
    let store = Arc::new(MemoryReplayStore::default());
    let verifier = DpopVerifier::builder(origin, store)
        .build()
        .expect("the default DPoP settings");
    (runtime(), verifier)
});

fuzz_target!(|data: &[u8]| {
    let (runtime, verifier) = &*HARNESS;
    let proof = String::from_utf8_lossy(data);
    let checked = runtime.block_on(verifier.verify(&proof, "GET", "/protected", "access-token"));
    match checked {
        Ok(outcome) => panic!("accepted a proof nobody signed: {}", outcome.jkt()),
        Err(DpopError::InvalidProof(_)) => {}
        Err(other) => panic!("not a proof refusal: {other:?}"),
    }
});
