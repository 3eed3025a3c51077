//! Arbitrary bytes as a fetched OpenID discovery document through
//! `api_auth::discovery_jwks_uri`, for an `https` issuer.
//!
//! Reading must never panic; a `jwks_uri` it returns is an `https` URL (never a downgrade
//! from the issuer's scheme), and only when the document is JSON whose `issuer` is the
//! configured one (OpenID Connect Discovery 1.0 §4.3).

#![no_main]

use api_auth::discovery_jwks_uri;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const ISSUER: &str = "https://idp.fuzz.test";

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(url)) = discovery_jwks_uri(data, ISSUER) {
        assert!(url.starts_with("https://"), "jwks_uri {url:?} for an https issuer");
        // Where serde_json can build the document (no deeper than its recursion limit), its
        // `issuer` is the configured one.
        if let Ok(document) = serde_json::from_slice::<Value>(data) {
            let issuer = document.get("issuer").and_then(Value::as_str);
            assert!(
                issuer == Some(ISSUER) || issuer == Some("https://idp.fuzz.test/"),
                "accepted issuer {issuer:?}"
            );
        }
    }
});
