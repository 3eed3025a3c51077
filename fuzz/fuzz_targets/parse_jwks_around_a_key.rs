//! Arbitrary bytes as the entries after a real key in a fetched JWK set, through
//! `api_auth::parse_jwks` with the production key limit.
//!
//! Whatever follows it, a usable first key is kept: when `{"keys":[<key>,<input>]}` is JSON
//! that `serde_json` can read (within its recursion limit; no lone surrogate in a string, which
//! refuses the whole document), the set parses and holds the key. Nothing an entry holds (any
//! type, any nesting, repeated members) spoils another entry.

#![no_main]

use api_auth::{KeySetPolicy, parse_jwks};
use libfuzzer_sys::fuzz_target;

/// A real Ed25519 public key (RFC 8037 §A.2).
const KEY: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"real","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

fuzz_target!(|data: &[u8]| {
    let mut document = format!(r#"{{"keys":[{KEY},"#).into_bytes();
    document.extend_from_slice(data);
    document.extend_from_slice(b"]}");
    let max_keys = KeySetPolicy::default().max_keys;
    let parsed = parse_jwks(&document, max_keys);
    if serde_json::from_slice::<serde_json::Value>(&document).is_ok() {
        let set = parsed.expect("a key set whose first key is usable");
        assert!(set.contains_kid("real"));
        assert!(set.len() <= max_keys, "{} keys kept", set.len());
    }
});
