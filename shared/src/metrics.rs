//! The metrics this crate records, through the [`metrics`] facade.
//!
//! Without an installed recorder every call here is a no-op. Labels are only ever the
//! contract's route names, its error codes, HTTP statuses and configured issuers, so no
//! token, key, secret, subject, `kid` or raw path reaches a label and cardinality is bounded.
//! Recording happens in this crate; a binary only installs a recorder (see
//! [`install_prometheus`] with the `prometheus` feature) and calls [`record_request`] once
//! per response.

use std::time::Duration;

use metrics::SharedString;

use crate::routes;

/// Counter of answered requests, by `route` ([`route`]) and `status`.
pub const REQUESTS_TOTAL: &str = "api_auth_requests_total";
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

/// The `route` label for a request path: the contract's route name, or `other` for any
/// other path (the raw path is never a label).
pub fn route(path: &str) -> &'static str {
    match path {
        routes::HEALTHZ => "healthz",
        routes::READYZ => "readyz",
        routes::METRICS => "metrics",
        routes::PUBLIC => "public",
        routes::PROTECTED => "protected",
        routes::ADMIN => "admin",
        routes::ME => "me",
        routes::DEV_TOKEN => "dev_token",
        routes::OPENID_CONFIGURATION => "openid_configuration",
        routes::JWKS => "jwks",
        _ => "other",
    }
}

/// Counts one answered request: `route` from [`route`], `status` the response's status.
/// Framework adapters call this once per response from their outermost middleware.
pub fn record_request(route: &'static str, status: u16) {
    metrics::counter!(REQUESTS_TOTAL, "route" => route, "status" => status_label(status))
        .increment(1);
}

/// The `status` label; the statuses this crate answers with need no allocation.
fn status_label(status: u16) -> SharedString {
    let known = match status {
        200 => "200",
        204 => "204",
        304 => "304",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        411 => "411",
        413 => "413",
        415 => "415",
        431 => "431",
        500 => "500",
        503 => "503",
        other => return SharedString::from(other.to_string()),
    };
    SharedString::const_str(known)
}

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

#[cfg(feature = "prometheus")]
pub use self::prometheus::{InstallError, install_prometheus};

/// The rendered Prometheus exposition, when [`install_prometheus`] installed the recorder.
pub fn render() -> Option<String> {
    #[cfg(feature = "prometheus")]
    return prometheus::HANDLE.get().map(|handle| handle.render());
    #[cfg(not(feature = "prometheus"))]
    None
}

#[cfg(feature = "prometheus")]
mod prometheus {
    use std::sync::OnceLock;
    use std::time::Duration;

    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    use super::*;

    /// The installed recorder's handle, whose `render()` is the `/metrics` body.
    pub(super) static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

    /// Bucket bounds of [`VERIFY_DURATION_SECONDS`]: a cache hit takes about a microsecond, a
    /// signature check tens to hundreds, a request that waits for a key set fetch seconds.
    const VERIFY_BUCKETS: &[f64] = &[
        0.000_002, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001,
        0.005, 0.025, 0.1, 0.5, 2.5, 10.0,
    ];

    /// How often histogram samples are folded into their buckets between scrapes, which
    /// bounds the memory they take when nobody scrapes.
    const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

    /// Why the Prometheus recorder could not be installed.
    #[derive(Debug, thiserror::Error)]
    pub enum InstallError {
        /// The exporter refused its configuration.
        #[error("cannot configure the Prometheus exporter: {0}")]
        Build(#[from] metrics_exporter_prometheus::BuildError),
        /// The upkeep thread could not be started.
        #[error("cannot start the metrics upkeep thread: {0}")]
        Upkeep(#[from] std::io::Error),
    }

    /// Installs a Prometheus recorder as the process's global recorder, describes this
    /// crate's metrics, and starts a thread that folds histogram samples every few seconds.
    /// Install it before building [`crate::Auth`]; [`super::render`] then answers `/metrics`.
    pub fn install_prometheus() -> Result<(), InstallError> {
        if HANDLE.get().is_some() {
            return Ok(());
        }
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(VERIFY_DURATION_SECONDS.to_owned()),
                VERIFY_BUCKETS,
            )?
            .install_recorder()?;
        describe();
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            })?;
        let _ = HANDLE.set(handle);
        Ok(())
    }

    /// The `# HELP` lines.
    fn describe() {
        metrics::describe_counter!(REQUESTS_TOTAL, "Requests answered, by route and status");
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contract_routes_are_labels() {
        assert_eq!(route("/protected"), "protected");
        assert_eq!(route("/readyz"), "readyz");
        for path in [
            "/protected/",
            "/Protected",
            "/%70ublic",
            "/secret-path-xyz",
            "",
        ] {
            assert_eq!(route(path), "other", "{path}");
        }
    }

    #[test]
    fn status_labels_are_the_numbers() {
        assert_eq!(&*status_label(200), "200");
        assert_eq!(&*status_label(418), "418");
    }
}
