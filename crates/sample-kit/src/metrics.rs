//! The sample contract's metrics: the Prometheus recorder behind `/metrics`, and the one
//! metric that is about the contract's routes rather than authentication
//! (`api_auth_requests_total`). Everything else is recorded by `api-auth` itself.
//!
//! `api_auth_requests_total` is counted on every response, so its handles are kept: each
//! (route, status) pair of [`ROUTES`] (and `other`) × [`STATUSES`] resolves its counter from
//! the Prometheus recorder once, on its first response, and then costs an atomic increment.
//! Other statuses, or responses counted while this crate's recorder is not installed, go
//! through the `metrics::counter!` lookup.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::routes::{self, ROUTES};

/// Counter of answered requests, by `route` ([`route`]) and `status`.
pub const REQUESTS_TOTAL: &str = "api_auth_requests_total";

/// The `route` label of every path that is not a contract route (the raw path is never a
/// label).
const OTHER: &str = "other";

/// The statuses this crate answers with, whose counters are kept (see the module
/// documentation).
const STATUSES: [(u16, &str); 17] = [
    (200, "200"),
    (204, "204"),
    (304, "304"),
    (308, "308"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (408, "408"),
    (411, "411"),
    (413, "413"),
    (415, "415"),
    (429, "429"),
    (431, "431"),
    (500, "500"),
    (503, "503"),
];

/// The `route` label for a request path: the contract route's [label](routes::Route::label),
/// or `other` for any other path (the raw path is never a label).
pub fn route(path: &str) -> &'static str {
    routes::find(path).map_or(OTHER, |route| route.label)
}

/// Counts one answered request: `route` from [`route`], `status` the response's status.
/// Framework adapters call this once per response from their outermost middleware.
pub fn record_request(route: &'static str, status: u16) {
    record_in(COUNTERS.get(), route, status);
}

/// [`record_request`] with the kept counters `counters`.
fn record_in(counters: Option<&RequestCounters>, route: &'static str, status: u16) {
    match counters.and_then(|counters| counters.slot(route, status)) {
        Some(slot) => slot
            .get_or_init(|| request_counter(route, status))
            .increment(1),
        None => request_counter(route, status).increment(1),
    }
}

/// The counter of `route` and `status`, looked up in the installed recorder.
fn request_counter(route: &'static str, status: u16) -> Counter {
    metrics::counter!(REQUESTS_TOTAL, "route" => route, "status" => status_label(status))
}

/// The `status` label; the statuses this crate answers with need no allocation.
fn status_label(status: u16) -> SharedString {
    match STATUSES.iter().find(|(known, _)| *known == status) {
        Some((_, label)) => SharedString::const_str(label),
        None => SharedString::from(status.to_string()),
    }
}

/// The kept `api_auth_requests_total` counters, one slot per (route, status) pair, each
/// filled on the pair's first response (so that only pairs seen are exported).
struct RequestCounters {
    slots: [[OnceLock<Counter>; STATUSES.len()]; ROUTES.len() + 1],
}

impl RequestCounters {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
        }
    }

    /// The slot of `route` and `status`, when both are in the table.
    fn slot(&self, route: &str, status: u16) -> Option<&OnceLock<Counter>> {
        // Contract routes in their table's order, then `other`.
        let route = match ROUTES.iter().position(|known| known.label == route) {
            Some(index) => index,
            None if route == OTHER => ROUTES.len(),
            None => return None,
        };
        let status = STATUSES.iter().position(|(known, _)| *known == status)?;
        self.slots.get(route)?.get(status)
    }
}

/// The counters kept for the recorder [`install_prometheus`] installed (unset before).
static COUNTERS: OnceLock<RequestCounters> = OnceLock::new();

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
    let _ = COUNTERS.set(RequestCounters::new());
    Ok(())
}

/// The rendered Prometheus exposition, when [`install_prometheus`] installed the recorder.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

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
    fn every_route_label_has_kept_counters() {
        let counters = RequestCounters::new();
        let paths = ROUTES.iter().map(|known| known.path);
        for path in paths.chain(["/elsewhere"]) {
            assert!(counters.slot(route(path), 200).is_some(), "{path}");
        }
        assert!(counters.slot("protected", 418).is_none());
    }

    /// The requests counted into `recorder`, by (route, status). Taking them resets them.
    fn take(recorder: &Snapshotter) -> Vec<(String, String, u64)> {
        let mut counted: Vec<_> = recorder
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) if key.key().name() == REQUESTS_TOTAL => {
                    let label = |name| {
                        key.key()
                            .labels()
                            .find(|l| l.key() == name)
                            .map(|l| l.value().to_owned())
                            .unwrap_or_default()
                    };
                    Some((label("route"), label("status"), n))
                }
                _ => None,
            })
            .collect();
        counted.sort();
        counted
    }

    #[test]
    fn kept_counters_stay_bound_to_the_recorder_that_resolved_them() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let counters = RequestCounters::new();
        metrics::with_local_recorder(&recorder, || {
            record_in(Some(&counters), "protected", 200);
            record_in(Some(&counters), "protected", 418);
        });
        // Out of the recorder's scope: the kept counter still reaches it, the lookup does not.
        record_in(Some(&counters), "protected", 200);
        record_in(Some(&counters), "protected", 418);
        assert_eq!(
            take(&snapshotter),
            [
                ("protected".to_owned(), "200".to_owned(), 2),
                ("protected".to_owned(), "418".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn status_labels_are_the_numbers() {
        assert_eq!(&*status_label(200), "200");
        assert_eq!(&*status_label(418), "418");
    }
}
