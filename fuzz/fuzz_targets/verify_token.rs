//! Arbitrary bytes as a bearer token through `Auth::verify`, in development mode with the
//! token cache off.
//!
//! Nobody but the process itself holds the development signing key, so no input may be
//! accepted; every refusal must be a well-formed `401 invalid_token`.

#![no_main]

use std::sync::LazyLock;

use api_auth::Auth;
use api_auth_fuzz::{assert_token_refusal, development_auth, runtime};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

static HARNESS: LazyLock<(Runtime, Auth)> = LazyLock::new(|| {
    let runtime = runtime();
    let auth = development_auth(&runtime);
    (runtime, auth)
});

fuzz_target!(|data: &[u8]| {
    let (runtime, auth) = &*HARNESS;
    // Header values reach `verify` only as text; invalid UTF-8 is replaced, not skipped,
    // so that every input is exercised.
    let token = String::from_utf8_lossy(data);
    match runtime.block_on(auth.verify(&token)) {
        Ok(claims) => panic!("accepted a token signed by nobody: {claims:?}"),
        Err(error) => assert_token_refusal(&error),
    }
});
