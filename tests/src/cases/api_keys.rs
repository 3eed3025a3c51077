//! `/me` with `API_KEYS`: a key names its user; anything else is `401 invalid_api_key`.

use serde_json::json;

use super::Case;
use crate::sample::Sample;

/// `/me` with `API_KEYS`: a listed key is answered with its user; a missing, wrong, longer,
/// empty or repeated key is `401 invalid_api_key`; configured keys are never printed.
async fn api_key_names_its_user_and_wrong_keys_are_refused(bin: &str) {
    let s = Sample::start(bin, &[("API_KEYS", "alice:key-alice-123,bob:key-bob-456")]).await;
    let ok = s.get("/me", &[("x-api-key", "key-bob-456")]).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json, json!({ "user": "bob" }));
    for (what, headers) in [
        ("missing", vec![]),
        ("wrong", vec![("x-api-key", "key-bob-45")]),
        ("longer", vec![("x-api-key", "key-bob-4567")]),
        ("empty", vec![("x-api-key", "")]),
        (
            "two keys",
            vec![("x-api-key", "key-bob-456"), ("x-api-key", "key-alice-123")],
        ),
    ] {
        let resp = s.get("/me", &headers).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.text);
        assert_eq!(resp.error(), "invalid_api_key", "{what}");
    }
    let banner = s.stdout();
    assert!(
        !banner.contains("key-alice-123"),
        "configured keys are never printed"
    );
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[case!(api_key_names_its_user_and_wrong_keys_are_refused)];
