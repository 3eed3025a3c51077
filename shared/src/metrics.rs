//! The metrics this crate records, through the [`metrics`] facade.
//!
//! Without an installed recorder every call is a no-op costing an atomic load, so a service
//! that exports no metrics pays nothing for them. Labels are only ever error codes and
//! configured issuers, so no token, key, secret, subject or `kid` reaches a label and
//! cardinality is bounded. To export them, install any `metrics` recorder (for Prometheus,
//! `metrics-exporter-prometheus`) before building [`crate::Auth`], and call [`describe`]
//! for the `# HELP` lines.
//!
//! The metrics recorded on every bearer token (cache hits and misses, verification time)
//! are resolved once, when [`crate::AuthBuilder::build`] runs, into handles that the
//! [`crate::Auth`] keeps: recording them is then an atomic update, not a registry lookup
//! that hashes the key. They are bound to the recorder installed at build time, so an
//! `Auth` built before the recorder is installed never reports them (and one built after
//! it lists them at zero from the start).
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

use metrics::{Counter, Histogram};

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

/// The per-token metrics' handles, resolved from the recorder installed when they are
/// made (see the module documentation).
#[derive(Clone)]
pub(crate) struct TokenMetrics {
    cache_hits: Counter,
    cache_misses: Counter,
    verify_duration: Histogram,
}

impl TokenMetrics {
    /// Registers the per-token metrics with the installed recorder and keeps their handles
    /// (no-op handles without a recorder).
    pub(crate) fn resolve() -> Self {
        Self {
            cache_hits: metrics::counter!(TOKEN_CACHE_HITS_TOTAL),
            cache_misses: metrics::counter!(TOKEN_CACHE_MISSES_TOTAL),
            verify_duration: metrics::histogram!(VERIFY_DURATION_SECONDS),
        }
    }

    /// Counts a verified-token cache lookup.
    pub(crate) fn token_cache(&self, hit: bool) {
        if hit {
            self.cache_hits.increment(1);
        } else {
            self.cache_misses.increment(1);
        }
    }

    /// Records how long one verification took.
    pub(crate) fn verify_duration(&self, elapsed: Duration) {
        self.verify_duration.record(elapsed.as_secs_f64());
    }
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
