//! When a key set is fetched again: ahead of expiry, after a failure with backoff, moved
//! at random so that replicas drift apart, and never sooner than a second after the last
//! fetch started.

use std::sync::Weak;
use std::time::Duration;

use super::{FetchState, Inner, KeyStore, Location, Remote, lock};
use crate::policy::MAX_REFRESH_JITTER_PERCENT;

/// The shortest time between the starts of two fetches of one key set, whatever the policy,
/// the provider's `max-age` or the requests say: a floor under every schedule, so that no
/// combination of them can turn refreshing into a busy loop.
pub(super) const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(1);

/// Refreshes ahead of expiry, and retries with backoff after a failure, for as long as
/// the store exists. Each scheduled refresh is moved by a fresh random draw (see
/// [`jittered`]), so replicas started together drift apart instead of fetching together.
pub(super) async fn refresh_loop(store: Weak<Inner>) {
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
        if matches!(remote.location, Location::PemKey { .. }) && inner.current.load().is_none() {
            // A `kid` whose key was never obtained is fetched again only when a token names
            // it (once per cooldown): tokens carry any `kid` they like, and a retry loop for
            // each would fetch forever. Look again later, in case a request succeeds.
            return remote.policy.min_ttl;
        }
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::Instant;

    use arc_swap::ArcSwapOption;
    use url::Url;

    use super::super::Loaded;
    use super::*;
    use crate::jwk::KeySet;
    use crate::policy::KeySetPolicy;

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
            per_kid: None,
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
}
