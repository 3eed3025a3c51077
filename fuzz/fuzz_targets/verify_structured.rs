//! Tokens built from a fuzzed header and payload, signed with keys the verifier trusts, so
//! that inputs reach key selection and claim validation.
//!
//! Input: `header JSON NUL payload JSON [NUL signer]`; see `StructuredInput`. An accepted
//! token must satisfy every rule of the contract (algorithm, `crit`, `kid`, `exp`, `nbf`,
//! `iss`, `aud`); a refused one must get a well-formed `401 invalid_token`.

#![no_main]

use std::sync::LazyLock;

use api_auth_fuzz::StructuredHarness;
use libfuzzer_sys::fuzz_target;

static HARNESS: LazyLock<StructuredHarness> = LazyLock::new(StructuredHarness::new);

fuzz_target!(|data: &[u8]| HARNESS.check(data));
