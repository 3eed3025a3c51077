//! The metrics this crate records, through the [`metrics`] facade.
//!
//! Without an installed recorder every call is a no-op costing an atomic load, so a service
//! that exports no metrics pays nothing for them. Labels are only ever error codes and
//! configured issuers, so no token, key, secret, subject or `kid` reaches a label and
//! cardinality is bounded. To export them, install any `metrics` recorder (for Prometheus,
//! `metrics-exporter-prometheus`) before building [`crate::Auth`], and call [`describe`]
//! for the `# HELP` lines.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `api_auth_refusals_total` | counter | `error` |
//! | `api_auth_token_cache_hits_total`, `api_auth_token_cache_misses_total` | counter | |
//! | `api_auth_jwks_fetches_total` | counter | `issuer`, `result` (`ok` or `error`) |
//! | `api_auth_jwks_keys` | gauge | `issuer` |
//! | `api_auth_jwks_stale` | gauge (0 or 1) | `issuer` |
//! | `api_auth_verify_duration_seconds` | histogram | |
//!
//! ```
//! // At start-up, once a recorder is installed (for example with
//! // `metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()`):
//! api_auth::metrics::describe();
//!
//! // Names to build dashboards and alerts on, as constants.
//! assert_eq!(api_auth::metrics::REFUSALS_TOTAL, "api_auth_refusals_total");
//! ```

use std::time::Duration;

/// Counter of refused requests, by `error` (the contract's error code).
pub const REFUSALS_TOTAL: &str = "api_auth_refusals_total";
/// Counter of bearer tokens served from the verified-token cache.
pub const TOKEN_CACHE_HITS_TOTAL: &str = "api_auth_token_cache_hits_total";
/// Counter of bearer tokens that missed the verified-token cache and were verified in full.
pub const TOKEN_CACHE_MISSES_TOTAL: &str = "api_auth_token_cache_misses_total";
/// Counter of key set fetches, by `issuer` and `result` (`ok` or `error`).
pub const JWKS_FETCHES_TOTAL: &str = "api_auth_jwks_fetches_total";
/// Gauge of usable keys held for an `issuer` (0 once its set is past the stale allowance).
pub const JWKS_KEYS: &str = "api_auth_jwks_keys";
/// Gauge, 1 while an `issuer`'s key set is past its lifetime and kept only because refreshes
/// fail, else 0.
pub const JWKS_STALE: &str = "api_auth_jwks_stale";
/// Histogram of the time a bearer token's verification takes, cache hits and key fetches
/// included, in seconds.
pub const VERIFY_DURATION_SECONDS: &str = "api_auth_verify_duration_seconds";

/// Counts a refused request by its error code.
pub(crate) fn refusal(code: &'static str) {
    metrics::counter!(REFUSALS_TOTAL, "error" => code).increment(1);
}

/// Counts a verified-token cache lookup.
pub(crate) fn token_cache(hit: bool) {
    if hit {
        metrics::counter!(TOKEN_CACHE_HITS_TOTAL).increment(1);
    } else {
        metrics::counter!(TOKEN_CACHE_MISSES_TOTAL).increment(1);
    }
}

/// Records how long one verification took.
pub(crate) fn verify_duration(elapsed: Duration) {
    metrics::histogram!(VERIFY_DURATION_SECONDS).record(elapsed.as_secs_f64());
}

/// Counts one key set fetch of `issuer` (configuration, never request input).
pub(crate) fn jwks_fetch(issuer: &str, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(JWKS_FETCHES_TOTAL, "issuer" => issuer.to_owned(), "result" => result)
        .increment(1);
}

/// Sets the key set gauges of `issuer`.
pub(crate) fn key_set_state(issuer: &str, usable_keys: usize, stale: bool) {
    metrics::gauge!(JWKS_KEYS, "issuer" => issuer.to_owned()).set(usable_keys as f64);
    metrics::gauge!(JWKS_STALE, "issuer" => issuer.to_owned()).set(if stale { 1.0 } else { 0.0 });
}

/// Describes this crate's metrics to the installed recorder (the `# HELP` lines).
pub fn describe() {
    metrics::describe_counter!(REFUSALS_TOTAL, "Requests refused, by error code");
    metrics::describe_counter!(
        TOKEN_CACHE_HITS_TOTAL,
        "Bearer tokens served from the verified-token cache"
    );
    metrics::describe_counter!(
        TOKEN_CACHE_MISSES_TOTAL,
        "Bearer tokens verified in full (not in the verified-token cache)"
    );
    metrics::describe_counter!(JWKS_FETCHES_TOTAL, "Key set fetches, by issuer and result");
    metrics::describe_gauge!(JWKS_KEYS, "Usable keys held, by issuer");
    metrics::describe_gauge!(
        JWKS_STALE,
        "1 while an issuer's key set is past its lifetime because refreshes fail"
    );
    metrics::describe_histogram!(
        VERIFY_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to verify a bearer token"
    );
}
