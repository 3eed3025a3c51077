//! [`Auth`]: token verification, API keys, the shared secret and the request gates of one
//! service, behind one cheap-to-clone handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::api_keys::{ApiKeyUser, ApiKeys};
use crate::builder::AuthBuilder;
use crate::claim_fields::Claim;
use crate::claims::{Claims, ClaimsData};
use crate::error::{AuthError, TokenError};
use crate::gateway::AlbRules;
use crate::hosts::AllowedHosts;
use crate::https::{forwarded_https, redirect_target};
use crate::key_store::{KeySetStatus, KeyStore};
use crate::metrics;
use crate::request::RequestHead;
use crate::sender::{
    DpopError, ProtectedResourceMetadata, Scheme, SenderConstraints, unchecked_binding,
};
use crate::shared_secret::SharedSecret;
use crate::token::{self, ClaimRules};
use crate::token_cache::{CachedToken, TokenCache, unix_now};
use crate::token_source::TokenSource;

/// The keys of one accepted issuer (`iss: None`: keys whose tokens' `iss` is not checked).
pub(crate) struct IssuerKeys {
    pub(crate) iss: Option<String>,
    pub(crate) keys: KeyStore,
}

/// Everything [`crate::AuthBuilder::build`] hands over, checked.
pub(crate) struct Settings {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) rules: ClaimRules,
    pub(crate) max_token_bytes: usize,
    /// Where the token is read from.
    pub(crate) token_source: TokenSource,
    /// The AWS ALB's format and header checks, for an ALB issuer.
    pub(crate) alb: Option<AlbRules>,
    pub(crate) issuers: Vec<IssuerKeys>,
    pub(crate) hs256: Option<DecodingKey>,
    pub(crate) cache: Option<Arc<TokenCache>>,
    pub(crate) api_keys: Option<ApiKeys>,
    pub(crate) shared_secret: Option<SharedSecret>,
    pub(crate) allowed_hosts: Option<AllowedHosts>,
    pub(crate) force_https: bool,
    pub(crate) ungated_paths: Vec<String>,
    pub(crate) token_metrics: metrics::TokenMetrics,
    /// DPoP and certificate binding, with the challenges that name them.
    pub(crate) sender: Option<SenderConstraints>,
    /// The protected resource metadata, when a public origin is configured.
    pub(crate) resource_metadata: Option<ProtectedResourceMetadata>,
    /// Set once [`Auth::is_ready`] first holds; it then holds for good.
    pub(crate) became_ready: AtomicBool,
}

/// The authentication layer of one service: token verification against one or more
/// issuers, API keys, the gateway's shared secret and the HTTPS redirect, configured once
/// through [`Auth::builder`]. Clones share everything (one key cache, one token cache).
///
/// ```
/// use api_auth::{Auth, Issuer, KeySource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Auth::builder()
///     .issuer(Issuer::discover("https://login.example.com/tenant")?)
///     .audience("orders-api")
///     .build()?;
///
/// // In a handler, with any `RequestHead` (here over `http` types):
/// let request = http::Request::get("/orders")
///     .header("authorization", "Bearer not-a-token")
///     .body(())?;
/// let head = api_auth::HttpRequestHead::new(request.headers(), request.uri());
/// let refusal = auth.authenticate(&head).await.unwrap_err();
/// assert_eq!(refusal.status(), 401);
/// assert_eq!(refusal.code(), "invalid_token");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Settings>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<_> = self.inner.issuers.iter().map(|i| &i.iss).collect();
        f.debug_struct("Auth")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Starts configuring an [`Auth`]; see [`AuthBuilder`] for every option and its default.
    pub fn builder() -> AuthBuilder {
        AuthBuilder::default()
    }

    pub(crate) fn from_settings(settings: Settings) -> Self {
        Self {
            inner: Arc::new(settings),
        }
    }

    /// The gates every request passes first. A request target that is not a path (authority
    /// form `example.com:80`, asterisk form `*`, `public`) is refused with `400
    /// invalid_request` on any path; then, but on the [ungated
    /// paths](crate::AuthBuilder::ungated_paths), the [allowed
    /// hosts](crate::AuthBuilder::allowed_hosts), the HTTPS redirect, then the shared secret.
    pub fn gate(&self, request: &impl RequestHead) -> Result<(), AuthError> {
        let path = request.path();
        // Every route is a path; an absolute-form target has been reduced to its path by the
        // adapter (RFC 9112 §3.2), so anything else cannot name a route.
        if !path.starts_with('/') {
            return log_refusal(
                path,
                Err(AuthError::MalformedRequest(
                    "the request target is not a path",
                )),
            );
        }
        if self.inner.ungated_paths.iter().any(|p| p == path) {
            return Ok(());
        }
        let result = self.check_gates(request);
        log_refusal(path, result)
    }

    fn check_gates(&self, request: &impl RequestHead) -> Result<(), AuthError> {
        let inner = &*self.inner;
        if inner.allowed_hosts.is_some() || inner.force_https {
            let host = request
                .host()
                .map_err(|_| AuthError::MalformedRequest("more than one Host header"))?;
            if let Some(allowed) = &inner.allowed_hosts
                && !host.is_some_and(|host| allowed.allows(host))
            {
                return Err(AuthError::MalformedRequest(
                    "the request's host is not served here",
                ));
            }
            if inner.force_https && !forwarded_https(request.header_values("x-forwarded-proto")) {
                let location = redirect_target(host, request.path_and_query())
                    .map_err(AuthError::MalformedRequest)?;
                return Err(AuthError::HttpsRequired(location));
            }
        }
        if let Some(secret) = &inner.shared_secret
            && !secret.is_presented_in(request)
        {
            return Err(AuthError::InvalidSharedSecret);
        }
        Ok(())
    }

    /// The bearer token of the `Authorization` header (RFC 6750 §2.1; the scheme is
    /// case-insensitive and surrounding blanks are tolerated).
    pub fn bearer_token<'r>(&self, request: &'r impl RequestHead) -> Result<&'r str, AuthError> {
        let (scheme, credentials) = authorization(request)?.ok_or(AuthError::MissingToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Another scheme (Basic, …) carries no bearer credentials.
            return Err(AuthError::MissingToken);
        }
        single_token(
            credentials,
            "empty bearer token",
            "bearer token contains blanks",
        )
    }

    /// The request's token, from where the [token source](crate::AuthBuilder::token_source)
    /// says: the `Authorization` bearer by default, a gateway's own header (and cookie) for a
    /// gateway issuer.
    pub fn token<'r>(&self, request: &'r impl RequestHead) -> Result<&'r str, AuthError> {
        self.inner
            .token_source
            .read(request, || self.bearer_token(request))
    }

    /// Verifies the request's token (see [`Auth::token`]) and returns its claims. Refusals
    /// are logged (never with the token).
    ///
    /// With DPoP or certificate binding configured, a bound token must satisfy its binding
    /// for this request (a `DPoP` proof, the forwarded certificate), and refusals carry the
    /// challenges of every accepted scheme ([`AuthError::Challenged`]).
    pub async fn authenticate(&self, request: &impl RequestHead) -> Result<Claims, AuthError> {
        let result = match &self.inner.sender {
            None => match self.token(request) {
                Ok(token) => self.verify(token).await,
                Err(e) => Err(e),
            },
            Some(sender) => {
                let mut scheme = Scheme::Bearer;
                self.authenticate_constrained(request, sender, &mut scheme)
                    .await
                    .map_err(|error| sender.challenged(error, scheme))
            }
        };
        log_refusal(request.path(), result)
    }

    /// [`Auth::authenticate`] with sender constraints; `scheme` is set as soon as it is known,
    /// for the challenge of a refusal.
    async fn authenticate_constrained(
        &self,
        request: &impl RequestHead,
        sender: &SenderConstraints,
        scheme: &mut Scheme,
    ) -> Result<Claims, AuthError> {
        let token = match self.dpop_token(request, sender, scheme)? {
            Some(token) => token,
            None => self.token(request)?,
        };
        // The token first: a DPoP proof's `jti` is stored last of all, once the token, its
        // binding and the rest of the proof have passed.
        let claims = self.verify_signed(token).await?;
        sender
            .check(request, token, *scheme, claims.confirmation())
            .await?;
        Ok(claims.presented_with(*scheme))
    }

    /// The token of `Authorization: DPoP <token>` (RFC 9449 §7.1), when DPoP is accepted and
    /// the request uses that scheme.
    /// `scheme` becomes [`Scheme::Dpop`] as soon as the scheme is read, so that a malformed
    /// DPoP credential is answered on the DPoP challenge.
    fn dpop_token<'r>(
        &self,
        request: &'r impl RequestHead,
        sender: &SenderConstraints,
        scheme: &mut Scheme,
    ) -> Result<Option<&'r str>, AuthError> {
        if !sender.accepts_dpop() {
            return Ok(None);
        }
        // Anything that is not readable text is for the bearer rules to refuse.
        let Ok(Some((name, credentials))) = authorization(request) else {
            return Ok(None);
        };
        if !name.eq_ignore_ascii_case("dpop") {
            return Ok(None);
        }
        *scheme = Scheme::Dpop;
        single_token(
            credentials,
            "empty DPoP token",
            "DPoP token contains blanks",
        )
        .map(Some)
    }

    /// Verifies a compact JWS token: every rule of RFC 7515, 7519 and 8725 this crate
    /// enforces, then the claim checks. The token's `iss` picks the issuer (and so the key
    /// set) before any key is looked up. Repeated tokens are served from the token cache.
    ///
    /// ```
    /// use api_auth::{Auth, AuthError, KeySource, TokenError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), api_auth::BuildError> {
    /// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let auth = Auth::builder()
    ///     .issuer(api_auth::Issuer::new("https://gateway.example", KeySource::jwks_document(jwks))?)
    ///     .build()?;
    /// let refused = auth.verify("a.b.c").await.unwrap_err();
    /// assert!(matches!(refused, AuthError::InvalidToken(TokenError::Malformed(_))));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A sender-constrained token (`cnf`, RFC 7800) is refused here: its binding can only be
    /// checked against a request ([`Auth::authenticate`]).
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_signed(token).await?;
        unchecked_binding(claims.confirmation())?;
        Ok(claims)
    }

    /// [`Auth::verify`] without the refusal of bound tokens.
    async fn verify_signed(&self, token: &str) -> Result<Claims, AuthError> {
        let started = Instant::now();
        let result = self.verify_timed(token).await;
        self.inner.token_metrics.verify_duration(started.elapsed());
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
            // Served again only while the key that verified it is still in its issuer's set.
            let key_held = match (hit.key, inner.issuers.get(hit.issuer)) {
                (None, _) => true,
                (Some(fp), Some(issuer)) => issuer.keys.holds_key(&fp),
                (Some(_), None) => false,
            };
            if key_held {
                inner.token_metrics.token_cache(true);
                let claims = &hit.claims;
                token::check_time(hit.exp, claims.nbf(), inner.rules.leeway_secs, unix_now())?;
                return Ok(Claims::new(Arc::clone(claims)));
            }
            cache.remove(digest);
        }
        if inner.cache.is_some() {
            inner.token_metrics.token_cache(false);
        }

        let (parsed, alb_exp) = match &inner.alb {
            Some(alb) => {
                let (parsed, exp) = alb.parse(
                    token,
                    inner.max_token_bytes,
                    inner.rules.leeway_secs,
                    unix_now(),
                )?;
                (parsed, Some(exp))
            }
            None => (token::parse(token, inner.max_token_bytes)?, None),
        };
        if !inner.algorithms.contains(parsed.alg) {
            return Err(TokenError::AlgorithmNotAllowed.into());
        }
        // Read before the signature check, only to choose the issuer: nothing in it is
        // trusted until the signature of that issuer's key verifies.
        let claims = token::decode_claims(parsed.payload)?;
        let (issuer_index, issuer) = self.issuer_of(&claims)?;
        let verifying_key;
        let (key, fingerprint) = if parsed.alg == Algorithm::HS256 {
            let key = inner
                .hs256
                .as_ref()
                .ok_or(TokenError::AlgorithmNotAllowed)?;
            (key, None)
        } else {
            let issuer = issuer.ok_or(TokenError::UnknownKey)?;
            verifying_key = issuer
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
        let exp = match inner.alb.as_ref().zip(alb_exp) {
            Some((alb, header_exp)) => alb.check_claims(
                claims.fields(),
                header_exp,
                inner.rules.leeway_secs,
                unix_now(),
            )?,
            None => {
                token::validate_claims(&claims, &inner.rules, unix_now())?;
                claims.exp()
            }
        };
        let claims = Arc::new(claims);
        if let (Some(cache), Some(digest)) = (&inner.cache, digest) {
            cache.insert(
                digest,
                CachedToken {
                    claims: Arc::clone(&claims),
                    issuer: issuer_index,
                    key: fingerprint,
                    exp,
                },
            );
        }
        Ok(Claims::new(claims))
    }

    /// The configured issuer a token's (unverified) claims name: exactly one of the listed
    /// issuers, or the keys without an issuer. `None` only for HS256 tokens when no key set
    /// is configured at all.
    fn issuer_of(&self, claims: &ClaimsData) -> Result<(usize, Option<&IssuerKeys>), TokenError> {
        let issuers = &self.inner.issuers;
        if let [only @ IssuerKeys { iss: None, .. }] = issuers.as_slice() {
            return Ok((0, Some(only)));
        }
        if issuers.is_empty() {
            return Ok((0, None));
        }
        let iss = match claims.fields().iss() {
            Claim::Absent => return Err(TokenError::MissingClaim("iss")),
            Claim::Valid(iss) => iss,
            Claim::Invalid => return Err(TokenError::InvalidClaim("iss")),
        };
        issuers
            .iter()
            .enumerate()
            .find(|(_, issuer)| issuer.iss.as_deref() == Some(iss))
            .map(|(index, issuer)| (index, Some(issuer)))
            .ok_or(TokenError::WrongIssuer)
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
            Err(self.challenged(AuthError::InsufficientScope(role), claims.scheme()))
        }
    }

    /// Reads verified claims into `T`, a type of the caller's own (which may borrow from
    /// them), for a handler that wants typed claims. Claims that do not fit are refused like a
    /// bad token (`401 invalid_token`), logged and counted; neither the log line nor the
    /// refusal repeats a claim value.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// # let auth = api_auth::Auth::builder()
    /// #     .issuer(api_auth::Issuer::new("https://gateway.example", api_auth::KeySource::jwks_document(jwks))?)
    /// #     .build()?;
    /// #[derive(serde::Deserialize)]
    /// struct Order<'a> {
    ///     tenant: &'a str,
    /// }
    ///
    /// # let claims = api_auth::Claims::from_map(serde_json::json!({"tenant": 7})
    /// #     .as_object().cloned().unwrap_or_default());
    /// // `claims` is what `Auth::authenticate` returned.
    /// let refusal = auth.claims_as::<Order>(&claims).err().ok_or("accepted")?;
    /// assert_eq!((refusal.status(), refusal.code()), (401, "invalid_token"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn claims_as<'a, T: Deserialize<'a>>(&self, claims: &'a Claims) -> Result<T, AuthError> {
        claims.deserialize().map_err(|error| {
            let error = AuthError::from(error);
            tracing::info!(
                sub = claims.sub(),
                error = error.code(),
                reason = %error.description(),
                "request refused: claims of an unexpected shape"
            );
            metrics::refusal(error.code());
            self.challenged(error, claims.scheme())
        })
    }

    /// The protected resource metadata (RFC 9728) to serve at
    /// [`PROTECTED_RESOURCE_METADATA_PATH`](crate::PROTECTED_RESOURCE_METADATA_PATH), when a
    /// [public origin](crate::AuthBuilder::public_origin) is configured.
    pub fn resource_metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.inner.resource_metadata.as_ref()
    }

    /// `error` with this service's full challenges, when it has sender constraints or a
    /// public origin; else `error` as it is.
    fn challenged(&self, error: AuthError, scheme: Scheme) -> AuthError {
        match &self.inner.sender {
            Some(sender) => sender.challenged(error, scheme),
            None => error,
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

    /// The state of each issuer's key set, in configuration order (for health and
    /// readiness endpoints). Holds no key material.
    pub fn key_sets(&self) -> Vec<KeySetStatus> {
        self.inner
            .issuers
            .iter()
            .map(|issuer| issuer.keys.status(issuer.iss.as_deref()))
            .collect()
    }

    /// Whether the service is ready for traffic, for a readiness probe: `false` until the
    /// start-up fetch of every issuer's key set has ended (with keys or without) and some
    /// token can verify (an issuer holds a usable key set, or an HS256 secret is configured);
    /// `true` from then on, for the life of this value, whatever the identity providers do.
    ///
    /// Readiness gates start-up and never the fleet: a provider's outage reaches every
    /// replica at once, so a probe that followed it would take all of them out of the load
    /// balancer together, routes that need no token included. Once ready, token routes answer
    /// `503` themselves while keys cannot be had, and [`Auth::key_sets`] tells each issuer's
    /// state. Local key sets are ready at once.
    pub fn is_ready(&self) -> bool {
        if self.inner.became_ready.load(Ordering::Acquire) {
            return true;
        }
        let issuers = &self.inner.issuers;
        let settled = issuers.iter().all(|issuer| issuer.keys.has_settled());
        let can_verify =
            self.inner.hs256.is_some() || issuers.iter().any(|issuer| issuer.keys.is_usable());
        let ready = settled && can_verify;
        if ready {
            self.inner.became_ready.store(true, Ordering::Release);
        }
        ready
    }
}

/// The only `Authorization` header of `request`, as its scheme (case as sent) and the
/// credentials after it, surrounding blanks removed; `None` without the header.
fn authorization(request: &impl RequestHead) -> Result<Option<(&str, &str)>, AuthError> {
    let Some(value) = request
        .single_header("authorization")
        .map_err(|_| AuthError::MalformedAuthorization("more than one Authorization header"))?
    else {
        return Ok(None);
    };
    let value = std::str::from_utf8(value)
        .map_err(|_| AuthError::MalformedAuthorization("Authorization header is not valid text"))?
        .trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    Ok(Some((scheme, rest.trim_matches([' ', '\t']))))
}

/// The credentials of an `Authorization` header as one token (RFC 6750 §2.1's `b64token`
/// holds no blank), refused with `empty` or `blanks` otherwise.
fn single_token<'r>(
    credentials: &'r str,
    empty: &'static str,
    blanks: &'static str,
) -> Result<&'r str, AuthError> {
    if credentials.is_empty() {
        return Err(AuthError::MalformedAuthorization(empty));
    }
    // Bytes, not a char pattern: this scans the whole token on every request.
    if credentials.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(AuthError::MalformedAuthorization(blanks));
    }
    Ok(credentials)
}

fn log_refusal<T>(path: &str, result: Result<T, AuthError>) -> Result<T, AuthError> {
    if let Err(error) = &result {
        metrics::refusal(error.code());
        match error.cause() {
            AuthError::KeysUnavailable { .. } => {
                tracing::warn!(
                    path,
                    error = error.code(),
                    "request refused: signing keys unavailable"
                );
            }
            // Refused by the budget of fetches for unknown keys, which anyone can exhaust:
            // one line per request would let a flood of them flood the logs; the budget logs
            // one summary line per cooldown instead.
            AuthError::KeyFetchDeferred { .. } => {
                tracing::debug!(
                    path,
                    error = error.code(),
                    "request refused: unknown key not fetched now"
                );
            }
            // A client key over its share of the replay store: it sends proofs as fast as it
            // can, so one line per refusal would be a flood of its own; the refusal metric
            // counts them.
            AuthError::Dpop(DpopError::TooManyProofs { .. }) => {
                tracing::debug!(
                    path,
                    error = error.code(),
                    "request refused: the client key is over its share of the replay store"
                );
            }
            AuthError::Dpop(DpopError::ReplayStoreUnavailable(_)) => {
                tracing::warn!(
                    path,
                    error = error.code(),
                    "request refused: the DPoP replay store is unavailable"
                );
            }
            _ => {
                tracing::info!(path, error = error.code(), reason = %error.description(), "request refused")
            }
        }
    }
    result
}
