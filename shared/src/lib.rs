//! Gateway-facing authentication for HTTP APIs, independent of any web framework.
//!
//! `api-auth` verifies gateway-issued JWTs against a JWKS (fetched, cached and refreshed
//! safely), checks API keys and the gateway's shared secret, and maps every failure onto an
//! RFC 6750 response. A web framework adapter only has to:
//!
//! 1. expose a request's headers through [`RequestHead`] (or use [`HttpRequestHead`]),
//! 2. call [`Auth::gate`], [`Auth::authenticate`], [`Auth::require_admin`] or
//!    [`Auth::api_key_user`], and
//! 3. turn the resulting [`Reply`] into its own response type.
//!
//! [`server`] holds the start-up steps every binary shares (configuration, binding, the
//! announcement line), and [`routes`] the bodies of the sample route contract.

mod algorithm;
mod api_keys;
mod auth;
mod claims;
mod config;
#[cfg(feature = "dev-issuer")]
mod dev_issuer;
mod error;
#[cfg(feature = "hyper-server")]
pub mod http1;
mod https;
mod jwk;
mod key_store;
pub mod metrics;
mod reply;
mod request;
pub mod routes;
pub mod server;
mod shared_secret;
mod token;
mod token_cache;

pub use algorithm::Algorithm;
pub use api_keys::{ApiKeyUser, ApiKeys};
pub use auth::Auth;
pub use claims::Claims;
pub use config::{Config, ConfigError, KeySetPolicy, KeySource};
#[cfg(feature = "dev-issuer")]
pub use dev_issuer::{DevIssuer, DevKeyType};
pub use error::{AuthError, TokenError};
pub use jwk::{KeySet, parse_jwks};
pub use key_store::KeySetStatus;
pub use reply::Reply;
pub use request::{HttpRequestHead, RepeatedHeader, RequestHead};
