//! [`Auth`]: every check a sample performs, behind one cheap-to-clone handle.

use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::DecodingKey;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::api_keys::{ApiKeyUser, ApiKeys};
use crate::claims::Claims;
use crate::config::{Config, ConfigError, KeySource};
#[cfg(feature = "dev-issuer")]
use crate::dev_issuer::DevIssuer;
use crate::error::{AuthError, TokenError};
use crate::https::redirect_target;
use crate::key_store::{KeySetStatus, KeyStore, Location};
use crate::metrics;
use crate::request::RequestHead;
use crate::shared_secret::SharedSecret;
use crate::token::{self, ClaimRules};
use crate::token_cache::{CachedToken, TokenCache, unix_now};

/// The route that is never gated, so that load balancers can probe it.
pub const HEALTH_PATH: &str = "/healthz";

/// Whether `path` is one of the probes that are never gated: liveness, readiness, metrics.
fn is_probe(path: &str) -> bool {
    matches!(
        path,
        HEALTH_PATH | crate::routes::READYZ | crate::routes::METRICS
    )
}

struct Inner {
    algorithms: AlgorithmSet,
    rules: ClaimRules,
    max_token_bytes: usize,
    keys: KeyStore,
    hs256: Option<DecodingKey>,
    cache: Option<Arc<TokenCache>>,
    api_keys: Option<ApiKeys>,
    shared_secret: Option<SharedSecret>,
    force_https: bool,
    dev: Option<Dev>,
}

/// The development issuer, or a type with no values when it is not compiled in.
#[cfg(feature = "dev-issuer")]
type Dev = DevIssuer;
#[cfg(not(feature = "dev-issuer"))]
type Dev = std::convert::Infallible;

/// What development mode sets up: the key store, the issuer, the API keys and the issuer itself.
type Sources = (KeyStore, Option<String>, Option<ApiKeys>, Option<Dev>);

#[cfg(feature = "dev-issuer")]
fn development(config: &Config, base_url: &str) -> Result<Sources, ConfigError> {
    let dev = DevIssuer::generate(base_url, config.audience.clone())
        .map_err(|e| ConfigError::new("AUTH_ISSUER", e.to_string()))?;
    let api_keys = config
        .api_keys
        .clone()
        .or_else(|| Some(ApiKeys::single("demo", dev.demo_api_key())));
    let keys = KeyStore::fixed(dev.key_set());
    Ok((keys, Some(dev.issuer().to_owned()), api_keys, Some(dev)))
}

#[cfg(not(feature = "dev-issuer"))]
fn development(_config: &Config, _base_url: &str) -> Result<Sources, ConfigError> {
    Err(ConfigError::new(
        "AUTH_ISSUER",
        "unset, and this build has no development issuer: set AUTH_ISSUER or AUTH_JWKS_URL",
    ))
}

/// The authentication layer of one service: token verification, API keys, shared secret
/// and HTTPS redirect, configured once. Clones share everything.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("issuer", &self.inner.rules.issuer)
            .field("development", &self.is_development())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Builds the layer. `base_url` is the server's own URL, which becomes the issuer in
    /// development mode. Must run inside a Tokio runtime: a remote key set starts fetching
    /// at once, in the background.
    pub fn new(config: Config, base_url: &str) -> Result<Self, ConfigError> {
        let cache = (config.token_cache_size > 0).then(|| {
            Arc::new(TokenCache::new(
                config.token_cache_size,
                config.leeway_secs as i64,
            ))
        });
        let metrics_issuer = config.issuer.clone();
        let location = match &config.key_source {
            KeySource::Development => None,
            KeySource::JwksUrl(url) => Some(Location::Jwks(url.clone())),
            KeySource::Discovery(url) => Some(Location::Discovery(url.clone())),
        };
        let (keys, issuer, api_keys, dev) = match location {
            None => {
                let sources = development(&config, base_url)?;
                if let Some(issuer) = &sources.1 {
                    metrics::key_set_state(issuer, sources.0.status().count, false);
                }
                sources
            }
            Some(location) => {
                // The issuer label is configuration: the issuer, else the key set URL.
                let label = metrics_issuer.unwrap_or_else(|| match &location {
                    Location::Jwks(url) | Location::Discovery(url) => url.to_string(),
                });
                let hook = cache.clone().map(|cache| {
                    Box::new(move |removed: &_| cache.drop_keys(removed))
                        as crate::key_store::RemovedKeysHook
                });
                let keys = KeyStore::remote(location, config.key_set.clone(), hook, label)
                    .map_err(|e| ConfigError::new("AUTH_JWKS_URL", format!("HTTP client: {e}")))?;
                (keys, config.issuer.clone(), config.api_keys.clone(), None)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                algorithms: config.algorithms,
                rules: ClaimRules {
                    issuer,
                    audience: config.audience.clone(),
                    leeway_secs: config.leeway_secs as i64,
                },
                max_token_bytes: config.max_token_bytes,
                keys,
                hs256: config.hs256_secret.as_deref().map(DecodingKey::from_secret),
                cache,
                api_keys,
                shared_secret: config.shared_secret.clone(),
                force_https: config.force_https,
                dev,
            }),
        })
    }

    /// Whether the embedded development issuer is active.
    pub fn is_development(&self) -> bool {
        self.inner.dev.is_some()
    }

    /// The development issuer, in development mode.
    #[cfg(feature = "dev-issuer")]
    pub fn dev_issuer(&self) -> Option<&DevIssuer> {
        self.inner.dev.as_ref()
    }

    /// The gates every route but `/healthz`, `/readyz` and `/metrics` passes first: the HTTPS
    /// redirect, then the shared secret.
    pub fn gate(&self, request: &impl RequestHead) -> Result<(), AuthError> {
        if is_probe(request.path()) {
            return Ok(());
        }
        let result = self.check_gates(request);
        log_refusal(request.path(), result)
    }

    fn check_gates(&self, request: &impl RequestHead) -> Result<(), AuthError> {
        if self.inner.force_https {
            let proto = request.header_values("x-forwarded-proto").next();
            let host = request
                .single_header("host")
                .map_err(|_| AuthError::BadRequest("more than one Host header"))?;
            if let Some(location) = redirect_target(proto, host, request.path_and_query())
                .map_err(AuthError::BadRequest)?
            {
                return Err(AuthError::HttpsRequired(location));
            }
        }
        if let Some(secret) = &self.inner.shared_secret {
            match request.single_header("x-shared-secret") {
                Ok(Some(value)) if secret.matches(value) => {}
                _ => return Err(AuthError::InvalidSharedSecret),
            }
        }
        Ok(())
    }

    /// The bearer token of the `Authorization` header (RFC 6750 §2.1; the scheme is
    /// case-insensitive and surrounding blanks are tolerated).
    pub fn bearer_token<'r>(&self, request: &'r impl RequestHead) -> Result<&'r str, AuthError> {
        let value = request
            .single_header("authorization")
            .map_err(|_| AuthError::InvalidRequest("more than one Authorization header"))?
            .ok_or(AuthError::MissingToken)?;
        let value = std::str::from_utf8(value)
            .map_err(|_| AuthError::InvalidRequest("Authorization header is not valid text"))?
            .trim_matches([' ', '\t']);
        let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Another scheme (Basic, …) carries no bearer credentials.
            return Err(AuthError::MissingToken);
        }
        let token = rest.trim_matches([' ', '\t']);
        if token.is_empty() {
            return Err(AuthError::InvalidRequest("empty bearer token"));
        }
        // Bytes, not a char pattern: this scans the whole token on every request.
        if token.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(AuthError::InvalidRequest("bearer token contains blanks"));
        }
        Ok(token)
    }

    /// Verifies the request's bearer token and returns its claims. Refusals are logged
    /// (never with the token).
    pub async fn authenticate(&self, request: &impl RequestHead) -> Result<Claims, AuthError> {
        let result = match self.bearer_token(request) {
            Ok(token) => self.verify(token).await,
            Err(e) => Err(e),
        };
        log_refusal(request.path(), result)
    }

    /// Verifies a compact JWS token: every rule of RFC 7515, 7519 and 8725 this crate
    /// enforces, then the claim checks. Repeated tokens are served from the token cache.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let started = Instant::now();
        let result = self.verify_timed(token).await;
        metrics::verify_duration(started.elapsed());
        result
    }

    async fn verify_timed(&self, token: &str) -> Result<Claims, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(TokenError::TooLarge.into());
        }
        let digest = inner.cache.as_ref().map(|_| TokenCache::digest(token));
        if let (Some(cache), Some(digest)) = (&inner.cache, &digest)
            && let Some(hit) = cache.get(digest)
        {
            // Served again only while the key that verified it is still in the set.
            if hit.key.is_none_or(|fp| inner.keys.holds_key(&fp)) {
                metrics::token_cache(true);
                token::check_time(hit.exp, hit.nbf, inner.rules.leeway_secs, unix_now())?;
                return Ok(hit.claims.clone());
            }
            cache.remove(digest);
        }
        if inner.cache.is_some() {
            metrics::token_cache(false);
        }

        let parsed = token::parse(token, inner.max_token_bytes)?;
        if !inner.algorithms.contains(parsed.alg) {
            return Err(TokenError::AlgorithmNotAllowed.into());
        }
        let verifying_key;
        let (key, fingerprint) = if parsed.alg == Algorithm::HS256 {
            let key = inner
                .hs256
                .as_ref()
                .ok_or(TokenError::AlgorithmNotAllowed)?;
            (key, None)
        } else {
            verifying_key = inner
                .keys
                .key_for(parsed.kid.as_deref(), parsed.alg)
                .await?;
            (&verifying_key.key, Some(verifying_key.fingerprint))
        };
        let valid = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            key,
            parsed.alg.jwt(),
        )
        .unwrap_or(false);
        if !valid {
            return Err(TokenError::BadSignature.into());
        }
        let claims = token::decode_claims(parsed.payload)?;
        token::validate_claims(&claims, &inner.rules, unix_now())?;
        let claims = Claims::new(claims);
        if let (Some(cache), Some(digest)) = (&inner.cache, digest) {
            cache.insert(
                digest,
                CachedToken {
                    claims: claims.clone(),
                    key: fingerprint,
                    exp: claims.exp(),
                    nbf: claims.nbf(),
                },
            );
        }
        Ok(claims)
    }

    /// Requires the `admin` role (in `roles`) or scope (in `scope`).
    pub fn require_admin(&self, claims: &Claims) -> Result<(), AuthError> {
        self.require_role(claims, "admin")
    }

    /// Requires `role` in the token's `roles` array or space-separated `scope`.
    pub fn require_role(&self, claims: &Claims, role: &'static str) -> Result<(), AuthError> {
        if claims.has_role(role) {
            Ok(())
        } else {
            tracing::info!(
                sub = claims.sub(),
                role,
                "request refused: insufficient_scope"
            );
            metrics::refusal("insufficient_scope");
            Err(AuthError::InsufficientScope(role))
        }
    }

    /// The owner of the request's `X-API-Key`.
    pub fn api_key_user(&self, request: &impl RequestHead) -> Result<ApiKeyUser, AuthError> {
        let result = match (&self.inner.api_keys, request.single_header("x-api-key")) {
            (Some(keys), Ok(Some(presented))) => {
                keys.lookup(presented).ok_or(AuthError::InvalidApiKey)
            }
            _ => Err(AuthError::InvalidApiKey),
        };
        log_refusal(request.path(), result)
    }

    /// The key set's state, for `/healthz`.
    pub fn key_set_status(&self) -> KeySetStatus {
        self.inner.keys.status()
    }

    /// Whether a usable key set is held (always in development mode): `/readyz`.
    pub fn is_ready(&self) -> bool {
        self.inner.keys.is_ready()
    }
}

fn log_refusal<T>(path: &str, result: Result<T, AuthError>) -> Result<T, AuthError> {
    if let Err(error) = &result {
        metrics::refusal(error.code());
        match error {
            AuthError::KeysUnavailable { .. } => {
                tracing::warn!(
                    path,
                    error = error.code(),
                    "request refused: signing keys unavailable"
                );
            }
            _ => {
                tracing::info!(path, error = error.code(), reason = %error.description(), "request refused")
            }
        }
    }
    result
}
