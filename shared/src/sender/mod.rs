//! Sender-constrained access tokens: DPoP (RFC 9449) and certificate binding (RFC 8705),
//! with the protected resource metadata that advertises them (RFC 9728).
//!
//! A sender-constrained token is usable only by the client holding a key: its claims bind it
//! with `cnf.jkt` (the thumbprint of a DPoP key) or `cnf["x5t#S256"]` (the thumbprint of a
//! TLS client certificate). The modules here check the client's side of that binding; the
//! token itself is verified as any other.
//!
//! - [`DpopVerifier`] checks a `DPoP` proof against the request and the access token, and
//!   remembers its `jti` in a [`ReplayStore`]: [`MemoryReplayStore`] for one process,
//!   `RedisReplayStore` (feature `redis`) for a fleet. [`DpopNonces`] issues and checks
//!   stateless server nonces.
//! - [`ForwardedCertificate`] reads the client certificate a gateway forwards and gives its
//!   `x5t#S256`.
//! - [`ProtectedResourceMetadata`] is the document served at
//!   [`PROTECTED_RESOURCE_METADATA_PATH`].

mod cert_binding;
mod constraints;
mod dpop_config;
mod dpop_error;
mod dpop_proof;
mod htu;
mod nonce;
mod public_origin;
mod replay;
mod replay_memory;
#[cfg(feature = "redis")]
mod replay_redis;
mod resource_metadata;
mod thumbprint;
mod xfcc;

pub use cert_binding::{CertBindingError, ForwardedCertificate, MAX_FORWARDED_CERT_BYTES};
pub use constraints::{Challenged, DpopMode, Scheme};
pub(crate) use constraints::{SenderConstraints, SenderOptions, unchecked_binding};
pub use dpop_config::{DPOP_MAX_AGE_RANGE, DpopConfigError, DpopVerifierBuilder};
pub use dpop_error::{DpopError, ProofDefect, REPLAY_STORE_RETRY_AFTER_SECS, dpop_challenge};
pub use dpop_proof::{DpopVerifier, MAX_DPOP_JTI_BYTES, MAX_DPOP_PROOF_BYTES, ProofOutcome};
pub use nonce::{DPOP_NONCE_WINDOW_RANGE, DpopNonces};
pub use public_origin::{PublicOrigin, PublicOriginError};
pub use replay::{ClientDigest, Freshness, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError};
pub use replay_memory::MemoryReplayStore;
#[cfg(feature = "redis")]
pub use replay_redis::{RedisReplayOptions, RedisReplayStore, RedisStoreError};
pub use resource_metadata::{
    PROTECTED_RESOURCE_METADATA_PATH, ProtectedResourceMetadata, resource_metadata_parameter,
    resource_metadata_url,
};
pub use thumbprint::{jwk_thumbprint, thumbprints_match};
