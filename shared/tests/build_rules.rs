//! The configurations `AuthBuilder::build` refuses, each with the error that names why.

use std::time::Duration;

use api_auth::{Algorithm, Auth, BuildError, Issuer, KeySetPolicy, KeySource};

#[test]
fn refuses_impossible_combinations() {
    let doc = KeySource::jwks_document(r#"{"keys":[]}"#);
    assert!(matches!(
        Auth::builder().build(),
        Err(BuildError::NoKeySource)
    ));
    assert!(matches!(
        Auth::builder().hs256_secret("short").build(),
        Err(BuildError::WeakHs256Secret)
    ));
    assert!(matches!(
        Auth::builder()
            .hs256_secret([7u8; 32])
            .leeway(Duration::from_secs(301))
            .build(),
        Err(BuildError::LeewayTooLarge)
    ));
    assert!(matches!(
        Auth::builder()
            .hs256_secret([7u8; 32])
            .algorithms([])
            .build(),
        Err(BuildError::NoAlgorithm)
    ));
    assert!(matches!(
        Auth::builder()
            .keys_without_issuer(doc.clone())
            .algorithms([Algorithm::HS256])
            .build(),
        Err(BuildError::Hs256WithoutSecret)
    ));
    assert!(matches!(
        Auth::builder().keys_without_issuer(doc.clone()).build(),
        Err(BuildError::KeySet { .. })
    ));
    let issuer = Issuer::new("urn:a", doc.clone()).unwrap();
    assert!(matches!(
        Auth::builder()
            .issuer(issuer.clone())
            .issuer(issuer.clone())
            .build(),
        Err(BuildError::DuplicateIssuer(_))
    ));
    assert!(matches!(
        Auth::builder()
            .issuer(issuer)
            .keys_without_issuer(doc)
            .build(),
        Err(BuildError::MixedIssuers)
    ));
}

#[test]
fn key_set_timings_outside_their_ranges_are_refused() {
    let defaults = KeySetPolicy::default();
    for (policy, setting) in [
        (
            KeySetPolicy {
                refetch_cooldown: Duration::ZERO,
                ..defaults.clone()
            },
            "refetch_cooldown",
        ),
        (
            KeySetPolicy {
                refetch_cooldown: Duration::from_secs(3601),
                ..defaults.clone()
            },
            "refetch_cooldown",
        ),
        (
            KeySetPolicy {
                min_ttl: Duration::from_secs(9),
                ..defaults.clone()
            },
            "min_ttl",
        ),
        (
            KeySetPolicy {
                min_ttl: Duration::from_secs(86_401),
                ..defaults.clone()
            },
            "min_ttl",
        ),
        (
            KeySetPolicy {
                max_stale: Duration::from_secs(604_801),
                ..defaults.clone()
            },
            "max_stale",
        ),
    ] {
        let refused = Auth::builder()
            .hs256_secret([7u8; 32])
            .key_set_policy(policy)
            .build()
            .unwrap_err();
        assert!(
            matches!(&refused, BuildError::KeySetPolicy(out) if out.setting == setting),
            "{refused}"
        );
    }
    for edge in [
        KeySetPolicy {
            refetch_cooldown: Duration::from_secs(1),
            ..defaults.clone()
        },
        KeySetPolicy {
            min_ttl: Duration::from_secs(10),
            ..defaults.clone()
        },
        KeySetPolicy {
            max_stale: Duration::ZERO,
            ..defaults.clone()
        },
        KeySetPolicy {
            max_stale: Duration::from_secs(604_800),
            ..defaults.clone()
        },
    ] {
        assert!(
            Auth::builder()
                .hs256_secret([7u8; 32])
                .key_set_policy(edge)
                .build()
                .is_ok()
        );
    }
}

#[test]
fn a_key_set_url_with_credentials_never_shows_them() {
    let source = KeySource::jwks_url("https://svc:hunter2@idp.example/keys").unwrap();
    let builder = Auth::builder().keys_without_issuer(source);
    let shown = format!("{builder:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn remote_keys_need_a_runtime() {
    let issuer = Issuer::discover("https://idp.example").unwrap();
    assert!(matches!(
        Auth::builder().issuer(issuer).build(),
        Err(BuildError::NoRuntime)
    ));
}

#[test]
fn a_missing_key_file_is_named() {
    let err = Auth::builder()
        .keys_without_issuer(KeySource::jwks_file("/nonexistent/jwks.json"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/jwks.json"), "{err}");
}
