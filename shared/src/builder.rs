//! [`AuthBuilder`]: every option of [`Auth`], set in code, checked once at [`AuthBuilder::build`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::DecodingKey;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::api_keys::ApiKeys;
use crate::auth::{Auth, IssuerKeys, Settings};
#[cfg(feature = "dev-issuer")]
use crate::dev_issuer::DevIssuer;
use crate::gateway::{BuilderOptions, GatewayProfile};
use crate::issuer::{Issuer, KeySource};
use crate::jwk::{JwksError, KeySet, parse_jwks};
use crate::key_store::{KeyStore, Location, RemovedKeysHook, SharedRemovedKeysHook};
use crate::policy::{KeySetPolicy, PolicyOutOfRange};
use crate::redacted_url::Redacted;
use crate::shared_secret::SharedSecret;
use crate::token::ClaimRules;
use crate::token_cache::TokenCache;
use crate::token_source::TokenSource;

/// The largest clock-skew allowance [`AuthBuilder::leeway`] accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash output size).
const MIN_HS256_SECRET_BYTES: usize = 32;

/// Why [`AuthBuilder::build`] (or a key source or issuer constructor) refused a configuration.
///
/// A configuration that cannot work is refused when the service starts, never discovered
/// on the first request:
///
/// ```
/// use std::time::Duration;
/// use api_auth::{Auth, BuildError, Issuer};
///
/// assert!(matches!(Auth::builder().build(), Err(BuildError::NoKeySource)));
/// assert!(matches!(
///     Auth::builder().hs256_secret("too short").build(),
///     Err(BuildError::WeakHs256Secret)
/// ));
/// assert!(matches!(
///     Issuer::discover("login.example.com"),
///     Err(BuildError::InvalidUrl { .. })
/// ));
///
/// let refused = Auth::builder()
///     .issuer(Issuer::discover("https://login.example.com")?)
///     .leeway(Duration::from_secs(600))
///     .build()
///     .unwrap_err();
/// assert_eq!(refused.to_string(), "the leeway must be at most 300 seconds");
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No issuer, key source or HS256 secret: no token could ever verify.
    #[error("no issuer, key source or HS256 secret is configured")]
    NoKeySource,
    /// A URL that is not an `http` or `https` URL with a host.
    #[error("{url:?} is {reason}")]
    InvalidUrl {
        /// The value given, without any credentials it carried.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An issuer value that cannot be matched against tokens.
    #[error("issuer {issuer:?} is {reason}")]
    InvalidIssuer {
        /// The value given, without any credentials it carried.
        issuer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same issuer configured twice.
    #[error("issuer {0:?} is configured more than once")]
    DuplicateIssuer(String),
    /// Keys without an issuer together with listed issuers: which keys a token uses would
    /// not depend on its `iss` alone.
    #[error("keys without an issuer cannot be combined with listed issuers")]
    MixedIssuers,
    /// An empty algorithm allow-list.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithm,
    /// `HS256` allowed without a secret to verify it with.
    #[error("HS256 is allowed but no HS256 secret is configured")]
    Hs256WithoutSecret,
    /// An HS256 secret shorter than 32 bytes.
    #[error("the HS256 secret must be at least 32 bytes (RFC 7518 section 3.2)")]
    WeakHs256Secret,
    /// A clock-skew allowance over [`MAX_LEEWAY`].
    #[error("the leeway must be at most {} seconds", MAX_LEEWAY.as_secs())]
    LeewayTooLarge,
    /// A local key set document that holds no usable key.
    #[error("key set of issuer {issuer:?}: {source}")]
    KeySet {
        /// The issuer (empty for keys without an issuer).
        issuer: String,
        /// Why the document cannot be used.
        source: JwksError,
    },
    /// A PEM key that cannot be used.
    #[error("PEM key {index} of issuer {issuer:?}: {reason}")]
    Pem {
        /// The issuer (empty for keys without an issuer).
        issuer: String,
        /// The key's position in the list, from 0.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key set file that cannot be read.
    #[error("key set file {path:?}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP client for remote key sets could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// A [`KeySetPolicy`] timing outside its range.
    #[error(transparent)]
    KeySetPolicy(#[from] PolicyOutOfRange),
    /// Remote key sets need a Tokio runtime to fetch in the background, and none is running.
    #[error("remote key sets must be built inside a Tokio runtime")]
    NoRuntime,
    /// A header or cookie name for the token that no request could carry.
    #[error("token {kind} name {name:?} is {reason}")]
    InvalidTokenSource {
        /// `header` or `cookie`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A gateway setting that no assertion of that gateway could match.
    #[error("{gateway} {setting}: {reason}")]
    InvalidGatewaySetting {
        /// The gateway (`Cloudflare Access`, `Google Cloud IAP`, `AWS ALB`).
        gateway: &'static str,
        /// The setting, as its constructor or option names it (`team_domain`, `aud_tag`,
        /// `audience`, `alb_arn`, `client_id`, `issuer`, `key_url`).
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A gateway issuer together with another issuer, keys without an issuer or the
    /// development issuer: the token is read only where the gateway puts it.
    #[error("the {gateway} issuer must be the only issuer")]
    GatewayNotAlone {
        /// The gateway.
        gateway: &'static str,
    },
    /// A builder option that a gateway issuer sets itself.
    #[error("{option} cannot be set with the {gateway} issuer, which sets it itself")]
    GatewayConflict {
        /// The gateway.
        gateway: &'static str,
        /// The option (`an audience`, `an HS256 secret`, `a token source`).
        option: &'static str,
    },
    /// An algorithm allow-list without the algorithm the gateway signs with.
    #[error("the algorithm allow-list does not contain {algorithm}, which {gateway} signs with")]
    GatewayAlgorithm {
        /// The gateway.
        gateway: &'static str,
        /// Its algorithm.
        algorithm: Algorithm,
    },
}

/// Configures an [`Auth`]. Every option has a default; [`AuthBuilder::build`] checks the
/// combination and starts fetching remote key sets.
///
/// | option | default |
/// |---|---|
/// | [`issuer`](Self::issuer) / [`keys_without_issuer`](Self::keys_without_issuer) | none (at least one key source or an HS256 secret is required) |
/// | [`audience`](Self::audience) | not checked |
/// | [`algorithms`](Self::algorithms) | every asymmetric algorithm ([`Algorithm::ASYMMETRIC`]) |
/// | [`leeway`](Self::leeway) | 30 s (at most 300 s) |
/// | [`hs256_secret`](Self::hs256_secret) | none: HS256 is never accepted |
/// | [`api_keys`](Self::api_keys) | none: every API key is refused |
/// | [`shared_secret`](Self::shared_secret) | none: no gate |
/// | [`force_https`](Self::force_https) | `false` |
/// | [`ungated_paths`](Self::ungated_paths) | none: the gate applies to every path |
/// | [`key_set_policy`](Self::key_set_policy) | [`KeySetPolicy::default`] (10 s refetch cooldown, 24 h stale allowance, 2 s / 5 s timeouts, 1 MiB body limit) |
/// | [`http_client`](Self::http_client) | a client of this crate's (3 redirects at most, never `https` to `http`) |
/// | [`token_cache_size`](Self::token_cache_size) | 10,000 tokens |
/// | [`max_token_bytes`](Self::max_token_bytes) | 8 KiB |
/// | [`token_source`](Self::token_source) | `Authorization: Bearer` ([`TokenSource::authorization`]) |
///
/// A gateway issuer ([`Issuer::cloudflare_access`], [`Issuer::google_iap`],
/// [`Issuer::aws_alb`]) sets the audience, the token source and the algorithm itself and must
/// be the only issuer; [`build`](Self::build) refuses a combination that contradicts it.
///
/// ```
/// use std::time::Duration;
/// use api_auth::{Algorithm, Auth, Issuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), api_auth::BuildError> {
/// let auth = Auth::builder()
///     .issuer(Issuer::discover("https://login.example.com/tenant")?)
///     .audience("orders-api")
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .leeway(Duration::from_secs(10))
///     .build()?;
/// # let _ = auth;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct AuthBuilder {
    issuers: Vec<Issuer>,
    keys_without_issuer: Option<KeySource>,
    audience: Option<String>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    hs256_secret: Option<Vec<u8>>,
    api_keys: Option<ApiKeys>,
    shared_secret: Option<SharedSecret>,
    force_https: bool,
    ungated_paths: Vec<String>,
    key_set_policy: KeySetPolicy,
    http_client: Option<reqwest::Client>,
    token_cache_size: usize,
    max_token_bytes: usize,
    token_source: Option<TokenSource>,
    #[cfg(feature = "dev-issuer")]
    development: Option<DevIssuer>,
}

impl Default for AuthBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            keys_without_issuer: None,
            audience: None,
            algorithms: None,
            leeway: Duration::from_secs(30),
            hs256_secret: None,
            api_keys: None,
            shared_secret: None,
            force_https: false,
            ungated_paths: Vec::new(),
            key_set_policy: KeySetPolicy::default(),
            http_client: None,
            token_cache_size: 10_000,
            max_token_bytes: 8 * 1024,
            token_source: None,
            #[cfg(feature = "dev-issuer")]
            development: None,
        }
    }
}

impl std::fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("issuers", &self.issuers)
            .field("keys_without_issuer", &self.keys_without_issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("api_keys", &self.api_keys)
            .field(
                "shared_secret",
                &self.shared_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("force_https", &self.force_https)
            .field("key_set_policy", &self.key_set_policy)
            .field("token_source", &self.token_source)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// Accepts tokens of `issuer`. Call once per issuer: each has its own key set, fetched,
    /// cached, refreshed and rate-limited independently of the others. A gateway issuer
    /// ([`Issuer::cloudflare_access`], [`Issuer::google_iap`], [`Issuer::aws_alb`]) must be
    /// the only one.
    pub fn issuer(mut self, issuer: impl Into<Issuer>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Where [`Auth::authenticate`] takes the token from (default: the `Authorization`
    /// bearer). With a named header, `Authorization` is never read. Gateway issuers set
    /// their own.
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.token_source = Some(source);
        self
    }

    /// Verifies with keys from `source` and does not check `iss` at all. Only for a
    /// gateway that issues tokens without `iss`; prefer [`issuer`](Self::issuer). Cannot be
    /// combined with listed issuers.
    pub fn keys_without_issuer(mut self, source: KeySource) -> Self {
        self.keys_without_issuer = Some(source);
        self
    }

    /// Requires `aud` (a string or an array) to contain `audience`. Without it, any token of
    /// an accepted issuer is accepted, whatever API it was issued for.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The accepted algorithms (default: every asymmetric one). `HS256` needs
    /// [`hs256_secret`](Self::hs256_secret).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The clock skew allowed on `exp` and `nbf` (default 30 s, at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Also accepts HS256 tokens signed with this secret (at least 32 bytes), whatever
    /// [`algorithms`](Self::algorithms) says; they must still name an accepted issuer when
    /// issuers are listed.
    pub fn hs256_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.hs256_secret = Some(secret.into());
        self
    }

    /// The API keys [`Auth::api_key_user`] accepts.
    pub fn api_keys(mut self, keys: ApiKeys) -> Self {
        self.api_keys = Some(keys);
        self
    }

    /// The gateway's shared secret, which [`Auth::gate`] requires in `X-Shared-Secret`.
    pub fn shared_secret(mut self, secret: SharedSecret) -> Self {
        self.shared_secret = Some(secret);
        self
    }

    /// Whether [`Auth::gate`] redirects plain-HTTP requests (per `X-Forwarded-Proto`) to
    /// `https://`.
    pub fn force_https(mut self, on: bool) -> Self {
        self.force_https = on;
        self
    }

    /// Paths [`Auth::gate`] always lets through (health, readiness and metrics probes, which
    /// a load balancer calls without the gateway's secret). Compared byte for byte with the
    /// request path.
    pub fn ungated_paths<P: Into<String>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.ungated_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// How remote key sets are fetched, cached and refreshed.
    pub fn key_set_policy(mut self, policy: KeySetPolicy) -> Self {
        self.key_set_policy = policy;
        self
    }

    /// The HTTP client for remote key sets, for proxies, private CAs or client certificates.
    /// Its own settings apply (including its redirect policy); this crate still bounds every
    /// fetch with the policy's total timeout and body limit.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How many verified tokens are remembered until they expire (`0` turns the cache off).
    pub fn token_cache_size(mut self, entries: usize) -> Self {
        self.token_cache_size = entries;
        self
    }

    /// The largest token accepted, in bytes (default 8 KiB).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// Runs the embedded development issuer as the only issuer: its keys are used in
    /// process, and [`Auth::dev_issuer`] mints tokens. Never for production.
    #[cfg(feature = "dev-issuer")]
    pub fn development(mut self, issuer: DevIssuer) -> Self {
        self.development = Some(issuer);
        self
    }

    /// Checks the configuration and builds the verifier. Remote key sets start fetching at
    /// once, in the background, so this must run inside a Tokio runtime when any issuer's
    /// keys are remote. A `metrics` recorder must be installed before this call: the
    /// per-token metrics are bound here to the recorder installed now (see
    /// [`crate::metrics`]).
    pub fn build(self) -> Result<Auth, BuildError> {
        if self.leeway > MAX_LEEWAY {
            return Err(BuildError::LeewayTooLarge);
        }
        self.key_set_policy.validate()?;
        let leeway_secs = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let hs256 = match &self.hs256_secret {
            Some(secret) if secret.len() < MIN_HS256_SECRET_BYTES => {
                return Err(BuildError::WeakHs256Secret);
            }
            Some(secret) => Some(DecodingKey::from_secret(secret)),
            None => None,
        };
        let gateway = self.gateway()?;
        let algorithms = match gateway {
            Some(gateway) => [gateway.algorithm].into_iter().collect(),
            None => algorithm_set(self.algorithms.as_deref(), hs256.is_some())?,
        };
        let cache = (self.token_cache_size > 0)
            .then(|| Arc::new(TokenCache::new(self.token_cache_size, leeway_secs)));
        let sources = self.key_sources()?;
        #[cfg(feature = "dev-issuer")]
        let development = self.development.is_some();
        #[cfg(not(feature = "dev-issuer"))]
        let development = false;
        if sources.is_empty() && hs256.is_none() && !development {
            return Err(BuildError::NoKeySource);
        }
        let alb = gateway.and_then(|gateway| gateway.alb.clone());
        let mut issuers = Vec::with_capacity(sources.len());
        for (iss, issuer_url, source) in sources {
            let keys = key_store(
                &iss,
                issuer_url,
                source,
                &self.key_set_policy,
                self.http_client.clone(),
                cache.as_ref(),
            )?;
            // An ALB's assertions are bound to it by their `signer`, checked before the
            // issuer is chosen; their `iss` names the identity provider, when present.
            let iss = if alb.is_some() { None } else { iss };
            issuers.push(IssuerKeys { iss, keys });
        }
        let (audience, token_source) = match gateway {
            Some(gateway) => (gateway.audience.clone(), gateway.token_source.clone()),
            None => (self.audience, self.token_source.unwrap_or_default()),
        };
        #[cfg(feature = "dev-issuer")]
        if let Some(dev) = &self.development {
            let keys = dev.key_set();
            crate::metrics::key_set_state(dev.issuer(), keys.len(), false);
            issuers.push(IssuerKeys {
                iss: Some(dev.issuer().to_owned()),
                keys: KeyStore::fixed(keys),
            });
        }
        Ok(Auth::from_settings(Settings {
            algorithms,
            rules: ClaimRules {
                audience,
                leeway_secs,
            },
            token_source,
            alb,
            max_token_bytes: self.max_token_bytes,
            issuers,
            hs256,
            cache,
            api_keys: self.api_keys,
            shared_secret: self.shared_secret,
            force_https: self.force_https,
            ungated_paths: self.ungated_paths,
            token_metrics: crate::metrics::TokenMetrics::resolve(),
            #[cfg(feature = "dev-issuer")]
            dev: self.development,
            became_ready: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The gateway issuer's profile, when the issuer is a gateway's, checked against the
    /// other options.
    fn gateway(&self) -> Result<Option<&GatewayProfile>, BuildError> {
        let Some(gateway) = self.issuers.iter().find_map(Issuer::gateway) else {
            return Ok(None);
        };
        #[cfg(feature = "dev-issuer")]
        let development = self.development.is_some();
        #[cfg(not(feature = "dev-issuer"))]
        let development = false;
        gateway.check(&BuilderOptions {
            issuers: self.issuers.len(),
            other_keys: self.keys_without_issuer.is_some() || development,
            audience: self.audience.is_some(),
            hs256_secret: self.hs256_secret.is_some(),
            token_source: self.token_source.is_some(),
            algorithms: self.algorithms.as_deref(),
        })?;
        Ok(Some(gateway))
    }

    /// Every configured key source with its issuer (`None`: `iss` not checked).
    #[allow(clippy::type_complexity)]
    fn key_sources(
        &self,
    ) -> Result<Vec<(Option<String>, Option<url::Url>, KeySource)>, BuildError> {
        #[cfg(feature = "dev-issuer")]
        let dev_issuer = self.development.as_ref().map(DevIssuer::issuer);
        #[cfg(not(feature = "dev-issuer"))]
        let dev_issuer: Option<&str> = None;
        let listed = !self.issuers.is_empty() || dev_issuer.is_some();
        let mut sources = Vec::new();
        if let Some(source) = &self.keys_without_issuer {
            if listed {
                return Err(BuildError::MixedIssuers);
            }
            if matches!(source, KeySource::Discovery) {
                return Err(BuildError::InvalidIssuer {
                    issuer: String::new(),
                    reason: "needed for discovery",
                });
            }
            sources.push((None, None, source.clone()));
        }
        let mut seen: Vec<&str> = dev_issuer.into_iter().collect();
        for issuer in &self.issuers {
            if seen.contains(&issuer.iss()) {
                return Err(BuildError::DuplicateIssuer(issuer.iss().to_owned()));
            }
            seen.push(issuer.iss());
            sources.push((
                Some(issuer.iss().to_owned()),
                issuer.url().cloned(),
                issuer.source().clone(),
            ));
        }
        Ok(sources)
    }
}

fn algorithm_set(
    algorithms: Option<&[Algorithm]>,
    has_secret: bool,
) -> Result<AlgorithmSet, BuildError> {
    let mut set: AlgorithmSet = match algorithms {
        None => Algorithm::ASYMMETRIC.into_iter().collect(),
        Some([]) => return Err(BuildError::NoAlgorithm),
        Some(list) => list.iter().copied().collect(),
    };
    if set.contains(Algorithm::HS256) && !has_secret {
        return Err(BuildError::Hs256WithoutSecret);
    }
    if has_secret {
        set.insert(Algorithm::HS256);
    }
    Ok(set)
}

/// The key store of one issuer: fetched (remote sources) or parsed now (local ones).
fn key_store(
    iss: &Option<String>,
    issuer_url: Option<url::Url>,
    source: KeySource,
    policy: &KeySetPolicy,
    client: Option<reqwest::Client>,
    cache: Option<&Arc<TokenCache>>,
) -> Result<KeyStore, BuildError> {
    let named = || iss.clone().unwrap_or_default();
    let local = |result: Result<KeySet, JwksError>| {
        result
            .map(KeyStore::fixed)
            .map_err(|source| BuildError::KeySet {
                issuer: named(),
                source,
            })
    };
    let location = match source {
        KeySource::Discovery => match issuer_url {
            Some(url) => Location::Discovery(url),
            None => {
                return Err(BuildError::InvalidIssuer {
                    issuer: named(),
                    reason: "not a URL, as discovery needs",
                });
            }
        },
        KeySource::JwksUrl(url) => Location::Jwks(url),
        KeySource::JwksDocument(text) => {
            return local(parse_jwks(text.as_bytes(), policy.max_keys));
        }
        KeySource::JwksFile(path) => {
            let text = std::fs::read(&path).map_err(|source| BuildError::KeyFile {
                path: path.clone(),
                source,
            })?;
            return local(parse_jwks(&text, policy.max_keys));
        }
        KeySource::Pem(keys) => return crate::pem::key_set(&keys, &named()).map(KeyStore::fixed),
        KeySource::PemPerKid { url, algorithm } => {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(BuildError::NoRuntime);
            }
            let hook = cache.cloned().map(|cache| {
                Arc::new(move |removed: &_| cache.drop_keys(removed)) as SharedRemovedKeysHook
            });
            let label = iss.clone().unwrap_or_else(|| Redacted(&url).to_string());
            return KeyStore::per_kid(url, algorithm, policy.clone(), client, hook, label)
                .map_err(BuildError::HttpClient);
        }
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(BuildError::NoRuntime);
    }
    let hook = cache
        .cloned()
        .map(|cache| Box::new(move |removed: &_| cache.drop_keys(removed)) as RemovedKeysHook);
    // The metrics label is configuration: the issuer, else the key set URL (without the
    // credentials it may carry).
    let label = iss.clone().unwrap_or_else(|| match &location {
        Location::Jwks(url) | Location::Discovery(url) | Location::PemKey { url, .. } => {
            Redacted(url).to_string()
        }
    });
    KeyStore::remote(location, policy.clone(), client, hook, label).map_err(BuildError::HttpClient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_impossible_combinations() {
        let doc = KeySource::jwks_document(r#"{"keys":[]}"#);
        assert!(matches!(
            Auth::builder().build(),
            Err(BuildError::NoKeySource)
        ));
        assert!(matches!(
            Auth::builder().hs256_secret("short").build(),
            Err(BuildError::WeakHs256Secret)
        ));
        assert!(matches!(
            Auth::builder()
                .hs256_secret([7u8; 32])
                .leeway(Duration::from_secs(301))
                .build(),
            Err(BuildError::LeewayTooLarge)
        ));
        assert!(matches!(
            Auth::builder()
                .hs256_secret([7u8; 32])
                .algorithms([])
                .build(),
            Err(BuildError::NoAlgorithm)
        ));
        assert!(matches!(
            Auth::builder()
                .keys_without_issuer(doc.clone())
                .algorithms([Algorithm::HS256])
                .build(),
            Err(BuildError::Hs256WithoutSecret)
        ));
        assert!(matches!(
            Auth::builder().keys_without_issuer(doc.clone()).build(),
            Err(BuildError::KeySet { .. })
        ));
        let issuer = Issuer::new("urn:a", doc.clone()).unwrap();
        assert!(matches!(
            Auth::builder()
                .issuer(issuer.clone())
                .issuer(issuer.clone())
                .build(),
            Err(BuildError::DuplicateIssuer(_))
        ));
        assert!(matches!(
            Auth::builder()
                .issuer(issuer)
                .keys_without_issuer(doc)
                .build(),
            Err(BuildError::MixedIssuers)
        ));
    }

    #[test]
    fn key_set_timings_outside_their_ranges_are_refused() {
        let defaults = KeySetPolicy::default();
        for (policy, setting) in [
            (
                KeySetPolicy {
                    refetch_cooldown: Duration::ZERO,
                    ..defaults.clone()
                },
                "refetch_cooldown",
            ),
            (
                KeySetPolicy {
                    refetch_cooldown: Duration::from_secs(3601),
                    ..defaults.clone()
                },
                "refetch_cooldown",
            ),
            (
                KeySetPolicy {
                    min_ttl: Duration::from_secs(9),
                    ..defaults.clone()
                },
                "min_ttl",
            ),
            (
                KeySetPolicy {
                    min_ttl: Duration::from_secs(86_401),
                    ..defaults.clone()
                },
                "min_ttl",
            ),
            (
                KeySetPolicy {
                    max_stale: Duration::from_secs(604_801),
                    ..defaults.clone()
                },
                "max_stale",
            ),
        ] {
            let refused = Auth::builder()
                .hs256_secret([7u8; 32])
                .key_set_policy(policy)
                .build()
                .unwrap_err();
            assert!(
                matches!(&refused, BuildError::KeySetPolicy(out) if out.setting == setting),
                "{refused}"
            );
        }
        for edge in [
            KeySetPolicy {
                refetch_cooldown: Duration::from_secs(1),
                ..defaults.clone()
            },
            KeySetPolicy {
                min_ttl: Duration::from_secs(10),
                ..defaults.clone()
            },
            KeySetPolicy {
                max_stale: Duration::ZERO,
                ..defaults.clone()
            },
            KeySetPolicy {
                max_stale: Duration::from_secs(604_800),
                ..defaults.clone()
            },
        ] {
            assert!(
                Auth::builder()
                    .hs256_secret([7u8; 32])
                    .key_set_policy(edge)
                    .build()
                    .is_ok()
            );
        }
    }

    #[test]
    fn a_key_set_url_with_credentials_never_shows_them() {
        let source = KeySource::jwks_url("https://svc:hunter2@idp.example/keys").unwrap();
        let builder = Auth::builder().keys_without_issuer(source);
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn remote_keys_need_a_runtime() {
        let issuer = Issuer::discover("https://idp.example").unwrap();
        assert!(matches!(
            Auth::builder().issuer(issuer).build(),
            Err(BuildError::NoRuntime)
        ));
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let err = Auth::builder()
            .keys_without_issuer(KeySource::jwks_file("/nonexistent/jwks.json"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/jwks.json"), "{err}");
    }
}
