//! [`AuthBuilder`]: every option of [`Auth`], set in code, checked once at [`AuthBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::DecodingKey;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::api_keys::ApiKeys;
use crate::auth::{Auth, IssuerKeys, Settings};
pub use crate::build_error::BuildError;
use crate::gateway::{BuilderOptions, GatewayProfile};
use crate::hosts::AllowedHosts;
use crate::issuer::{Issuer, KeySource};
use crate::jwk::{JwksError, KeySet, parse_jwks};
use crate::key_store::{KeyStore, Location, RemovedKeysHook, SharedRemovedKeysHook};
use crate::policy::KeySetPolicy;
use crate::redacted_url::Redacted;
use crate::sender::{DpopMode, DpopVerifier, PublicOrigin, SenderOptions};
use crate::shared_secret::SharedSecret;
use crate::token::ClaimRules;
use crate::token_cache::TokenCache;
use crate::token_source::TokenSource;

/// The largest clock-skew allowance [`AuthBuilder::leeway`] accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash output size).
const MIN_HS256_SECRET_BYTES: usize = 32;

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
/// | [`allowed_hosts`](Self::allowed_hosts) | none: any host |
/// | [`force_https`](Self::force_https) | `false` |
/// | [`ungated_paths`](Self::ungated_paths) | none: the gate applies to every path |
/// | [`key_set_policy`](Self::key_set_policy) | [`KeySetPolicy::default`] (10 s refetch cooldown, 24 h stale allowance, 2 s / 5 s timeouts, 1 MiB body limit) |
/// | [`http_client`](Self::http_client) | a client of this crate's (3 redirects at most, never `https` to `http`) |
/// | [`token_cache_size`](Self::token_cache_size) | 10,000 tokens |
/// | [`max_token_bytes`](Self::max_token_bytes) | 8 KiB |
/// | [`token_source`](Self::token_source) | `Authorization: Bearer` ([`TokenSource::authorization`]) |
/// | [`public_origin`](Self::public_origin) | none: no protected resource metadata |
/// | [`dpop`](Self::dpop) | none: DPoP-bound tokens are refused |
/// | [`certificate_header`](Self::certificate_header) | none: certificate-bound tokens are refused |
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
    allowed_hosts: Option<Vec<String>>,
    force_https: bool,
    ungated_paths: Vec<String>,
    key_set_policy: KeySetPolicy,
    http_client: Option<reqwest::Client>,
    token_cache_size: usize,
    max_token_bytes: usize,
    token_source: Option<TokenSource>,
    public_origin: Option<PublicOrigin>,
    dpop: Option<(DpopVerifier, DpopMode)>,
    certificate_header: Option<String>,
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
            allowed_hosts: None,
            force_https: false,
            ungated_paths: Vec::new(),
            key_set_policy: KeySetPolicy::default(),
            http_client: None,
            token_cache_size: 10_000,
            max_token_bytes: 8 * 1024,
            token_source: None,
            public_origin: None,
            dpop: None,
            certificate_header: None,
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
            .field("allowed_hosts", &self.allowed_hosts)
            .field("force_https", &self.force_https)
            .field("key_set_policy", &self.key_set_policy)
            .field("token_source", &self.token_source)
            .field("public_origin", &self.public_origin)
            .field(
                "dpop",
                &self.dpop.as_ref().map(|(verifier, mode)| (verifier, mode)),
            )
            .field("certificate_header", &self.certificate_header)
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

    /// The hosts the service answers for, each a host name (or IP address) with an optional
    /// `:port` (see [`AllowedHost`](crate::AllowedHost)). [`Auth::gate`] refuses any other host, before its other
    /// checks, with `400 invalid_request`; the request's host is the authority of an
    /// absolute-form target, else `Host` (RFC 9112 §3.2.2). Without this option any host is
    /// served, and the [HTTPS redirect](Self::force_https) goes to whatever host the client
    /// names unless a proxy in front fixes `Host`. An invalid entry, or an empty list, is a
    /// [`BuildError`].
    ///
    /// ```
    /// use api_auth::{Auth, AuthError, BuildError, HttpRequestHead};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let auth = Auth::builder()
    ///     .hs256_secret([7u8; 32])
    ///     .allowed_hosts(["api.example.com", "api.internal:8443"])
    ///     .build()?;
    /// let request = http::Request::get("/orders").header("host", "API.example.com").body(())?;
    /// assert_eq!(auth.gate(&HttpRequestHead::new(request.headers(), request.uri())), Ok(()));
    ///
    /// let request = http::Request::get("/orders").header("host", "evil.example").body(())?;
    /// let refused = auth.gate(&HttpRequestHead::new(request.headers(), request.uri()));
    /// assert_eq!(refused.map_err(|e| e.code()), Err("invalid_request"));
    ///
    /// let invalid = Auth::builder().hs256_secret([7u8; 32]).allowed_hosts(["https://api.example.com"]);
    /// assert!(matches!(invalid.build(), Err(BuildError::InvalidAllowedHost { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn allowed_hosts<H: Into<String>>(mut self, hosts: impl IntoIterator<Item = H>) -> Self {
        self.allowed_hosts = Some(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// Whether [`Auth::gate`] redirects plain-HTTP requests to `https://` on the request's host
    /// (see [`allowed_hosts`](Self::allowed_hosts)). A request counts as HTTPS when the last
    /// value of its last `X-Forwarded-Proto` header is `https`: that is the value the nearest
    /// proxy wrote, whatever the client sent before it.
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

    /// The origin clients reach this API at (`https://api.example.com`): the `resource` of
    /// its protected resource metadata ([`Auth::resource_metadata`], RFC 9728), named in the
    /// `resource_metadata` parameter of every challenge (§5.1).
    pub fn public_origin(mut self, origin: PublicOrigin) -> Self {
        self.public_origin = Some(origin);
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449): a token with `cnf.jkt` is accepted only as
    /// `Authorization: DPoP` with a proof `verifier` accepts; with [`DpopMode::Required`],
    /// nothing else is. Without this option, a DPoP-bound token is refused.
    pub fn dpop(mut self, verifier: DpopVerifier, mode: DpopMode) -> Self {
        self.dpop = Some((verifier, mode));
        self
    }

    /// Accepts certificate-bound tokens (RFC 8705): a token with `cnf["x5t#S256"]` is
    /// accepted only when the client certificate the gateway forwards in header `name` (as
    /// [`ForwardedCertificate::from_header`](crate::ForwardedCertificate::from_header) reads it) has that thumbprint. Needs a
    /// [`shared_secret`](Self::shared_secret), so that only the gateway can set the header.
    /// Without this option, a certificate-bound token is refused.
    pub fn certificate_header(mut self, name: &str) -> Self {
        self.certificate_header = Some(name.to_owned());
        self
    }

    /// Checks the configuration and builds the verifier. Remote key sets start fetching at
    /// once, in the background, so this must run inside a Tokio runtime when any issuer's
    /// keys are remote. A `metrics` recorder must be installed before this call: the
    /// per-token metrics are bound here to the recorder installed now (see
    /// [`crate::metrics`]).
    pub fn build(mut self) -> Result<Auth, BuildError> {
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
        let gateway_profile = self.gateway()?;
        let gateway = gateway_profile.as_ref();
        let algorithms = match gateway {
            Some(gateway) => [gateway.algorithm].into_iter().collect(),
            None => algorithm_set(self.algorithms.as_deref(), hs256.is_some())?,
        };
        let allowed_hosts = self
            .allowed_hosts
            .as_deref()
            .map(AllowedHosts::parse)
            .transpose()?;
        let (sender, resource_metadata) = SenderOptions {
            public_origin: self.public_origin.take(),
            dpop: self.dpop.take(),
            certificate_header: self.certificate_header.take(),
            shared_secret: self.shared_secret.clone(),
            // A cookie is read only when `Authorization` is absent, so DPoP still works.
            custom_token_source: self
                .token_source
                .as_ref()
                .is_some_and(|source| source.header_name() != "authorization"),
        }
        .build(match gateway.and_then(|gateway| gateway.alb.as_ref()) {
            // An ALB issuer is named by its load balancer's ARN, which issues nothing: the
            // authorization server is the identity provider behind it, when configured.
            Some(alb) => alb.iss.iter().cloned().collect(),
            None => self
                .issuers
                .iter()
                .map(|issuer| issuer.iss().to_owned())
                .collect(),
        })?;
        let cache = (self.token_cache_size > 0)
            .then(|| Arc::new(TokenCache::new(self.token_cache_size, leeway_secs)));
        let sources = self.key_sources()?;
        if sources.is_empty() && hs256.is_none() {
            return Err(BuildError::NoKeySource);
        }
        let alb = gateway.and_then(|gateway| gateway.alb.clone());
        let mut issuers = Vec::with_capacity(sources.len());
        for KeySourceOf {
            iss,
            issuer_url,
            source,
        } in sources
        {
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
            allowed_hosts,
            force_https: self.force_https,
            ungated_paths: self.ungated_paths,
            token_metrics: crate::metrics::TokenMetrics::resolve(),
            sender,
            resource_metadata,
            became_ready: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The gateway issuer's profile, when the issuer is a gateway's, checked against the
    /// other options.
    fn gateway(&self) -> Result<Option<GatewayProfile>, BuildError> {
        let Some(gateway) = self.issuers.iter().find_map(Issuer::gateway) else {
            return Ok(None);
        };
        gateway.check(&BuilderOptions {
            issuers: self.issuers.len(),
            other_keys: self.keys_without_issuer.is_some(),
            audience: self.audience.is_some(),
            hs256_secret: self.hs256_secret.is_some(),
            token_source: self.token_source.is_some(),
            sender_constraints: self.dpop.is_some() || self.certificate_header.is_some(),
            algorithms: self.algorithms.as_deref(),
        })?;
        Ok(Some(gateway.clone()))
    }

    /// Every configured key source with its issuer.
    fn key_sources(&self) -> Result<Vec<KeySourceOf>, BuildError> {
        let listed = !self.issuers.is_empty();
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
            sources.push(KeySourceOf {
                iss: None,
                issuer_url: None,
                source: source.clone(),
            });
        }
        let mut seen: Vec<&str> = Vec::new();
        for issuer in &self.issuers {
            if seen.contains(&issuer.iss()) {
                return Err(BuildError::DuplicateIssuer(issuer.iss().to_owned()));
            }
            seen.push(issuer.iss());
            sources.push(KeySourceOf {
                iss: Some(issuer.iss().to_owned()),
                issuer_url: issuer.url().cloned(),
                source: issuer.source().clone(),
            });
        }
        Ok(sources)
    }
}

/// One key source and the issuer it serves.
struct KeySourceOf {
    /// The exact `iss` its tokens carry (`None`: keys used without an `iss` check).
    iss: Option<String>,
    /// The issuer as a URL, for discovery.
    issuer_url: Option<url::Url>,
    source: KeySource,
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
