//! Gateway-facing authentication for HTTP APIs, independent of any web framework.
//!
//! `api-auth` verifies JWTs against the keys of one or more issuers (found by OpenID
//! discovery, fetched from a JWKS URL, or given as a document, a file or PEM keys), checks
//! API keys and a gateway's shared secret, and maps every refusal onto an RFC 6750 response.
//! Remote key sets are fetched with bounded timeouts, cached, refreshed ahead of expiry,
//! refetched (rate-limited) when a token names an unknown key, and kept through an outage of
//! the identity provider; verified tokens are cached until they expire.
//!
//! # Quick start
//!
//! ```
//! use api_auth::{Auth, Issuer, KeySource};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Caller<'a> {
//!     sub: &'a str,
//!     #[serde(default)]
//!     roles: Vec<&'a str>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let idp = api_auth::DevIssuer::generate("https://login.example.com", Some("orders".into()))?;
//! # let jwks = idp.jwks().to_string();
//! # let mut claims = serde_json::Map::new();
//! # claims.insert("sub".into(), "alice".into());
//! # claims.insert("roles".into(), serde_json::json!(["admin"]));
//! # let token = idp.mint(claims);
//! // Production code names the issuer and lets discovery find its keys:
//! //     .issuer(Issuer::discover("https://login.example.com")?)
//! let auth = Auth::builder()
//!     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
//!     .audience("orders")
//!     .build()?;
//!
//! let claims = auth.verify(&token).await?;
//! let caller: Caller = claims.deserialize()?;
//! assert_eq!(caller.sub, "alice");
//! auth.require_role(&claims, "admin")?;
//! # Ok(())
//! # }
//! ```
//!
//! # In a web framework
//!
//! - With any `tower` stack (axum, hyper, tonic): [`AuthLayer`] (feature `tower`) verifies
//!   the request's token (with its DPoP proof or forwarded certificate when it is bound) and
//!   puts the [`Claims`] in the request extensions.
//! - Elsewhere, an adapter exposes a request's headers through [`RequestHead`] (or uses
//!   [`HttpRequestHead`] over `http` types), calls [`Auth::gate`], [`Auth::authenticate`],
//!   [`Auth::require_role`] or [`Auth::api_key_user`], and turns an [`AuthError`]'s
//!   [`Reply`] into its own response type (`http::Response` converts from it).
//! - For typed claims in a handler, an extractor or guard generic over the claims type calls
//!   [`Auth::claims_as`], whose refusal (`401 invalid_token`) answers like any other.
//!
//! # Sender-constrained tokens
//!
//! A token bound to a key by its `cnf` claim (RFC 7800) is accepted only with that key: a
//! DPoP proof (RFC 9449; [`AuthBuilder::dpop`] with a [`DpopVerifier`] and a [`ReplayStore`])
//! or the client certificate a gateway forwards (RFC 8705; [`AuthBuilder::certificate_header`]).
//! Without the matching option a bound token is refused, never used as a bearer token.
//! [`AuthBuilder::public_origin`] adds the protected resource metadata (RFC 9728,
//! [`Auth::resource_metadata`]). With any of them, refusals from [`Auth::authenticate`] come
//! as [`AuthError::Challenged`], whose challenges name every accepted scheme;
//! [`AuthError::cause`] is the refusal itself.
//!
//! # Several issuers
//!
//! Call [`AuthBuilder::issuer`] once per issuer. A token's `iss` picks the issuer before any
//! key is looked up; a token naming an issuer that is not listed is refused without any
//! fetch, and each issuer's key set is cached and refreshed on its own, so one provider's
//! outage leaves the others' tokens working.
//!
//! # Behind a gateway
//!
//! Cloudflare Access, Google Cloud IAP and the AWS Application Load Balancer each add a
//! signed assertion of their own to the requests they let through. One constructor per
//! gateway verifies it the way the vendor specifies: [`Issuer::cloudflare_access`],
//! [`Issuer::google_iap`], [`Issuer::aws_alb`]. A gateway that forwards a JWT in a header of
//! its own choosing (Kong, Zuplo, Envoy) is an ordinary issuer with a
//! [`TokenSource`]: [`AuthBuilder::token_source`].
//!
//! # Cargo features
//!
//! | feature | what it adds |
//! |---|---|
//! | `tower` | [`AuthLayer`] and [`AuthService`] |
//! | `dev-issuer` | [`DevIssuer`]: an in-process issuer that mints tokens, for development and tests |
//! | `redis` | `RedisReplayStore`: a DPoP replay store shared by a fleet, on Redis or Valkey |
//!
//! # What the library does not do
//!
//! It reads no environment variable, installs no logger and prints nothing: configuration
//! is code ([`AuthBuilder`]), failures are typed errors, and it reports through `tracing`
//! events. Tokens, secrets and keys never appear in its logs or errors.

#![warn(missing_docs)]
// docs.rs marks the items each Cargo feature adds.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
mod api_keys;
mod auth;
mod build_error;
mod builder;
mod canonical_json;
mod claim_fields;
mod claims;
mod confirmation;
mod credential_error;
#[cfg(feature = "dev-issuer")]
mod dev_issuer;
mod error;
mod fetched_json;
mod gateway;
mod hosts;
mod https;
mod issuer;
mod jwk;
mod key_store;
#[cfg(feature = "tower")]
mod layer;
pub mod metrics;
mod pem;
mod policy;
mod redacted_url;
mod reply;
mod request;
mod sender;
mod shared_secret;
mod token;
mod token_cache;
mod token_source;

pub use algorithm::{Algorithm, KeyKind};
pub use api_keys::{ApiKeyUser, ApiKeys};
pub use auth::Auth;
pub use builder::{AuthBuilder, BuildError, MAX_LEEWAY};
pub use claims::{Claims, ClaimsError, RegisteredClaims};
pub use credential_error::CredentialError;
#[cfg(feature = "dev-issuer")]
pub use dev_issuer::{DevIssuer, DevIssuerError, DevKeyType};
pub use error::{AuthError, TokenError};
pub use gateway::{AwsAlb, CloudflareAccess, GOOGLE_IAP_ISSUER, GoogleIap};
pub use hosts::AllowedHost;
pub use issuer::{Issuer, KeySource, PemKey};
pub use jwk::JwksError;
/// The key set parser, reachable for the fuzz targets; not part of the documented API.
#[doc(hidden)]
pub use jwk::{KeySet, parse_jwks};
pub use key_store::KeySetStatus;
/// The discovery and ALB key parsers, reachable for the fuzz targets and memory tests; not
/// part of the documented API.
#[doc(hidden)]
pub use key_store::{discovery_jwks_uri, parse_alb_key};
#[cfg(feature = "tower")]
pub use layer::{AuthBody, AuthLayer, AuthService};
pub use policy::{
    KeySetPolicy, MAX_REFRESH_JITTER_PERCENT, MAX_STALE_RANGE, MIN_TTL_RANGE, PolicyOutOfRange,
    REFETCH_COOLDOWN_RANGE,
};
pub use reply::Reply;
pub use request::{HttpRequestHead, RepeatedHeader, RequestHead};
pub use sender::{
    CertBindingError, Challenged, ClientDigest, DPOP_MAX_AGE_RANGE, DPOP_NONCE_WINDOW_RANGE,
    DpopConfigError, DpopError, DpopMode, DpopNonces, DpopVerifier, DpopVerifierBuilder,
    ForwardedCertificate, Freshness, MAX_DPOP_JTI_BYTES, MAX_DPOP_PROOF_BYTES,
    MAX_FORWARDED_CERT_BYTES, MemoryReplayStore, PROTECTED_RESOURCE_METADATA_PATH, ProofDefect,
    ProofOutcome, ProtectedResourceMetadata, PublicOrigin, PublicOriginError,
    REPLAY_STORE_RETRY_AFTER_SECS, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError, Scheme,
    dpop_challenge, jwk_thumbprint, resource_metadata_parameter, resource_metadata_url,
    thumbprints_match,
};
#[cfg(feature = "redis")]
pub use sender::{RedisReplayOptions, RedisReplayStore, RedisStoreError};
pub use shared_secret::SharedSecret;
pub use token_source::TokenSource;

/// The examples of the crate's README, compiled (and run where they can be) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
