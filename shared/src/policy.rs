//! [`KeySetPolicy`]: how remote key sets are fetched, cached and refreshed.

use std::ops::RangeInclusive;
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
    /// Minimum time between two fetches triggered by requests (unknown `kid`, no keys);
    /// within [`REFETCH_COOLDOWN_RANGE`].
    pub refetch_cooldown: Duration,
    /// How long the last good key set keeps serving while refreshes fail; within
    /// [`MAX_STALE_RANGE`].
    pub max_stale: Duration,
    /// Lower clamp of the `Cache-Control: max-age` lifetime; within [`MIN_TTL_RANGE`].
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

/// The range of [`KeySetPolicy::refetch_cooldown`]: at least a second between request-driven
/// fetches, so that a flood of unknown `kid`s cannot turn into a flood of fetches.
pub const REFETCH_COOLDOWN_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(3600);
/// The range of [`KeySetPolicy::min_ttl`]: a provider answering `max-age=0` must not turn the
/// background refresh into a busy loop.
pub const MIN_TTL_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(10)..=Duration::from_secs(24 * 3600);
/// The range of [`KeySetPolicy::max_stale`]: from none to a week.
pub const MAX_STALE_RANGE: RangeInclusive<Duration> =
    Duration::ZERO..=Duration::from_secs(7 * 24 * 3600);

/// A [`KeySetPolicy`] field outside its range; [`AuthBuilder::build`](crate::AuthBuilder::build)
/// refuses the policy with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key set policy: {setting} must be {} to {} seconds", .range.start().as_secs(), .range.end().as_secs())]
pub struct PolicyOutOfRange {
    /// The field, as named in [`KeySetPolicy`].
    pub setting: &'static str,
    /// Its allowed range.
    pub range: RangeInclusive<Duration>,
}

impl KeySetPolicy {
    /// Checks the timings that bound how often key sets are fetched and how long a stale one
    /// serves ([`REFETCH_COOLDOWN_RANGE`], [`MIN_TTL_RANGE`], [`MAX_STALE_RANGE`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use api_auth::KeySetPolicy;
    ///
    /// assert!(KeySetPolicy::default().validate().is_ok());
    /// let busy = KeySetPolicy { min_ttl: Duration::ZERO, ..KeySetPolicy::default() };
    /// assert_eq!(busy.validate().unwrap_err().setting, "min_ttl");
    /// ```
    pub fn validate(&self) -> Result<(), PolicyOutOfRange> {
        for (setting, value, range) in [
            (
                "refetch_cooldown",
                self.refetch_cooldown,
                REFETCH_COOLDOWN_RANGE,
            ),
            ("min_ttl", self.min_ttl, MIN_TTL_RANGE),
            ("max_stale", self.max_stale, MAX_STALE_RANGE),
        ] {
            if !range.contains(&value) {
                return Err(PolicyOutOfRange { setting, range });
            }
        }
        Ok(())
    }
}

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
