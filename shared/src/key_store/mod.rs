//! The key set cache: fetched once, shared, refreshed ahead of expiry, kept through outages.
//!
//! The `cached` crate's stores were considered and not used: they evict an entry when its
//! TTL passes (this store must keep serving the last good set through an outage), they
//! cannot refresh in the background ahead of expiry, and they have no notion of a
//! rate-limited refetch shared by concurrent misses. Those three behaviours are the point
//! of this module, so it is a small state machine over `arc-swap` (lock-free reads on the
//! hot path) and one shared future per fetch (single flight).

mod discovery;
mod http;
mod kid_budget;
mod per_kid;
mod schedule;
mod status;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use url::Url;

use crate::algorithm::Algorithm;
use crate::error::{AuthError, TokenError};
use crate::jwk::{Fingerprint, KeySet, Selection, VerifyingKey, parse_jwks};
use crate::policy::KeySetPolicy;
use crate::redacted_url::Redacted;
pub use discovery::discovery_jwks_uri;
use discovery::jwks_url;
use http::{fetch, redirect_policy};
pub(crate) use per_kid::SharedRemovedKeysHook;
use per_kid::{PerKid, parse_pem};
use schedule::{MIN_FETCH_INTERVAL, refresh_loop};
pub use status::KeySetStatus;

/// Reads a fetched ALB public key (PEM) for `kid` as the key store does; gives the number of
/// keys read. Reachable for the fuzz targets and the memory tests; not part of the
/// documented API.
#[doc(hidden)]
pub fn parse_alb_key(body: &[u8], kid: &str, algorithm: Algorithm) -> Result<usize, String> {
    parse_pem(body, kid, algorithm).map(|set| set.len())
}

/// Where a remote key set is found.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Jwks(Url),
    Discovery(Url),
    /// The PEM public key of one `kid` (a store of [`PerKid`]).
    PemKey {
        url: Url,
        kid: String,
        algorithm: Algorithm,
    },
}

/// A key set as loaded, with when it was fetched and how long it is fresh.
struct Loaded {
    keys: KeySet,
    fetched_at: Instant,
    ttl: Duration,
}

impl Loaded {
    /// Whether the set may still verify tokens: fresh, or stale for at most `max_stale`.
    /// The one place this rule is written; the status, the metrics and the logs ask it.
    fn is_usable(&self, max_stale: Duration) -> bool {
        self.fetched_at.elapsed() <= self.ttl.saturating_add(max_stale)
    }

    /// Whether the set is past its lifetime.
    fn is_stale(&self) -> bool {
        self.fetched_at.elapsed() > self.ttl
    }
}

type FetchResult = Result<(), String>;

#[derive(Default)]
struct FetchState {
    in_flight: Option<Shared<BoxFuture<'static, FetchResult>>>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    failures: u32,
    /// Whether a fetch has ended, either way: the start-up fetch has settled.
    settled_once: bool,
    discovered: Option<Url>,
    /// Makes the next fetch panic, to prove a panicking fetch cannot wedge the store.
    #[cfg(test)]
    panic_next: bool,
}

/// A callback told which keys (by fingerprint) left the set on a refresh.
pub(crate) type RemovedKeysHook = Box<dyn Fn(&HashSet<Fingerprint>) + Send + Sync>;

struct Remote {
    location: Location,
    client: reqwest::Client,
    policy: KeySetPolicy,
    runtime: tokio::runtime::Handle,
    state: Mutex<FetchState>,
    on_removed: Option<RemovedKeysHook>,
    /// The `issuer` label of this set's metrics.
    issuer: String,
}

struct Inner {
    current: ArcSwapOption<Loaded>,
    remote: Option<Remote>,
    /// Keys published one per `kid`: a store per `kid` instead of one set.
    per_kid: Option<PerKid>,
}

/// The key set of one issuer. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KeyStore {
    inner: Arc<Inner>,
}

impl KeyStore {
    /// A fixed set that never expires: keys given in code (a document, a file, PEM keys).
    pub(crate) fn fixed(keys: KeySet) -> Self {
        let loaded = Loaded {
            keys,
            fetched_at: Instant::now(),
            ttl: Duration::MAX,
        };
        Self {
            inner: Arc::new(Inner {
                current: ArcSwapOption::from_pointee(loaded),
                remote: None,
                per_kid: None,
            }),
        }
    }

    /// A remote set. Starts the first fetch and the refresh loop at once, on the current
    /// Tokio runtime; requests arriving before the first fetch completes share it.
    pub(crate) fn remote(
        location: Location,
        policy: KeySetPolicy,
        client: Option<reqwest::Client>,
        on_removed: Option<RemovedKeysHook>,
        issuer: String,
    ) -> Result<Self, reqwest::Error> {
        let client = match client {
            Some(client) => client,
            None => default_client(&policy)?,
        };
        let store = Self {
            inner: Arc::new(Inner {
                current: ArcSwapOption::empty(),
                remote: Some(Remote {
                    location,
                    client,
                    policy,
                    runtime: tokio::runtime::Handle::current(),
                    state: Mutex::new(FetchState::default()),
                    on_removed,
                    issuer,
                }),
                per_kid: None,
            }),
        };
        // Kick off the first fetch now, so that it is the fetch the first requests join.
        drop(store.refresh());
        let weak = Arc::downgrade(&store.inner);
        if let Some(remote) = &store.inner.remote {
            remote.runtime.spawn(refresh_loop(weak));
        }
        Ok(store)
    }

    /// Keys published one PEM per `kid` at `base` followed by the `kid`: each fetched when a
    /// token first names it, then cached like a key set (see [`PerKid`]).
    pub(crate) fn per_kid(
        base: Url,
        algorithm: Algorithm,
        policy: KeySetPolicy,
        client: Option<reqwest::Client>,
        on_removed: Option<SharedRemovedKeysHook>,
        label: String,
    ) -> Result<Self, reqwest::Error> {
        let client = match client {
            Some(client) => client,
            None => default_client(&policy)?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                current: ArcSwapOption::empty(),
                remote: None,
                per_kid: Some(PerKid::new(
                    base, algorithm, policy, client, on_removed, label,
                )),
            }),
        })
    }

    /// Finds the key for a token, refetching once (rate-limited, shared) on an unknown `kid`
    /// or when no keys are held.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, AuthError> {
        match &self.inner.per_kid {
            Some(per_kid) => per_kid.key_for(kid, alg).await,
            None => self.key_in_set(kid, alg, Refetch::Start).await,
        }
    }

    /// [`key_for`](Self::key_for) in this store's one key set; a missing key may start a
    /// fetch (within the cooldown) or only join one already running.
    async fn key_in_set(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        refetch: Refetch,
    ) -> Result<Arc<VerifyingKey>, AuthError> {
        let mut refetched = false;
        loop {
            let usable = self.usable();
            let selection = usable.as_ref().map(|loaded| loaded.keys.select(kid, alg));
            let wait_for = match selection {
                Some(Selection::Found(key)) => return Ok(Arc::clone(key)),
                Some(Selection::Mismatch) => return Err(TokenError::KeyMismatch.into()),
                Some(Selection::Ambiguous) => return Err(TokenError::AmbiguousKey.into()),
                Some(Selection::UnknownKid) | None if refetched => None,
                Some(Selection::UnknownKid) | None => match refetch {
                    Refetch::Start => self.may_fetch_now().then(|| self.refresh()),
                    Refetch::JoinOnly => self.running_fetch(),
                },
            };
            let want_refetch = wait_for.is_some();
            if !want_refetch {
                return Err(match usable {
                    Some(_) => TokenError::UnknownKey.into(),
                    None => AuthError::KeysUnavailable {
                        retry_after_secs: self.retry_after_secs(),
                    },
                });
            }
            if kid.is_some() && usable.is_some() {
                tracing::info!(kid, "unknown kid: refetching the key set");
            }
            refetched = true;
            if let Some(fetch) = wait_for {
                self.wait_for(fetch).await;
            }
        }
    }

    /// Whether this key is in the current, usable set (token-cache hits re-check it).
    pub(crate) fn holds_key(&self, fingerprint: &Fingerprint) -> bool {
        if let Some(per_kid) = &self.inner.per_kid {
            return per_kid.holds_key(fingerprint);
        }
        self.usable()
            .is_some_and(|loaded| loaded.keys.contains_key(fingerprint))
    }

    /// The current state, for `/healthz`.
    pub(crate) fn status(&self, issuer: Option<&str>) -> KeySetStatus {
        if let Some(per_kid) = &self.inner.per_kid {
            return per_kid.status();
        }
        let current = self.inner.current.load_full();
        let now = Instant::now();
        let (last_error, source) = match &self.inner.remote {
            Some(remote) => (lock(&remote.state).last_error.clone(), "remote"),
            None => (None, "local"),
        };
        KeySetStatus {
            issuer: issuer.map(str::to_owned),
            usable: self.usable().is_some(),
            source,
            count: current.as_ref().map_or(0, |l| l.keys.len()),
            age_secs: current
                .as_ref()
                .map(|l| now.duration_since(l.fetched_at).as_secs()),
            stale: current.as_ref().is_some_and(|l| l.is_stale()),
            last_error,
        }
    }

    /// Whether a usable set is held: fresh, or stale within the allowance.
    pub(crate) fn is_usable(&self) -> bool {
        // Keys per `kid` are fetched as tokens name them: nothing to wait for.
        self.inner.per_kid.is_some() || self.usable().is_some()
    }

    /// Whether the start-up fetch has ended, with keys or without (always, for local keys).
    pub(crate) fn has_settled(&self) -> bool {
        self.inner
            .remote
            .as_ref()
            .is_none_or(|remote| lock(&remote.state).settled_once)
    }

    /// The current set while it may still be used: fresh, or stale within the allowance.
    fn usable(&self) -> Option<Arc<Loaded>> {
        let loaded = self.inner.current.load_full()?;
        let Some(remote) = &self.inner.remote else {
            return Some(loaded);
        };
        loaded.is_usable(remote.policy.max_stale).then_some(loaded)
    }

    /// A request may trigger a fetch when one is already running (it joins it) or the
    /// cooldown since the last attempt has passed.
    fn may_fetch_now(&self) -> bool {
        let Some(remote) = &self.inner.remote else {
            return false;
        };
        let state = lock(&remote.state);
        state.in_flight.is_some()
            || state
                .last_attempt
                .is_none_or(|at| at.elapsed() >= remote.policy.refetch_cooldown)
    }

    fn retry_after_secs(&self) -> u64 {
        let Some(remote) = &self.inner.remote else {
            return 1;
        };
        let state = lock(&remote.state);
        let waited = state.last_attempt.map_or(Duration::ZERO, |at| at.elapsed());
        remote
            .policy
            .refetch_cooldown
            .saturating_sub(waited)
            .as_secs()
            .max(1)
    }

    /// The fetch running now, if any, to join without starting one.
    fn running_fetch(&self) -> Option<Shared<BoxFuture<'static, FetchResult>>> {
        let remote = self.inner.remote.as_ref()?;
        lock(&remote.state).in_flight.clone()
    }

    /// Waits for `fetch`, within the bound of its requests.
    async fn wait_for(&self, fetch: Shared<BoxFuture<'static, FetchResult>>) {
        let Some(remote) = &self.inner.remote else {
            return;
        };
        // Each request of a fetch is bounded by the client's timeouts; the wait covers all of
        // them (discovery and key set), so a slow start-up fetch is awaited, not abandoned.
        let per_request = remote
            .policy
            .connect_timeout
            .saturating_add(remote.policy.request_timeout);
        let requests = match remote.location {
            Location::Jwks(_) | Location::PemKey { .. } => 1,
            Location::Discovery(_) => 2,
        };
        let bound = per_request.saturating_mul(requests);
        let _ = tokio::time::timeout(bound, fetch).await;
    }

    /// Starts a fetch, or returns the one already running (single flight).
    fn refresh(&self) -> Shared<BoxFuture<'static, FetchResult>> {
        let remote = self
            .inner
            .remote
            .as_ref()
            .expect("refresh is only called on remote key stores");
        let mut state = lock(&remote.state);
        if let Some(running) = &state.in_flight {
            return running.clone();
        }
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < MIN_FETCH_INTERVAL)
        {
            // Callers respect the floor already (the cooldown is at least as long, the
            // schedule waits for it); this keeps it a fact should one of them not.
            let limited: FetchResult = Err("key set fetched less than a second ago".to_owned());
            return futures_util::future::ready(limited).boxed().shared();
        }
        state.last_attempt = Some(Instant::now());
        let inner = Arc::clone(&self.inner);
        let task = remote.runtime.spawn(async move {
            let mut settle = Settle {
                inner: Arc::clone(&inner),
                finished: false,
            };
            // Unwind safety: the fetch shares only the poison-tolerant state mutex (plain
            // field assignments) and the atomically swapped key set with the rest of the
            // store, so a panic part-way leaves nothing half-updated.
            let result = AssertUnwindSafe(fetch_and_install(&inner))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("key set fetch panicked; later refreshes still run");
                    Err("key set fetch panicked".to_owned())
                });
            settle.finish(&result);
            result
        });
        let shared = async move {
            task.await
                .unwrap_or_else(|e| Err(format!("key set fetch task failed: {e}")))
        }
        .boxed()
        .shared();
        state.in_flight = Some(shared.clone());
        shared
    }
}

/// Settles the fetch state when a fetch ends, whichever way it ends: with a result, or
/// dropped part-way (its task cancelled, as on runtime shutdown). Without this, a fetch that
/// never finished would stay "in flight" and every later request would join it.
struct Settle {
    inner: Arc<Inner>,
    finished: bool,
}

impl Settle {
    fn finish(&mut self, result: &FetchResult) {
        self.finished = true;
        record_outcome(&self.inner, result);
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!("key set fetch was cancelled before it finished");
            record_outcome(&self.inner, &Err("key set fetch was cancelled".to_owned()));
        }
    }
}

/// Ends the in-flight fetch and records its outcome for the schedule and `/healthz`.
fn record_outcome(inner: &Inner, result: &FetchResult) {
    let Some(remote) = &inner.remote else { return };
    let mut state = lock(&remote.state);
    state.in_flight = None;
    state.settled_once = true;
    match result {
        Ok(()) => {
            state.failures = 0;
            state.last_error = None;
        }
        Err(error) => {
            state.failures = state.failures.saturating_add(1);
            state.last_error = Some(error.clone());
        }
    }
    drop(state);
    if result.is_err() {
        export_failure(inner, remote);
        warn_if_stale(inner, remote);
    }
}

/// Counts a failed fetch and sets the key set gauges for the set still held. (A successful
/// fetch is counted in `fetch_and_install`, before its keys become visible, so that anyone
/// who sees the new keys also sees the count.)
fn export_failure(inner: &Inner, remote: &Remote) {
    crate::metrics::jwks_fetch(&remote.issuer, false);
    if matches!(remote.location, Location::PemKey { .. }) {
        // The gauges count every `kid` of the source together: `PerKid` sets them.
        return;
    }
    let current = inner.current.load_full();
    let (usable, stale) = match current.as_deref() {
        Some(loaded) => {
            let usable = loaded.is_usable(remote.policy.max_stale);
            (
                if usable { loaded.keys.len() } else { 0 },
                loaded.is_stale(),
            )
        }
        None => (0, false),
    };
    crate::metrics::key_set_state(&remote.issuer, usable, stale);
}

/// After a failed refresh: says whether requests are now served from stale keys, or refused.
fn warn_if_stale(inner: &Inner, remote: &Remote) {
    let Some(loaded) = inner.current.load_full() else {
        return;
    };
    let age = loaded.fetched_at.elapsed();
    if !loaded.is_usable(remote.policy.max_stale) {
        tracing::error!(
            age_secs = age.as_secs(),
            "key set is past its stale allowance: token requests get 503"
        );
    } else if loaded.is_stale() {
        tracing::warn!(
            age_secs = age.as_secs(),
            ttl_secs = loaded.ttl.as_secs(),
            "serving a stale key set"
        );
    }
}

/// The HTTP client of remote key sets when the caller gives none: the policy's timeouts, at
/// most three redirects and never from `https` to `http`.
fn default_client(policy: &KeySetPolicy) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(policy.connect_timeout)
        .timeout(policy.request_timeout)
        .redirect(redirect_policy())
        .user_agent(concat!("api-auth/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the state inconsistent (every update is
    // a plain field assignment), so a poisoned lock is still safe to use.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn fetch_and_install(inner: &Inner) -> FetchResult {
    let Some(remote) = &inner.remote else {
        return Ok(());
    };
    #[cfg(test)]
    if std::mem::take(&mut lock(&remote.state).panic_next) {
        panic!("injected key set fetch failure");
    }
    let (url, discovered) = jwks_url(remote).await?;
    // Shown without the credentials it may carry; `url` itself is what is requested.
    let shown = Redacted(&url);
    let fetched = fetch(remote, url.as_str())
        .await
        .map_err(|e| {
            tracing::warn!(url = %shown, error = %e, "key set fetch failed");
            e
        })
        .and_then(|(body, max_age)| {
            let keys = match &remote.location {
                Location::PemKey { kid, algorithm, .. } => parse_pem(&body, kid, *algorithm),
                _ => parse_jwks(&body, remote.policy.max_keys).map_err(|e| e.to_string()),
            }
            .map_err(|e| {
                tracing::warn!(url = %shown, error = %e, "fetched key set refused; keeping the previous one");
                e
            })?;
            Ok((keys, max_age))
        });
    let (keys, max_age) = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            if discovered {
                // The provider may have moved its keys: the next attempt rediscovers.
                lock(&remote.state).discovered = None;
            }
            return Err(error);
        }
    };
    let ttl = max_age.unwrap_or(remote.policy.default_ttl).clamp(
        remote.policy.min_ttl,
        remote.policy.max_ttl.max(remote.policy.min_ttl),
    );
    let new_keys: HashSet<Fingerprint> = keys.fingerprints().collect();
    crate::metrics::jwks_fetch(&remote.issuer, true);
    if !matches!(remote.location, Location::PemKey { .. }) {
        crate::metrics::key_set_state(&remote.issuer, keys.len(), false);
    }
    let previous = inner.current.swap(Some(Arc::new(Loaded {
        keys,
        fetched_at: Instant::now(),
        ttl,
    })));
    let count = new_keys.len();
    match previous {
        None => {
            tracing::info!(url = %shown, keys = count, ttl_secs = ttl.as_secs(), "key set loaded")
        }
        Some(old) => {
            let old_keys: HashSet<Fingerprint> = old.keys.fingerprints().collect();
            let removed: HashSet<Fingerprint> = old_keys.difference(&new_keys).copied().collect();
            let added = new_keys.difference(&old_keys).count();
            if added > 0 || !removed.is_empty() {
                tracing::info!(url = %shown, added, removed = removed.len(), keys = count, "key set rotated");
            } else {
                tracing::debug!(url = %shown, keys = count, ttl_secs = ttl.as_secs(), "key set refreshed");
            }
            if let Some(hook) = remote.on_removed.as_ref().filter(|_| !removed.is_empty()) {
                hook(&removed);
            }
        }
    }
    Ok(())
}

/// Whether a lookup that misses its key may start a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refetch {
    /// Yes, once the cooldown allows (a key set: an unknown `kid` may be a rotation).
    Start,
    /// No, only join a fetch already running: the fetches of a per-`kid` store start where
    /// the budget for unknown `kid`s admits them (see `per_kid`).
    JoinOnly,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_fetch_does_not_wedge_the_store() {
        // Nothing listens on port 1: fetches that run fail fast with a connection error.
        let location = Location::Jwks(Url::parse("http://127.0.0.1:1/keys").unwrap());
        let store =
            KeyStore::remote(location, KeySetPolicy::default(), None, None, String::new()).unwrap();
        let remote = store.inner.remote.as_ref().unwrap();
        // On a current-thread runtime the first fetch, spawned by `remote`, has not run yet.
        lock(&remote.state).panic_next = true;
        let first = store.refresh().await;
        assert_eq!(first, Err("key set fetch panicked".to_owned()));
        {
            let state = lock(&remote.state);
            assert!(
                state.in_flight.is_none(),
                "the panicked fetch is still in flight"
            );
            assert_eq!(state.failures, 1);
        }
        assert_eq!(
            store.status(None).last_error.as_deref(),
            Some("key set fetch panicked")
        );
        lock(&remote.state).last_attempt = Instant::now().checked_sub(MIN_FETCH_INTERVAL);
        let second = store.refresh().await;
        assert_eq!(second, Err("connection failed".to_owned()));
        assert_eq!(
            store.status(None).last_error.as_deref(),
            Some("connection failed")
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn fetches_never_start_less_than_a_second_apart() {
        let location = Location::Jwks(Url::parse("http://127.0.0.1:1/keys").unwrap());
        let store =
            KeyStore::remote(location, KeySetPolicy::default(), None, None, String::new()).unwrap();
        let remote = store.inner.remote.as_ref().unwrap();
        assert_eq!(store.refresh().await, Err("connection failed".to_owned()));
        let started = lock(&remote.state).last_attempt;
        assert!(store.has_settled(), "the start-up fetch has ended");
        let again = store.refresh().await;
        assert_eq!(
            again,
            Err("key set fetched less than a second ago".to_owned())
        );
        let state = lock(&remote.state);
        assert_eq!(state.last_attempt, started, "no fetch was started");
        assert_eq!(state.failures, 1, "the refused start is not a failed fetch");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_fetch_is_settled() {
        let location = Location::Jwks(Url::parse("http://127.0.0.1:1/keys").unwrap());
        let store =
            KeyStore::remote(location, KeySetPolicy::default(), None, None, String::new()).unwrap();
        let inner = Arc::clone(&store.inner);
        let remote = inner.remote.as_ref().unwrap();
        assert!(lock(&remote.state).in_flight.is_some());
        let settle = Settle {
            inner: Arc::clone(&inner),
            finished: false,
        };
        drop(settle);
        let state = lock(&remote.state);
        assert!(state.in_flight.is_none());
        assert_eq!(
            state.last_error.as_deref(),
            Some("key set fetch was cancelled")
        );
    }
}
