//! The sample route contract, shared by the five samples and by nothing else: what the
//! samples have in common that is not authentication.
//!
//! - `config`: the contract's environment variables, read into a [`Config`] that builds an
//!   [`api_auth::Auth`] through the library's public builder;
//! - `server`: start-up (logging, binding, the `listening on` line, the development banner)
//!   and graceful shutdown;
//! - `metrics`: the Prometheus recorder behind `/metrics` and the per-route request counter;
//! - `gateway`, `token_source`: `AUTH_GATEWAY` (with `AUTH_ALB_*`), `AUTH_TOKEN_HEADER` and
//!   `AUTH_TOKEN_COOKIE`, read into the library's gateway issuers and token source;
//! - `caller`: [`Caller`], the typed claims the samples read from a verified token;
//! - `routes`: the bodies of the contract's routes and its JSON client errors;
//! - `http1`: an HTTP/1.1 accept loop with head size and read timeout limits, for the
//!   frameworks whose own server does not expose them.
//!
//! A service that depends on `api-auth` directly needs none of it.

pub mod caller;
pub mod config;
pub mod gateway;
pub mod http1;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod token_source;

pub use caller::Caller;
pub use config::{Config, ConfigError, KeySource};
