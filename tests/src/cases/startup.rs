//! Start-up: configuration that is wrong or would be misread stops the sample with a short
//! error naming the variable (and never repeating a secret); configuration that starts but
//! is risky is warned about.

use super::Case;
use super::support::{remote, wait_logs};
use crate::sample::Sample;

/// Bad configuration stops start-up with a one-line error naming the variable.
async fn bad_values_stop_startup_naming_the_variable(bin: &str) {
    for (var, value) in [
        ("AUTH_ISSUER", "not a url"),
        ("AUTH_JWKS_URL", "ftp://example.com/keys"),
        ("AUTH_ALGORITHMS", "RS256,XS999"),
        ("AUTH_ALGORITHMS", "HS256"),
        ("AUTH_LEEWAY_SECS", "soon"),
        ("SHARED_SECRET", ""),
        ("API_KEYS", "just-a-key"),
        ("PORT", "http"),
    ] {
        let (code, stderr) = Sample::start_failure(bin, &[(var, value)]).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{var}={value:?} started (exit {code:?})"
        );
        assert!(
            stderr.contains(var),
            "{var}={value:?}: error does not name it:\n{stderr}"
        );
        assert!(
            stderr.trim().lines().count() <= 3,
            "{var}: not a short error:\n{stderr}"
        );
    }
}

/// Values that would be misread are start-up errors: one line, naming the variable, non-zero.
async fn misleading_configuration_refused(bin: &str) {
    let hs_padded = " 0123456789abcdef0123456789abcdef";
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("AUTH_ISSUER", &[("AUTH_ISSUER", "")]),
        ("AUTH_ISSUER", &[("AUTH_ISSUER", "  ")]),
        ("AUTH_JWKS_URL", &[("AUTH_JWKS_URL", "")]),
        ("AUTH_AUDIENCE", &[("AUTH_AUDIENCE", "")]),
        ("SHARED_SECRET", &[("SHARED_SECRET", " s3cret")]),
        ("SHARED_SECRET", &[("SHARED_SECRET", "s3cret ")]),
        // Under 32 bytes: within reach of guessing.
        ("SHARED_SECRET", &[("SHARED_SECRET", "s3cret")]),
        (
            "SHARED_SECRET",
            &[("SHARED_SECRET", "letmein-letmein-letmein-letmein")],
        ),
        (
            "SHARED_SECRET_PREVIOUS",
            &[(
                "SHARED_SECRET_PREVIOUS",
                "previous-gateway-secret-0d5e8a2f7c",
            )],
        ),
        (
            "SHARED_SECRET_PREVIOUS",
            &[
                ("SHARED_SECRET", "current-gateway-secret-6b1f9e3a0d42"),
                ("SHARED_SECRET_PREVIOUS", "s3cret"),
            ],
        ),
        // An issuer identifier has no query (RFC 8414 §2).
        (
            "AUTH_ISSUER",
            &[("AUTH_ISSUER", "https://idp.example/?sig=abc")],
        ),
        // Whitespace after a key belongs to the key, whatever the list's separators.
        ("API_KEYS", &[("API_KEYS", "alice:topsecret ")]),
        ("API_KEYS", &[("API_KEYS", "alice:k1 ,bob:k2")]),
        ("AUTH_HS256_SECRET", &[("AUTH_HS256_SECRET", hs_padded)]),
        ("API_KEYS", &[("API_KEYS", "alice: key-a")]),
        ("AUTH_LEEWAY_SECS", &[("AUTH_LEEWAY_SECS", "99999999999")]),
        ("AUTH_LEEWAY_SECS", &[("AUTH_LEEWAY_SECS", "301")]),
        ("AUTH_DEV_MODE", &[("AUTH_DEV_MODE", "yes")]),
        (
            "AUTH_DEV_MODE",
            &[
                ("AUTH_DEV_MODE", "1"),
                ("AUTH_ISSUER", "https://idp.example"),
            ],
        ),
        (
            "AUTH_DEV_MODE",
            &[
                ("AUTH_DEV_MODE", "1"),
                ("AUTH_JWKS_URL", "https://idp.example/jwks"),
            ],
        ),
        ("AUTH_ISSUER", &[("HOST", "0.0.0.0")]),
    ];
    for (var, env) in cases {
        let (code, stderr) = Sample::start_failure(bin, env).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{env:?} started (exit {code:?})"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{env:?}: {stderr}");
        assert!(
            stderr.contains(var),
            "{env:?}: does not name {var}: {stderr}"
        );
        for (name, value) in *env {
            if name.contains("SECRET") || *name == "API_KEYS" {
                assert!(!stderr.contains(value.trim()), "{name}: secret in {stderr}");
            }
        }
    }
}

/// `AUTH_ISSUER` with credentials is a start-up error that names the variable and does not
/// repeat them: an issuer identifier never carries any.
async fn issuer_with_credentials_refused(bin: &str) {
    for issuer in [
        "https://svc:hunter2-pw@idp.example",
        "https://hunter2-pw@idp.example/tenant",
        "https://a.example,https://svc:hunter2-pw@idp.example",
    ] {
        let (code, stderr) = Sample::start_failure(bin, &[("AUTH_ISSUER", issuer)]).await;
        assert!(code.is_some_and(|c| c != 0), "{issuer} started");
        assert!(stderr.contains("AUTH_ISSUER"), "{issuer}: {stderr}");
        assert!(stderr.contains("credentials"), "{issuer}: {stderr}");
        assert!(
            !stderr.contains("hunter2-pw"),
            "{issuer} repeated: {stderr}"
        );
    }
}

/// The key set timings have ranges; a value outside one is a start-up error naming its
/// variable (`AUTH_JWKS_MIN_TTL_SECS=0` with a provider sending `max-age=0` would make the
/// background refresh a busy loop).
async fn key_set_timings_out_of_range_stop_startup(bin: &str) {
    for (var, value) in [
        ("AUTH_JWKS_COOLDOWN_SECS", "0"),
        ("AUTH_JWKS_COOLDOWN_SECS", "3601"),
        ("AUTH_JWKS_MIN_TTL_SECS", "0"),
        ("AUTH_JWKS_MIN_TTL_SECS", "9"),
        ("AUTH_JWKS_MIN_TTL_SECS", "86401"),
        ("AUTH_JWKS_MAX_STALE_SECS", "604801"),
    ] {
        let env = [("AUTH_ISSUER", "https://idp.example"), (var, value)];
        let (code, stderr) = Sample::start_failure(bin, &env).await;
        assert!(code.is_some_and(|c| c != 0), "{var}={value} started");
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }
}

/// `AUTH_JWKS_URL` names one key set, so it cannot serve several issuers; an empty entry in
/// the list is a start-up error too.
async fn several_issuers_misconfiguration_refused(bin: &str) {
    for (env, var) in [
        (
            vec![
                ("AUTH_ISSUER", "https://a.example,https://b.example"),
                ("AUTH_JWKS_URL", "https://a.example/keys"),
            ],
            "AUTH_JWKS_URL",
        ),
        (
            vec![("AUTH_ISSUER", "https://a.example,,https://b.example")],
            "AUTH_ISSUER",
        ),
        (
            vec![("AUTH_ISSUER", "https://a.example,https://a.example")],
            "AUTH_ISSUER",
        ),
    ] {
        let (code, stderr) = Sample::start_failure(bin, &env).await;
        assert!(code.is_some_and(|c| c != 0), "{env:?} started");
        assert!(
            stderr.contains(var),
            "{env:?}: error does not name {var}:\n{stderr}"
        );
    }
}

/// An `ALLOWED_HOSTS` entry that is not `host[:port]` stops start-up with a one-line error
/// naming the variable.
async fn malformed_allowed_hosts_stop_startup(bin: &str) {
    for value in [
        "https://good.example",
        "good.example/",
        "good.example:http",
        "good.example:70000",
        "good.example:0",
        "user@good.example",
        "good example",
        "good.example,,api.example",
        "good.example,",
        "*.good.example",
        "[::1",
    ] {
        let (code, stderr) = Sample::start_failure(bin, &[("ALLOWED_HOSTS", value)]).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{value:?} started (exit {code:?})"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{value:?}: {stderr}");
        assert!(stderr.contains("ALLOWED_HOSTS"), "{value:?}: {stderr}");
    }
}

/// `LOG_FORMAT` other than `text` or `json` (or set but empty) is a start-up error naming it.
async fn unknown_log_format_stops_startup(bin: &str) {
    for value in ["xml", ""] {
        let (code, stderr) = Sample::start_failure(bin, &[("LOG_FORMAT", value)]).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "LOG_FORMAT={value:?}: exit {code:?}"
        );
        assert!(
            stderr.contains("LOG_FORMAT"),
            "LOG_FORMAT={value:?}: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "LOG_FORMAT={value:?}: one line: {stderr}"
        );
    }
}

/// A real issuer without `AUTH_AUDIENCE` starts, with a warning that any of its tokens is
/// accepted.
async fn missing_audience_is_warned(bin: &str) {
    let r = remote(bin, &[]).await;
    let logs = wait_logs(&r.sample, "AUTH_AUDIENCE").await;
    assert!(logs.contains("any API"), "{logs}");
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(bad_values_stop_startup_naming_the_variable),
    case!(misleading_configuration_refused),
    case!(issuer_with_credentials_refused),
    case!(key_set_timings_out_of_range_stop_startup),
    case!(several_issuers_misconfiguration_refused),
    case!(malformed_allowed_hosts_stop_startup),
    case!(unknown_log_format_stops_startup),
    case!(missing_audience_is_warned),
];
