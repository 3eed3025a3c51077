//! The sample contract's metrics: the Prometheus recorder behind `/metrics`, and the one
//! metric that is about the contract's routes rather than authentication
//! (`api_auth_requests_total`). Everything else is recorded by `api-auth` itself.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::routes;

/// Counter of answered requests, by `route` ([`route`]) and `status`.
pub const REQUESTS_TOTAL: &str = "api_auth_requests_total";

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

/// The installed recorder's handle, whose `render()` is the `/metrics` body.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Bucket bounds of [`VERIFY_DURATION_SECONDS`]: a cache hit takes about a microsecond, a
/// signature check tens to hundreds, a request that waits for a key set fetch seconds.
const VERIFY_BUCKETS: &[f64] = &[
    0.000_002, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005,
    0.025, 0.1, 0.5, 2.5, 10.0,
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
/// Install it before building `Auth`; [`render`] then answers `/metrics`.
pub fn install_prometheus() -> Result<(), InstallError> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(api_auth::metrics::VERIFY_DURATION_SECONDS.to_owned()),
            VERIFY_BUCKETS,
        )?
        .install_recorder()?;
    api_auth::metrics::describe();
    metrics::describe_counter!(REQUESTS_TOTAL, "Requests answered, by route and status");
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

/// The rendered Prometheus exposition, when [`install_prometheus`] installed the recorder.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
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
