//! `AUTH_PUBLIC_URL`, `AUTH_DPOP` (with `AUTH_DPOP_REPLAY`, `AUTH_DPOP_MAX_AGE_SECS`,
//! `AUTH_DPOP_NONCE` and `AUTH_DPOP_NONCE_SECRET`) and `AUTH_MTLS_CERT_HEADER`: sender-constrained tokens and the protected
//! resource metadata, read into the library's DPoP verifier, replay store and options.

use std::sync::Arc;
use std::time::Duration;

use api_auth::{
    Algorithm, AuthBuilder, BuildError, DpopConfigError, DpopMode, DpopNonces, DpopVerifier,
    MemoryReplayStore, PublicOrigin, RedisReplayOptions, RedisReplayStore, ReplayStore,
};

use crate::config::ConfigError;

/// Where DPoP proofs' `jti`s are remembered (`AUTH_DPOP_REPLAY`).
#[derive(Clone, PartialEq, Eq)]
pub enum ReplayChoice {
    /// `memory`: in this process, bounded.
    Memory,
    /// `redis://host:port[/db]`: a server a fleet shares (its URL may carry a password).
    Redis(String),
}

/// Shows a Redis URL without the credentials it may carry.
impl std::fmt::Debug for ReplayChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Redis(url) => {
                // Scheme, host, port and path only, as every URL is shown.
                let shown = url::Url::parse(url).map(|mut url| {
                    let _ = url.set_username("");
                    let _ = url.set_password(None);
                    url.set_query(None);
                    url.set_fragment(None);
                    url.to_string()
                });
                f.debug_tuple("Redis")
                    .field(&shown.unwrap_or_default())
                    .finish()
            }
        }
    }
}

/// DPoP, as the variables configure it.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// `AUTH_DPOP`: `allowed` or `required`.
    pub mode: DpopMode,
    /// `AUTH_DPOP_REPLAY`.
    pub replay: ReplayChoice,
    /// `AUTH_DPOP_MAX_AGE_SECS` (`None`: the library's default).
    pub max_age: Option<Duration>,
    /// `AUTH_DPOP_NONCE=1`: server nonces, keyed by `AUTH_DPOP_NONCE_SECRET` when set (so
    /// that every replica accepts the others'), else by a random key of this process.
    pub nonce: bool,
}

/// The sender-constraint settings of one process.
#[derive(Clone, Default)]
pub struct SenderSettings {
    /// `AUTH_PUBLIC_URL`.
    pub public_url: Option<PublicOrigin>,
    /// `AUTH_DPOP` and its companions, when DPoP is on.
    pub dpop: Option<DpopSettings>,
    /// `AUTH_MTLS_CERT_HEADER`.
    pub certificate_header: Option<String>,
    /// The nonce key's secret (`AUTH_DPOP_NONCE_SECRET`), never shown. Never another
    /// secret: nonces are public and expose their key to offline guessing.
    nonce_secret: Option<String>,
}

impl std::fmt::Debug for SenderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderSettings")
            .field("public_url", &self.public_url)
            .field("dpop", &self.dpop)
            .field("certificate_header", &self.certificate_header)
            .finish_non_exhaustive()
    }
}

impl SenderSettings {
    /// Reads the variables through `get` (trimmed, `None` when unset), and the nonce
    /// secret through `secret` (as set, since a secret with surrounding whitespace is
    /// refused rather than trimmed).
    pub fn from_vars(
        get: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
        secret: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let public_url = get("AUTH_PUBLIC_URL")?
            .map(|url| PublicOrigin::parse(&url))
            .transpose()
            .map_err(|e| ConfigError::new("AUTH_PUBLIC_URL", e.to_string()))?;
        let mode = match get("AUTH_DPOP")?.as_deref() {
            None | Some("off") => None,
            Some("allowed") => Some(DpopMode::Allowed),
            Some("required") => Some(DpopMode::Required),
            Some(_) => {
                return Err(ConfigError::new(
                    "AUTH_DPOP",
                    "must be off, allowed or required",
                ));
            }
        };
        let replay = get("AUTH_DPOP_REPLAY")?;
        let max_age = get("AUTH_DPOP_MAX_AGE_SECS")?;
        let nonce = get("AUTH_DPOP_NONCE")?;
        let nonce_secret = secret(NONCE_SECRET)?;
        if nonce_secret.as_deref().is_some_and(|s| s.trim() != s) {
            return Err(ConfigError::new(
                NONCE_SECRET,
                "has leading or trailing whitespace",
            ));
        }
        if let Some(nonce_secret) = &nonce_secret {
            // Nonces are public: their key must not be a secret that opens anything else.
            for other in [
                "SHARED_SECRET",
                "SHARED_SECRET_PREVIOUS",
                "AUTH_HS256_SECRET",
            ] {
                if secret(other)?.as_ref() == Some(nonce_secret) {
                    return Err(ConfigError::new(
                        NONCE_SECRET,
                        format!("must be a secret of its own, not the value of {other}"),
                    ));
                }
            }
        }
        let dpop = match mode {
            None => {
                let companions = [
                    ("AUTH_DPOP_REPLAY", replay.is_some()),
                    ("AUTH_DPOP_MAX_AGE_SECS", max_age.is_some()),
                    ("AUTH_DPOP_NONCE", nonce.is_some()),
                    (NONCE_SECRET, nonce_secret.is_some()),
                ];
                if let Some((var, _)) = companions.into_iter().find(|(_, set)| *set) {
                    return Err(ConfigError::new(var, "needs AUTH_DPOP=allowed or required"));
                }
                None
            }
            Some(mode) => {
                if public_url.is_none() {
                    return Err(ConfigError::new(
                        "AUTH_PUBLIC_URL",
                        "is required with AUTH_DPOP: proofs name the URL clients use, which \
                         the origin behind a gateway cannot see",
                    ));
                }
                let nonce = match nonce.as_deref() {
                    None | Some("0") => false,
                    Some("1") => true,
                    Some(_) => {
                        return Err(ConfigError::new("AUTH_DPOP_NONCE", "expected 1 or 0"));
                    }
                };
                if !nonce && nonce_secret.is_some() {
                    return Err(ConfigError::new(NONCE_SECRET, "needs AUTH_DPOP_NONCE=1"));
                }
                Some(DpopSettings {
                    mode,
                    replay: parse_replay(replay.as_deref())?,
                    max_age: parse_secs(max_age.as_deref())?.map(Duration::from_secs),
                    nonce,
                })
            }
        };
        Ok(Self {
            public_url,
            dpop,
            certificate_header: get("AUTH_MTLS_CERT_HEADER")?,
            nonce_secret,
        })
    }

    /// Adds these settings to `builder`; proofs may use `algorithms` (HS256 never) within
    /// `leeway`. With `connect`, the replay store is the configured one (which must run
    /// inside a Tokio runtime for Redis); without it, an in-memory one stands in, for a
    /// check of the settings that must not connect anywhere.
    pub fn apply(
        &self,
        mut builder: AuthBuilder,
        algorithms: &[Algorithm],
        leeway: Duration,
        connect: bool,
    ) -> Result<AuthBuilder, ConfigError> {
        if let Some(origin) = &self.public_url {
            builder = builder.public_origin(origin.clone());
        }
        if let Some(header) = &self.certificate_header {
            builder = builder.certificate_header(header);
        }
        let (Some(dpop), Some(origin)) = (&self.dpop, &self.public_url) else {
            return Ok(builder);
        };
        let replay: Arc<dyn ReplayStore> = match (&dpop.replay, connect) {
            (ReplayChoice::Redis(url), true) => redis_store(url)?,
            _ => Arc::new(MemoryReplayStore::default()),
        };
        let mut verifier = DpopVerifier::builder(origin.clone(), replay)
            .algorithms(
                algorithms
                    .iter()
                    .copied()
                    .filter(|alg| *alg != Algorithm::HS256),
            )
            .leeway(leeway);
        if let Some(max_age) = dpop.max_age {
            verifier = verifier.max_age(max_age);
        }
        if dpop.nonce {
            let nonces = match &self.nonce_secret {
                Some(secret) => DpopNonces::from_secret(secret.as_bytes())
                    .map_err(|e| ConfigError::new(NONCE_SECRET, e.to_string()))?,
                None => DpopNonces::random().map_err(dpop_refusal)?,
            };
            verifier = verifier.nonces(nonces);
        }
        let verifier = verifier.build().map_err(dpop_refusal)?;
        Ok(builder.dpop(verifier, dpop.mode))
    }

    /// The variable a refusal of the library's builder concerns, for the refusals about
    /// these settings.
    pub fn variable_of(error: &BuildError) -> Option<&'static str> {
        match error {
            BuildError::DpopWithTokenSource => Some("AUTH_DPOP"),
            BuildError::PublicOriginMismatch => Some("AUTH_PUBLIC_URL"),
            BuildError::InvalidCertificateHeader(_)
            | BuildError::CertificateHeaderWithoutSharedSecret => Some("AUTH_MTLS_CERT_HEADER"),
            _ => None,
        }
    }
}

/// The variable of the nonces' own secret.
const NONCE_SECRET: &str = "AUTH_DPOP_NONCE_SECRET";

/// A refusal of the library's DPoP verifier builder, under the variable it concerns.
fn dpop_refusal(error: DpopConfigError) -> ConfigError {
    let var = match error {
        DpopConfigError::MaxAgeOutOfRange => "AUTH_DPOP_MAX_AGE_SECS",
        DpopConfigError::LeewayOutOfRange => "AUTH_LEEWAY_SECS",
        DpopConfigError::NoAlgorithm | DpopConfigError::SymmetricAlgorithm => "AUTH_ALGORITHMS",
        _ => "AUTH_DPOP_NONCE",
    };
    ConfigError::new(var, error.to_string())
}

/// `AUTH_DPOP_REPLAY`: `memory` (the default) or a `redis://` URL the store accepts.
fn parse_replay(value: Option<&str>) -> Result<ReplayChoice, ConfigError> {
    match value {
        None | Some("memory") => Ok(ReplayChoice::Memory),
        Some(url) if RedisReplayStore::check_url(url).is_ok() => {
            Ok(ReplayChoice::Redis(url.to_owned()))
        }
        Some(_) => Err(ConfigError::new(
            "AUTH_DPOP_REPLAY",
            "must be memory or a redis://host:port[/db] URL",
        )),
    }
}

/// `AUTH_DPOP_MAX_AGE_SECS` as a number (the library checks its range and has the default).
fn parse_secs(value: Option<&str>) -> Result<Option<u64>, ConfigError> {
    value
        .map(|v| {
            v.parse()
                .map_err(|_| ConfigError::new("AUTH_DPOP_MAX_AGE_SECS", "not a valid number"))
        })
        .transpose()
}

/// The Redis replay store, connecting on first use; its reachability is logged at once.
fn redis_store(url: &str) -> Result<Arc<dyn ReplayStore>, ConfigError> {
    let store = RedisReplayStore::lazy(url, RedisReplayOptions::default())
        .map_err(|e| ConfigError::new("AUTH_DPOP_REPLAY", e.to_string()))?;
    let store = Arc::new(store);
    let probe = Arc::clone(&store);
    // The store logs whether the server answers; start-up does not wait for it.
    tokio::spawn(async move {
        let _ = probe.ping().await;
    });
    Ok(store)
}
