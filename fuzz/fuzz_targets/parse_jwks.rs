//! Arbitrary bytes as a fetched JWK set document through `api_auth::parse_jwks`, with the
//! production key limit.
//!
//! Parsing must never panic; a set it returns holds between one and the limit of keys, with
//! unique key ids.

#![no_main]

use std::collections::HashSet;

use api_auth::{KeySetPolicy, parse_jwks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max_keys = KeySetPolicy::default().max_keys;
    if let Ok(set) = parse_jwks(data, max_keys) {
        assert!(!set.is_empty(), "an accepted key set is empty");
        assert!(set.len() <= max_keys, "{} keys kept", set.len());
        let mut seen = HashSet::new();
        for kid in set.kids() {
            assert!(seen.insert(kid), "duplicate kid {kid:?} kept");
            assert!(set.contains_kid(kid));
        }
    }
});
