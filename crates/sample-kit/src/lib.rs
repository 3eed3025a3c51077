//! The sample route contract, shared by the five samples and by nothing else: what the
//! samples have in common that is not authentication.
//!
//! - [`routes`]: the contract's routes in one table, and what derives from it (path lookups,
//!   the gate before routing, the `404`/`405` answers);
//! - [`replies`]: what each route answers, and the contract's JSON errors;
//! - [`limits`]: head size, timeouts and body size, the same in every sample;
//! - [`config`]: the contract's environment variables, read into a [`Config`] that builds the
//!   [`AppState`] (an [`api_auth::Auth`] through the library's builder, which checks them);
//! - [`app_state`]: [`AppState`], what the routes share;
//! - [`server`]: the start-up steps (logging, binding, the `listening on` line, the
//!   development banner) and graceful shutdown;
//! - [`metrics`]: the Prometheus recorder behind `/metrics` and the per-route request counter;
//! - [`caller`] and [`roles`]: [`Caller`], the typed claims the samples read from a verified
//!   token, and the `/admin` rule that reads them;
//! - [`dev_mode`]: the embedded development issuer, its demo API key and `/dev/token`;
//! - [`gateway`] and [`token_source`]: `AUTH_GATEWAY` (with `AUTH_ALB_*`), `AUTH_TOKEN_HEADER`
//!   and `AUTH_TOKEN_COOKIE`, read into the library's gateway issuers and token source;
//! - [`sender`]: `AUTH_PUBLIC_URL`, `AUTH_DPOP*` and `AUTH_MTLS_CERT_HEADER`, read into the
//!   library's DPoP verifier, replay store and certificate binding;
//! - [`http1`]: an HTTP/1.1 accept loop under the limits, for the frameworks whose own server
//!   does not expose them.
//!
//! A service that depends on `api-auth` directly needs none of it.

pub mod app_state;
pub mod caller;
pub mod config;
pub mod dev_mode;
pub mod gateway;
pub mod http1;
pub mod limits;
pub mod metrics;
pub mod replies;
pub mod roles;
pub mod routes;
pub mod sender;
pub mod server;
pub mod token_source;

pub use app_state::AppState;
pub use caller::Caller;
pub use config::{Config, ConfigError, KeyOrigin};
