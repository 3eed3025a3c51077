//! [`KeySetPolicy`]: how remote key sets are fetched, cached and refreshed.

use std::time::Duration;

/// How remote key sets are fetched, cached and refreshed. The defaults suit most
/// deployments; every field is public so that a service can adjust one and keep the rest.
///
/// ```
/// use std::time::Duration;
/// use api_auth::KeySetPolicy;
///
/// let policy = KeySetPolicy {
///     request_timeout: Duration::from_secs(3),
///     ..KeySetPolicy::default()
/// };
/// assert_eq!(policy.refetch_cooldown, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySetPolicy {
    /// Minimum time between two fetches triggered by requests (unknown `kid`, no keys).
    pub refetch_cooldown: Duration,
    /// How long the last good key set keeps serving while refreshes fail.
    pub max_stale: Duration,
    /// Lower clamp of the `Cache-Control: max-age` lifetime.
    pub min_ttl: Duration,
    /// Upper clamp of the `Cache-Control: max-age` lifetime.
    pub max_ttl: Duration,
    /// Lifetime when the response has no `max-age`.
    pub default_ttl: Duration,
    /// TCP connect timeout of a fetch.
    pub connect_timeout: Duration,
    /// Whole-request timeout of a fetch.
    pub request_timeout: Duration,
    /// Largest key set document accepted.
    pub max_body_bytes: usize,
    /// Most keys kept from one document; the rest are skipped with a warning.
    pub max_keys: usize,
    /// How far, in percent either way, each background refresh (and each retry after a
    /// failed one) is moved at random from its schedule, so that replicas started together
    /// do not fetch together. Default 10; `0` disables; at most
    /// [`MAX_REFRESH_JITTER_PERCENT`] is applied.
    pub refresh_jitter_percent: u8,
}

/// The largest accepted [`KeySetPolicy::refresh_jitter_percent`]: a refresh still happens
/// between 40 % and 100 % + 20 % of the lifetime.
pub const MAX_REFRESH_JITTER_PERCENT: u8 = 50;

impl Default for KeySetPolicy {
    fn default() -> Self {
        Self {
            refetch_cooldown: Duration::from_secs(10),
            max_stale: Duration::from_secs(24 * 3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            max_keys: 100,
            refresh_jitter_percent: 10,
        }
    }
}
