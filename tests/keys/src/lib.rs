//! What every test of this workspace needs to stand in for an identity provider: real keys,
//! generated fresh ([`TestKey`]) with their public JWKs, tokens signed with them (well formed
//! or deliberately not: [`mint`], [`sign_raw`]), and a provider on loopback that serves a key
//! set and can be told to rotate, fail, hang or go away ([`Idp`]); and where to find the
//! `redis-server` that the replay-store tests run ([`redis_server_binary`]).
//!
//! One source for the conformance suite (`tests/`), the fuzz targets (`fuzz/`) and
//! `api-auth`'s benchmarks. It does not depend on `api-auth`: the keys and the provider are
//! written independently of the code they test.

pub mod idp;
mod key;
mod redis_binary;
mod token;

pub use idp::{Idp, Mode, jwks_of};
pub use key::{TestKey, pem};
pub use redis_binary::{REDIS_INSTALL_HINT, redis_server_binary};
pub use token::{b64, mint, mint_as, mint_with_header, now, sign_raw};
