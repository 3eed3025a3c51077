//! The key set cache: fetched once, shared, refreshed ahead of expiry, kept through outages.
//!
//! The `cached` crate's stores were considered and not used: they evict an entry when its
//! TTL passes (this store must keep serving the last good set through an outage), they
//! cannot refresh in the background ahead of expiry, and they have no notion of a
//! rate-limited refetch shared by concurrent misses. Those three behaviours are the point
//! of this module, so it is a small state machine over `arc-swap` (lock-free reads on the
//! hot path) and one shared future per fetch (single flight).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::Serialize;
use url::Url;

use crate::algorithm::Algorithm;
use crate::config::KeySetPolicy;
use crate::error::{AuthError, TokenError};
use crate::jwk::{Fingerprint, KeySet, Selection, VerifyingKey, parse_jwks};

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
    discovered: Option<Url>,
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
#[derive(Debug, Clone, Serialize)]
pub struct KeySetStatus {
    /// `development` (embedded issuer) or `remote`.
    pub source: &'static str,
    /// Usable keys in the current set.
    pub count: usize,
    /// Seconds since the current set was fetched.
    pub age_secs: Option<u64>,
    /// Whether the set is past its lifetime and served only because refreshes fail.
    pub stale: bool,
    /// The last refresh error, cleared by a success.
    pub last_error: Option<String>,
}

/// The key set of one deployment. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KeyStore {
    inner: Arc<Inner>,
}

impl KeyStore {
    /// A fixed set that never expires: the development issuer's own key, used in process.
    #[cfg_attr(not(feature = "dev-issuer"), allow(dead_code))]
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
        on_removed: Option<RemovedKeysHook>,
        issuer: String,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("api-auth/", env!("CARGO_PKG_VERSION")))
            .build()?;
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
    pub(crate) fn status(&self) -> KeySetStatus {
        let current = self.inner.current.load_full();
        let now = Instant::now();
        let (last_error, source) = match &self.inner.remote {
            Some(remote) => (lock(&remote.state).last_error.clone(), "remote"),
            None => (None, "development"),
        };
        KeySetStatus {
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
    pub(crate) fn is_ready(&self) -> bool {
        self.usable().is_some()
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
        let bound = remote.policy.connect_timeout + remote.policy.request_timeout;
        // The fetch itself is bounded by the client's timeouts; this bounds the wait too,
        // in case discovery and the key set fetch both run long.
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
        state.last_attempt = Some(Instant::now());
        let inner = Arc::clone(&self.inner);
        let task = remote.runtime.spawn(async move {
            let result = fetch_and_install(&inner).await;
            if let Some(remote) = &inner.remote {
                let mut state = lock(&remote.state);
                state.in_flight = None;
                match &result {
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
                    warn_if_stale(&inner, remote);
                }
                export_state(&inner, remote, result.is_ok());
            }
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

/// Counts a finished fetch and sets the key set gauges.
fn export_state(inner: &Arc<Inner>, remote: &Remote, fetched: bool) {
    crate::metrics::jwks_fetch(&remote.issuer, fetched);
    let store = KeyStore {
        inner: Arc::clone(inner),
    };
    let usable = store.usable().map_or(0, |loaded| loaded.keys.len());
    crate::metrics::key_set_state(&remote.issuer, usable, store.status().stale);
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
/// the store exists.
async fn refresh_loop(store: Weak<Inner>) {
    loop {
        let delay = {
            let Some(inner) = store.upgrade() else { return };
            let Some(remote) = &inner.remote else { return };
            next_refresh_in(&inner, remote)
        };
        tokio::time::sleep(delay).await;
        let Some(inner) = store.upgrade() else { return };
        let due = inner
            .remote
            .as_ref()
            .is_some_and(|r| next_refresh_in(&inner, r).is_zero());
        if due {
            let refresh = KeyStore { inner }.refresh();
            let _ = refresh.await;
        }
    }
}

fn next_refresh_in(inner: &Inner, remote: &Remote) -> Duration {
    let state = lock(&remote.state);
    if state.in_flight.is_some() {
        // Poll again shortly; the running fetch will settle the schedule.
        return Duration::from_millis(250);
    }
    let since_attempt = state.last_attempt.map_or(Duration::MAX, |at| at.elapsed());
    if state.failures > 0 {
        // Exponential backoff from 1 s, never longer than the shortest allowed lifetime.
        let cap = remote
            .policy
            .min_ttl
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let backoff = Duration::from_secs(1u64 << state.failures.min(6)).min(cap);
        return backoff.saturating_sub(since_attempt);
    }
    match inner.current.load().as_ref() {
        // Refresh at 80 % of the lifetime: routine refreshes never make a request wait.
        Some(loaded) => (loaded.ttl.mul_f32(0.8)).saturating_sub(loaded.fetched_at.elapsed()),
        None => Duration::ZERO,
    }
}

async fn fetch_and_install(inner: &Inner) -> FetchResult {
    let Some(remote) = &inner.remote else {
        return Ok(());
    };
    let url = jwks_url(remote).await?;
    let (body, max_age) = fetch(remote, url.as_str()).await.map_err(|e| {
        tracing::warn!(%url, error = %e, "key set fetch failed");
        e
    })?;
    let keys = parse_jwks(&body, remote.policy.max_keys).map_err(|e| {
        tracing::warn!(%url, error = %e, "fetched key set refused; keeping the previous one");
        e.to_string()
    })?;
    let ttl = max_age.unwrap_or(remote.policy.default_ttl).clamp(
        remote.policy.min_ttl,
        remote.policy.max_ttl.max(remote.policy.min_ttl),
    );
    let new_keys: HashSet<Fingerprint> = keys.fingerprints().collect();
    let previous = inner.current.swap(Some(Arc::new(Loaded {
        keys,
        fetched_at: Instant::now(),
        ttl,
    })));
    let count = new_keys.len();
    match previous {
        None => tracing::info!(%url, keys = count, ttl_secs = ttl.as_secs(), "key set loaded"),
        Some(old) => {
            let old_keys: HashSet<Fingerprint> = old.keys.fingerprints().collect();
            let removed: HashSet<Fingerprint> = old_keys.difference(&new_keys).copied().collect();
            let added = new_keys.difference(&old_keys).count();
            if added > 0 || !removed.is_empty() {
                tracing::info!(%url, added, removed = removed.len(), keys = count, "key set rotated");
            } else {
                tracing::debug!(%url, keys = count, ttl_secs = ttl.as_secs(), "key set refreshed");
            }
            if let Some(hook) = remote.on_removed.as_ref().filter(|_| !removed.is_empty()) {
                hook(&removed);
            }
        }
    }
    Ok(())
}

/// The key set URL: configured, discovered once from the issuer, or the conventional path.
async fn jwks_url(remote: &Remote) -> Result<Url, String> {
    let issuer = match &remote.location {
        Location::Jwks(url) => return Ok(url.clone()),
        Location::Discovery(issuer) => issuer,
    };
    if let Some(url) = lock(&remote.state).discovered.clone() {
        return Ok(url);
    }
    let base = issuer.as_str().trim_end_matches('/');
    let discovery = format!("{base}/.well-known/openid-configuration");
    let found = match fetch(remote, &discovery).await {
        Ok((body, _)) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|doc| {
                if doc.get("issuer").and_then(|i| i.as_str()) != Some(issuer.as_str())
                    && doc.get("issuer").and_then(|i| i.as_str()) != Some(base)
                {
                    tracing::warn!(%discovery, "discovery document names a different issuer");
                }
                doc.get("jwks_uri")?
                    .as_str()
                    .and_then(|u| Url::parse(u).ok())
            })
            .filter(|u| matches!(u.scheme(), "http" | "https")),
        Err(e) => {
            tracing::warn!(%discovery, error = %e, "OpenID discovery failed");
            None
        }
    };
    match found {
        Some(url) => {
            tracing::info!(%url, "key set location discovered");
            lock(&remote.state).discovered = Some(url.clone());
            Ok(url)
        }
        None => Url::parse(&format!("{base}/.well-known/jwks.json")).map_err(|e| e.to_string()),
    }
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
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
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
        if body.len() + chunk.len() > limit {
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
        "too many redirects"
    } else {
        "request failed"
    }
    .to_owned()
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
}
