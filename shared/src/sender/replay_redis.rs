//! A replay store on Redis (or Valkey), shared by every replica of a fleet.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use url::Url;

use super::replay::{Freshness, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError};
use crate::redacted_url::Redacted;

/// The default bound on one command, connection included: a proof waits at most this long
/// for the store before it is refused (`503`).
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// The default bound on one connection attempt.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The default prefix of the keys written.
const DEFAULT_KEY_PREFIX: &str = "api-auth:dpop:";

/// The time bounds and key prefix of a [`RedisReplayStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RedisReplayOptions {
    command_timeout: Duration,
    connect_timeout: Duration,
    key_prefix: String,
}

impl Default for RedisReplayOptions {
    fn default() -> Self {
        Self {
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
        }
    }
}

impl RedisReplayOptions {
    /// How long one check may take in all, reconnecting included (default 500 ms); past it
    /// the proof is refused with [`ReplayStoreError::Timeout`].
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (default 500 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The prefix of every key written (default `api-auth:dpop:`), to share a database.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
}

/// Why a Redis replay store cannot be set up. The text never repeats the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// Not a `redis://host[:port][/db]` URL.
    #[error("the replay store URL is not a redis://host[:port][/db] URL")]
    InvalidUrl,
    /// A time bound of zero.
    #[error("the replay store's time bounds must be above zero")]
    ZeroTimeout,
}

/// Remembers accepted DPoP proofs in Redis or Valkey, so that every replica sharing the
/// server refuses a replay (feature `redis`).
///
/// One round trip per proof: `SET <prefix><key> 1 NX PX <ttl>`, which stores the key only
/// if it is absent and lets the server expire it. Each check is bounded in time (connection
/// included); an error, a timeout or an unreachable server is a [`ReplayStoreError`], and
/// the proof is refused with `503`, never accepted unchecked. The connection is
/// re-established by the next check once the server answers again. The URL's credentials
/// are never logged.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use api_auth::{DpopVerifier, PublicOrigin, RedisReplayStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A server that is down is no error here: proofs get `503` until it answers.
/// let store = RedisReplayStore::connect("redis://:password@redis.internal:6379/0").await?;
/// let verifier = DpopVerifier::builder(
///     PublicOrigin::parse("https://api.example.com")?,
///     Arc::new(store),
/// )
/// .build()?;
/// # Ok(())
/// # }
/// ```
pub struct RedisReplayStore {
    connection: ConnectionManager,
    options: RedisReplayOptions,
    /// The URL without credentials, for logs.
    shown: String,
    /// Whether the last check reached the server: changes are logged once, not per proof.
    reachable: AtomicBool,
}

impl RedisReplayStore {
    /// A store on the server at `url` (`redis://[user:password@]host[:port][/db]`), with the
    /// default bounds. Must be called within a Tokio runtime.
    ///
    /// Fails only for an invalid URL: a server that cannot be reached yet is logged, and
    /// checks fail (`503`) until it answers.
    pub async fn connect(url: &str) -> Result<Self, RedisStoreError> {
        Self::connect_with(url, RedisReplayOptions::default()).await
    }

    /// [`connect`](Self::connect) with other bounds or key prefix.
    pub async fn connect_with(
        url: &str,
        options: RedisReplayOptions,
    ) -> Result<Self, RedisStoreError> {
        let store = Self::lazy(url, options)?;
        // Connect now, so that a misconfigured or unreachable server shows in the logs at
        // start-up rather than with the first proof (`note` logs it).
        let _ = store.ping().await;
        Ok(store)
    }

    /// A store on the server at `url` that connects on its first check: for start-up code
    /// that cannot wait (a synchronous builder). Must be called within a Tokio runtime.
    /// Fails only for an invalid URL or a zero bound.
    pub fn lazy(url: &str, options: RedisReplayOptions) -> Result<Self, RedisStoreError> {
        if options.command_timeout.is_zero() || options.connect_timeout.is_zero() {
            return Err(RedisStoreError::ZeroTimeout);
        }
        let (parsed, client) = Self::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.command_timeout))
            // One attempt per reconnection: a check waits for at most one, and the next
            // check starts another. Retrying with back-off inside the manager would only
            // make checks wait longer while the server is down.
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|_| RedisStoreError::InvalidUrl)?;
        Ok(Self {
            connection,
            options,
            shown: Redacted(&parsed).to_string(),
            reachable: AtomicBool::new(true),
        })
    }

    /// Checks that `url` names a Redis server this store can use
    /// (`redis://[user:password@]host[:port][/db]`), without connecting: for configuration
    /// checks made before a runtime exists.
    pub fn check_url(url: &str) -> Result<(), RedisStoreError> {
        Self::open(url).map(drop)
    }

    /// The parsed URL and a client for it.
    fn open(url: &str) -> Result<(Url, redis::Client), RedisStoreError> {
        let parsed = Url::parse(url).map_err(|_| RedisStoreError::InvalidUrl)?;
        if parsed.scheme() != "redis" || parsed.host_str().is_none_or(str::is_empty) {
            return Err(RedisStoreError::InvalidUrl);
        }
        let client = redis::Client::open(url).map_err(|_| RedisStoreError::InvalidUrl)?;
        Ok((parsed, client))
    }

    /// Checks that the server answers (`PING`), within the command bound.
    pub async fn ping(&self) -> Result<(), ReplayStoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        let answer = tokio::time::timeout(
            self.options.command_timeout,
            command.query_async::<redis::Value>(&mut connection),
        )
        .await;
        let result = match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(unavailable(&error)),
            Err(_) => Err(ReplayStoreError::Timeout),
        };
        self.note(result.as_ref().err());
        result
    }

    async fn set_if_absent(
        &self,
        key: &ReplayKey,
        ttl: Duration,
    ) -> Result<Freshness, ReplayStoreError> {
        let mut connection = self.connection.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut command = redis::cmd("SET");
        command
            .arg(format!("{}{}", self.options.key_prefix, key.to_base64url()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        // The whole check, waiting for a connection included, within one bound.
        let answer = tokio::time::timeout(
            self.options.command_timeout,
            command.query_async::<redis::Value>(&mut connection),
        )
        .await;
        let result = match answer {
            // `SET ... NX` answers `OK` when it stored the key, nil when the key was there.
            Ok(Ok(redis::Value::Okay)) => Ok(Freshness::Fresh),
            Ok(Ok(redis::Value::SimpleString(text))) if text == "OK" => Ok(Freshness::Fresh),
            Ok(Ok(redis::Value::Nil)) => Ok(Freshness::Replayed),
            Ok(Ok(_)) => Err(ReplayStoreError::Unavailable("unexpected reply to SET NX")),
            Ok(Err(error)) => Err(unavailable(&error)),
            Err(_) => Err(ReplayStoreError::Timeout),
        };
        self.note(result.as_ref().err());
        result
    }

    /// Logs when the server stops or starts answering.
    fn note(&self, error: Option<&ReplayStoreError>) {
        let reachable = error.is_none();
        if self.reachable.swap(reachable, Ordering::AcqRel) != reachable {
            match error {
                Some(error) => tracing::warn!(
                    store = %self.shown,
                    %error,
                    "DPoP replay store unreachable: DPoP proofs are refused until it answers"
                ),
                None => tracing::info!(store = %self.shown, "DPoP replay store reachable again"),
            }
        }
    }
}

/// A Redis error as a fixed reason (its text could hold server-provided content).
fn unavailable(error: &redis::RedisError) -> ReplayStoreError {
    ReplayStoreError::Unavailable(if error.is_timeout() {
        "timed out"
    } else if error.is_connection_refusal() {
        "connection refused"
    } else if error.is_io_error() || error.is_connection_dropped() {
        "connection failed"
    } else {
        "server error"
    })
}

impl ReplayStore for RedisReplayStore {
    fn check_and_remember<'a>(&'a self, key: &'a ReplayKey, ttl: Duration) -> ReplayFuture<'a> {
        Box::pin(self.set_if_absent(key, ttl))
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("url", &self.shown)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
