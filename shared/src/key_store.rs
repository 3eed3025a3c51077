//! The key set cache: fetched once, shared, refreshed ahead of expiry, kept through outages.
//!
//! The `cached` crate's stores were considered and not used: they evict an entry when its
//! TTL passes (this store must keep serving the last good set through an outage), they
//! cannot refresh in the background ahead of expiry, and they have no notion of a
//! rate-limited refetch shared by concurrent misses. Those three behaviours are the point
//! of this module, so it is a small state machine over `arc-swap` (lock-free reads on the
//! hot path) and one shared future per fetch (single flight).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::Serialize;
use url::Url;

use crate::algorithm::Algorithm;
use crate::error::{AuthError, TokenError};
use crate::jwk::{Fingerprint, KeySet, Selection, VerifyingKey, parse_jwks};
use crate::policy::{KeySetPolicy, MAX_REFRESH_JITTER_PERCENT};
use crate::redacted_url::Redacted;

/// Where a remote key set is found.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Jwks(Url),
    Discovery(Url),
}

/// A key set as loaded, with when it was fetched and how long it is fresh.
struct Loaded {
    keys: KeySet,
    fetched_at: Instant,
    ttl: Duration,
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

/// The shortest time between the starts of two fetches of one key set, whatever the policy,
/// the provider's `max-age` or the requests say: a floor under every schedule, so that no
/// combination of them can turn refreshing into a busy loop.
const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(1);

/// Redirects followed per request at most.
const MAX_REDIRECTS: usize = 3;

/// Why a redirect of a key set or discovery request was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum RedirectRefused {
    /// More than [`MAX_REDIRECTS`] in a row.
    #[error("more than 3 redirects")]
    TooMany,
    /// From `https` to anything but `https`: the keys would travel unprotected.
    #[error("redirect from https to plain http")]
    Downgrade,
}

/// Whether to refuse following a redirect to `next`, given the URLs requested so far
/// (`previous` starts with the original request's URL, as `reqwest` reports them).
fn refuse_redirect(previous: &[Url], next: &Url) -> Option<RedirectRefused> {
    if previous.len() > MAX_REDIRECTS {
        return Some(RedirectRefused::TooMany);
    }
    let from_https = previous.iter().any(|url| url.scheme() == "https");
    (from_https && next.scheme() != "https").then_some(RedirectRefused::Downgrade)
}

fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        match refuse_redirect(attempt.previous(), attempt.url()) {
            Some(refused) => attempt.error(refused),
            None => attempt.follow(),
        }
    })
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
}

/// What `/healthz` reports about the key set. Holds no key material or secret.
///
/// ```
/// use api_auth::{Auth, Issuer, KeySource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .build()?;
///
/// let [status] = auth.key_sets().try_into().map_err(|_| "one issuer, one status")?;
/// assert_eq!(status.issuer.as_deref(), Some("https://login.example.com"));
/// assert_eq!((status.source, status.count, status.stale), ("local", 1, false));
/// assert!(status.is_usable() && auth.is_ready());
///
/// // Serialisable as is for a health endpoint.
/// let health = serde_json::to_value(&status)?;
/// assert_eq!(health["count"], 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct KeySetStatus {
    /// The issuer whose keys these are (`None`: keys used without an `iss` check).
    pub issuer: Option<String>,
    /// `local` (keys given in code or by the development issuer) or `remote` (fetched).
    pub source: &'static str,
    /// Usable keys in the current set.
    pub count: usize,
    /// Seconds since the current set was fetched.
    pub age_secs: Option<u64>,
    /// Whether the set is past its lifetime and served only because refreshes fail.
    pub stale: bool,
    /// The last refresh error, cleared by a success.
    pub last_error: Option<String>,
    /// Whether the set may still be used (not past its stale allowance).
    #[serde(skip)]
    usable: bool,
}

impl KeySetStatus {
    /// The status of no key set at all.
    pub fn none() -> Self {
        Self {
            issuer: None,
            source: "none",
            count: 0,
            age_secs: None,
            stale: false,
            last_error: None,
            usable: false,
        }
    }

    /// Whether the set can verify tokens now: it holds keys, fresh or within the stale
    /// allowance.
    pub fn is_usable(&self) -> bool {
        self.count > 0 && self.usable
    }
}

/// The key set of one issuer. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KeyStore {
    inner: Arc<Inner>,
}

impl KeyStore {
    /// A fixed set that never expires: the development issuer's own key, used in process.
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
            None => reqwest::Client::builder()
                .connect_timeout(policy.connect_timeout)
                .timeout(policy.request_timeout)
                .redirect(redirect_policy())
                .user_agent(concat!("api-auth/", env!("CARGO_PKG_VERSION")))
                .build()?,
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

    /// Finds the key for a token, refetching once (rate-limited, shared) on an unknown `kid`
    /// or when no keys are held.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, AuthError> {
        let mut refetched = false;
        loop {
            let usable = self.usable();
            let selection = usable.as_ref().map(|loaded| loaded.keys.select(kid, alg));
            let want_refetch = match selection {
                Some(Selection::Found(key)) => return Ok(Arc::clone(key)),
                Some(Selection::Mismatch) => return Err(TokenError::KeyMismatch.into()),
                Some(Selection::Ambiguous) => return Err(TokenError::AmbiguousKey.into()),
                Some(Selection::UnknownKid) | None => !refetched && self.may_fetch_now(),
            };
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
            self.wait_for_refresh().await;
        }
    }

    /// Whether this key is in the current, usable set (token-cache hits re-check it).
    pub(crate) fn holds_key(&self, fingerprint: &Fingerprint) -> bool {
        self.usable()
            .is_some_and(|loaded| loaded.keys.contains_key(fingerprint))
    }

    /// The current state, for `/healthz`.
    pub(crate) fn status(&self, issuer: Option<&str>) -> KeySetStatus {
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
            stale: current
                .as_ref()
                .is_some_and(|l| now.duration_since(l.fetched_at) > l.ttl),
            last_error,
        }
    }

    /// Whether a usable set is held: fresh, or stale within the allowance.
    pub(crate) fn is_usable(&self) -> bool {
        self.usable().is_some()
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
        let age = loaded.fetched_at.elapsed();
        (age <= loaded.ttl.saturating_add(remote.policy.max_stale)).then_some(loaded)
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

    async fn wait_for_refresh(&self) {
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
            Location::Jwks(_) => 1,
            Location::Discovery(_) => 2,
        };
        let bound = per_request.saturating_mul(requests);
        let _ = tokio::time::timeout(bound, self.refresh()).await;
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
    let current = inner.current.load_full();
    let (usable, stale) = match current.as_deref() {
        Some(loaded) => {
            let age = loaded.fetched_at.elapsed();
            let usable = age <= loaded.ttl.saturating_add(remote.policy.max_stale);
            (if usable { loaded.keys.len() } else { 0 }, age > loaded.ttl)
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
    if age > loaded.ttl.saturating_add(remote.policy.max_stale) {
        tracing::error!(
            age_secs = age.as_secs(),
            "key set is past its stale allowance: token requests get 503"
        );
    } else if age > loaded.ttl {
        tracing::warn!(
            age_secs = age.as_secs(),
            ttl_secs = loaded.ttl.as_secs(),
            "serving a stale key set"
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the state inconsistent (every update is
    // a plain field assignment), so a poisoned lock is still safe to use.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Refreshes ahead of expiry, and retries with backoff after a failure, for as long as
/// the store exists. Each scheduled refresh is moved by a fresh random draw (see
/// [`jittered`]), so replicas started together drift apart instead of fetching together.
async fn refresh_loop(store: Weak<Inner>) {
    let mut draw = fastrand::f64();
    loop {
        let delay = {
            let Some(inner) = store.upgrade() else { return };
            let Some(remote) = &inner.remote else { return };
            next_refresh_in(&inner, remote, draw)
        };
        tokio::time::sleep(delay).await;
        let Some(inner) = store.upgrade() else { return };
        let due = inner
            .remote
            .as_ref()
            .is_some_and(|r| next_refresh_in(&inner, r, draw).is_zero());
        if due {
            let refresh = KeyStore { inner }.refresh();
            let _ = refresh.await;
            draw = fastrand::f64();
        }
    }
}

/// Time until the next background refresh, with the schedule moved by `draw` (uniform in
/// `[0, 1)`, see [`jittered`]). The same draw gives the same schedule, so the loop can
/// re-check after sleeping whether the refresh is due.
fn next_refresh_in(inner: &Inner, remote: &Remote, draw: f64) -> Duration {
    let state = lock(&remote.state);
    if state.in_flight.is_some() {
        // Poll again shortly; the running fetch will settle the schedule.
        return Duration::from_millis(250);
    }
    let jitter = remote.policy.refresh_jitter_percent;
    let since_attempt = state.last_attempt.map_or(Duration::MAX, |at| at.elapsed());
    let floor = MIN_FETCH_INTERVAL.saturating_sub(since_attempt);
    scheduled_refresh_in(inner, remote, &state, since_attempt, jitter, draw).max(floor)
}

/// [`next_refresh_in`] before the [`MIN_FETCH_INTERVAL`] floor.
fn scheduled_refresh_in(
    inner: &Inner,
    remote: &Remote,
    state: &FetchState,
    since_attempt: Duration,
    jitter: u8,
    draw: f64,
) -> Duration {
    if state.failures > 0 {
        // Exponential backoff from 1 s, never longer than the shortest allowed lifetime
        // (plus jitter).
        let cap = remote
            .policy
            .min_ttl
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let backoff = Duration::from_secs(1u64 << state.failures.min(6)).min(cap);
        return jittered(backoff, jitter, draw).saturating_sub(since_attempt);
    }
    match inner.current.load().as_ref() {
        // Refresh at 80 % of the lifetime: routine refreshes never make a request wait.
        Some(loaded) => jittered(loaded.ttl.mul_f32(0.8), jitter, draw)
            .saturating_sub(loaded.fetched_at.elapsed()),
        None => Duration::ZERO,
    }
}

/// `delay` moved by up to `percent` % of itself either way (capped at
/// [`MAX_REFRESH_JITTER_PERCENT`]); `draw`, uniform in `[0, 1)`, picks where: 0 is the
/// earliest, 0.5 the unmoved delay. `percent` 0 returns `delay` exactly. Never negative;
/// a result too large for a `Duration` falls back to the unmoved delay.
fn jittered(delay: Duration, percent: u8, draw: f64) -> Duration {
    if percent == 0 {
        return delay;
    }
    let spread = f64::from(percent.min(MAX_REFRESH_JITTER_PERCENT)) / 100.0;
    let factor = 1.0 + spread * (2.0 * draw.clamp(0.0, 1.0) - 1.0);
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
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
            let keys = parse_jwks(&body, remote.policy.max_keys).map_err(|e| {
                tracing::warn!(url = %shown, error = %e, "fetched key set refused; keeping the previous one");
                e.to_string()
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
    crate::metrics::key_set_state(&remote.issuer, keys.len(), false);
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

/// The key set URL, and whether it came from a discovery document: configured, discovered
/// from the issuer (remembered until a fetch of it fails), or the conventional path when the
/// issuer publishes no discovery document.
async fn jwks_url(remote: &Remote) -> Result<(Url, bool), String> {
    let issuer = match &remote.location {
        Location::Jwks(url) => return Ok((url.clone(), false)),
        Location::Discovery(issuer) => issuer,
    };
    if let Some(url) = lock(&remote.state).discovered.clone() {
        return Ok((url, true));
    }
    let base = issuer.as_str().trim_end_matches('/');
    // The issuer never carries credentials (refused when it is configured).
    let discovery = format!("{base}/.well-known/openid-configuration");
    let document = match fetch(remote, &discovery).await {
        Ok((body, _)) => serde_json::from_slice::<serde_json::Value>(&body).ok(),
        Err(e) => {
            tracing::warn!(%discovery, error = %e, "OpenID discovery failed");
            None
        }
    };
    let found = match document {
        Some(document) => discovered_jwks_uri(&document, issuer).map_err(|refused| {
            tracing::warn!(%discovery, error = %refused, "discovery document refused");
            refused.to_string()
        })?,
        None => None,
    };
    match found {
        Some(url) => {
            tracing::info!(url = %Redacted(&url), "key set location discovered");
            lock(&remote.state).discovered = Some(url.clone());
            Ok((url, true))
        }
        None => Url::parse(&format!("{base}/.well-known/jwks.json"))
            .map(|url| (url, false))
            .map_err(|e| e.to_string()),
    }
}

/// Why a discovery document was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum DiscoveryRefused {
    /// Its `issuer` is not the configured one (OpenID Connect Discovery 1.0 §4.3).
    #[error("discovery document names a different issuer than the configured one")]
    IssuerMismatch,
    /// Its `jwks_uri` would fetch keys over plain HTTP for an `https` issuer.
    #[error("discovery document names a plain-http jwks_uri for an https issuer")]
    Downgrade,
}

/// The `jwks_uri` of a discovery document for `issuer`, `None` when it names none usable.
///
/// The document's `issuer` must be exactly the configured one; the only spelling difference
/// allowed is the `/` that URL parsing adds to an issuer without a path.
fn discovered_jwks_uri(
    document: &serde_json::Value,
    issuer: &Url,
) -> Result<Option<Url>, DiscoveryRefused> {
    let named = document.get("issuer").and_then(serde_json::Value::as_str);
    let configured = issuer.as_str();
    let without_root_slash = (issuer.path() == "/")
        .then(|| configured.strip_suffix('/'))
        .flatten();
    if named.is_none_or(|named| named != configured && Some(named) != without_root_slash) {
        return Err(DiscoveryRefused::IssuerMismatch);
    }
    let Some(url) = document
        .get("jwks_uri")
        .and_then(serde_json::Value::as_str)
        .and_then(|uri| Url::parse(uri).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
    else {
        return Ok(None);
    };
    if issuer.scheme() == "https" && url.scheme() != "https" {
        return Err(DiscoveryRefused::Downgrade);
    }
    Ok(Some(url))
}

/// GETs `url` with the policy's timeouts and body limit; returns the body and `max-age`.
async fn fetch(
    remote: &Remote,
    url: impl reqwest::IntoUrl,
) -> Result<(Vec<u8>, Option<Duration>), String> {
    let limit = remote.policy.max_body_bytes;
    let mut response = remote
        .client
        .get(url)
        // Also bounds a caller-supplied client, whose own timeouts may be longer or unset.
        .timeout(remote.policy.request_timeout)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| u64::try_from(limit).is_ok_and(|limit| len > limit))
    {
        return Err(format!("body larger than {limit} bytes"));
    }
    let max_age = response
        .headers()
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body
            .len()
            .checked_add(chunk.len())
            .is_none_or(|len| len > limit)
        {
            return Err(format!("body larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, max_age))
}

fn describe(error: &reqwest::Error) -> String {
    // Short, URL-free descriptions: the URL is logged beside them and error chains are long.
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "body could not be read"
    } else if error.is_redirect() {
        return redirect_refusal(error).map_or_else(
            || "redirect not followed".to_owned(),
            |refused| format!("redirect not followed: {refused}"),
        );
    } else {
        "request failed"
    }
    .to_owned()
}

/// The redirect policy's reason for refusing, somewhere in a `reqwest` error's chain.
fn redirect_refusal(error: &reqwest::Error) -> Option<RedirectRefused> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RedirectRefused>() {
            return Some(*refused);
        }
        source = cause.source();
    }
    None
}

/// The `max-age` directive of one `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("MAX-AGE=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=-5"), None);
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn no_jitter_gives_exactly_the_scheduled_delay() {
        for delay in [Duration::ZERO, Duration::from_millis(48_123), Duration::MAX] {
            for draw in [0.0, 0.25, 0.5, 0.999_999, f64::NAN] {
                assert_eq!(jittered(delay, 0, draw), delay, "{delay:?} {draw}");
            }
        }
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads() {
        let delay = Duration::from_secs(48);
        let (low, high) = (delay.mul_f64(0.9), delay.mul_f64(1.1));
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<Duration> = (0..1000).map(|_| jittered(delay, 10, rng.f64())).collect();
        assert!(
            delays.iter().all(|d| (low..=high).contains(d)),
            "{delays:?}"
        );
        let distinct: HashSet<Duration> = delays.iter().copied().collect();
        assert!(
            distinct.len() > 900,
            "only {} distinct delays",
            distinct.len()
        );
        // Both ends of the range are reached, not just a narrow band around the middle.
        assert!(delays.iter().any(|d| *d < delay.mul_f64(0.91)));
        assert!(delays.iter().any(|d| *d > delay.mul_f64(1.09)));
        assert_eq!(jittered(delay, 10, 0.0), low);
        assert_eq!(jittered(delay, 10, 0.5), delay);
    }

    #[test]
    fn jitter_never_goes_negative_or_overflows() {
        assert_eq!(jittered(Duration::ZERO, 50, 0.0), Duration::ZERO);
        // Above the cap, the cap applies: at most half the delay earlier.
        assert_eq!(jittered(10 * SECOND, u8::MAX, 0.0), 5 * SECOND);
        // Out-of-range draws are clamped, and a meaningless one leaves the delay unmoved.
        assert_eq!(jittered(10 * SECOND, 10, -3.0), 9 * SECOND);
        assert_eq!(jittered(10 * SECOND, 10, 7.0), 11 * SECOND);
        assert_eq!(jittered(10 * SECOND, 10, f64::NAN), 10 * SECOND);
        // Too long to move later: unmoved rather than a panic.
        assert_eq!(jittered(Duration::MAX, 50, 0.999), Duration::MAX);
        assert!(jittered(Duration::MAX, 50, 0.0) < Duration::MAX);
    }

    /// A remote store (never started) holding a set fetched just now with this lifetime,
    /// and the instant taken just before "now".
    fn store_with(policy: KeySetPolicy, ttl: Duration, failures: u32) -> (Inner, Instant) {
        let location = Location::Jwks(Url::parse("http://127.0.0.1:9/keys").unwrap());
        let client = reqwest::Client::new();
        let started = Instant::now();
        let state = FetchState {
            failures,
            last_attempt: Some(Instant::now()),
            ..FetchState::default()
        };
        let inner = Inner {
            current: ArcSwapOption::from_pointee(Loaded {
                keys: KeySet::default(),
                fetched_at: Instant::now(),
                ttl,
            }),
            remote: Some(Remote {
                location,
                client,
                policy,
                runtime: tokio::runtime::Handle::current(),
                state: Mutex::new(state),
                on_removed: None,
                issuer: String::new(),
            }),
        };
        (inner, started)
    }

    /// Asserts the schedule for `draw` is `expected` less the time elapsed since `started`
    /// (within a millisecond of float rounding), however slowly the test runs.
    fn assert_schedule(store: &(Inner, Instant), draw: f64, expected: Duration) {
        let (inner, started) = store;
        let actual = next_refresh_in(inner, inner.remote.as_ref().unwrap(), draw);
        let earliest = expected.saturating_sub(started.elapsed());
        let rounding = Duration::from_millis(1);
        assert!(
            actual + rounding >= earliest && actual <= expected + rounding,
            "draw {draw}: {actual:?} is not {expected:?} less the time elapsed"
        );
    }

    #[tokio::test]
    async fn routine_refreshes_are_moved_by_the_draw() {
        let ttl = 100 * SECOND;
        let jittered_store = store_with(KeySetPolicy::default(), ttl, 0);
        assert_schedule(&jittered_store, 0.0, 72 * SECOND);
        assert_schedule(&jittered_store, 0.5, 80 * SECOND);
        assert_schedule(&jittered_store, 0.75, 84 * SECOND);
        let steady = KeySetPolicy {
            refresh_jitter_percent: 0,
            ..KeySetPolicy::default()
        };
        let unjittered_store = store_with(steady, ttl, 0);
        for draw in [0.0, 0.5, 0.99] {
            assert_schedule(&unjittered_store, draw, 80 * SECOND);
        }
    }

    #[tokio::test]
    async fn retries_after_a_failure_are_moved_by_the_draw() {
        // Two failures: the backoff is 4 s.
        let store = store_with(KeySetPolicy::default(), 100 * SECOND, 2);
        assert_schedule(&store, 0.0, Duration::from_millis(3600));
        assert_schedule(&store, 0.999_999, Duration::from_millis(4400));
    }

    fn urls(list: &[&str]) -> Vec<Url> {
        list.iter().map(|u| Url::parse(u).unwrap()).collect()
    }

    #[test]
    fn follows_at_most_three_redirects() {
        let next = Url::parse("http://idp.test/keys").unwrap();
        let mut previous = urls(&["http://idp.test/a"]);
        for _ in 0..MAX_REDIRECTS {
            assert_eq!(refuse_redirect(&previous, &next), None);
            previous.push(next.clone());
        }
        assert_eq!(
            refuse_redirect(&previous, &next),
            Some(RedirectRefused::TooMany)
        );
    }

    #[test]
    fn never_redirects_from_https_to_http() {
        let https = Url::parse("https://idp.test/keys").unwrap();
        let http = Url::parse("http://idp.test/keys").unwrap();
        assert_eq!(
            refuse_redirect(&urls(&["https://idp.test/a"]), &http),
            Some(RedirectRefused::Downgrade)
        );
        assert_eq!(
            refuse_redirect(&urls(&["https://idp.test/a", "https://cdn.test/b"]), &http),
            Some(RedirectRefused::Downgrade)
        );
        assert_eq!(
            refuse_redirect(&urls(&["https://idp.test/a"]), &https),
            None
        );
        assert_eq!(refuse_redirect(&urls(&["http://idp.test/a"]), &https), None);
        assert_eq!(refuse_redirect(&urls(&["http://idp.test/a"]), &http), None);
    }

    #[test]
    fn discovery_requires_the_configured_issuer() {
        let issuer = Url::parse("https://idp.test").unwrap();
        let doc = |iss: &str, jwks: &str| serde_json::json!({"issuer": iss, "jwks_uri": jwks});
        let keys = Url::parse("https://idp.test/keys").unwrap();
        for spelling in ["https://idp.test", "https://idp.test/"] {
            assert_eq!(
                discovered_jwks_uri(&doc(spelling, keys.as_str()), &issuer),
                Ok(Some(keys.clone()))
            );
        }
        for other in [
            "https://evil.test",
            "https://idp.test/tenant",
            "HTTPS://idp.test",
            "",
        ] {
            assert_eq!(
                discovered_jwks_uri(&doc(other, keys.as_str()), &issuer),
                Err(DiscoveryRefused::IssuerMismatch),
                "{other}"
            );
        }
        assert_eq!(
            discovered_jwks_uri(&serde_json::json!({"jwks_uri": keys.as_str()}), &issuer),
            Err(DiscoveryRefused::IssuerMismatch)
        );
        let tenant = Url::parse("https://idp.test/tenant").unwrap();
        assert_eq!(
            discovered_jwks_uri(&doc("https://idp.test/tenant/", keys.as_str()), &tenant),
            Err(DiscoveryRefused::IssuerMismatch)
        );
        assert_eq!(
            discovered_jwks_uri(&doc("https://idp.test", "http://idp.test/keys"), &issuer),
            Err(DiscoveryRefused::Downgrade)
        );
        assert_eq!(
            discovered_jwks_uri(&doc("https://idp.test", "ftp://idp.test/keys"), &issuer),
            Ok(None)
        );
    }

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

    #[tokio::test]
    async fn the_schedule_never_comes_sooner_than_a_second_after_a_fetch() {
        // A provider's `max-age=0` under a policy without a lower clamp, and a failure
        // backoff with no jitter: neither may schedule the next fetch within the floor.
        let busy = KeySetPolicy {
            min_ttl: Duration::ZERO,
            refresh_jitter_percent: 0,
            ..KeySetPolicy::default()
        };
        for failures in [0, 1] {
            let (inner, started) = store_with(busy.clone(), Duration::ZERO, failures);
            let delay = next_refresh_in(&inner, inner.remote.as_ref().unwrap(), 0.0);
            assert!(
                delay + started.elapsed() >= MIN_FETCH_INTERVAL,
                "{failures} failures: next fetch in {delay:?}"
            );
        }
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
