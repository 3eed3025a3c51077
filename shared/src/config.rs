//! Configuration from the environment, validated once at start-up.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::api_keys::ApiKeys;
use crate::shared_secret::SharedSecret;

/// A configuration value that cannot be used; the message names the variable and never
/// repeats a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// The largest `AUTH_LEEWAY_SECS` accepted.
pub const MAX_LEEWAY_SECS: u16 = 300;

/// Where the verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Neither `AUTH_ISSUER` nor `AUTH_JWKS_URL` is set: the embedded development issuer.
    Development,
    /// `AUTH_JWKS_URL`: fetch this key set.
    JwksUrl(Url),
    /// Only `AUTH_ISSUER`: the `jwks_uri` of its OpenID discovery document, else
    /// `{issuer}/.well-known/jwks.json`.
    Discovery(Url),
}

/// How the key set is cached and refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySetPolicy {
    /// Minimum time between two fetches triggered by requests (unknown `kid`, no keys).
    pub refetch_cooldown: Duration,
    /// How long the last good key set keeps serving while refreshes fail.
    pub max_stale: Duration,
    /// Lower clamp of the `Cache-Control: max-age` lifetime.
    pub min_ttl: Duration,
    /// Upper clamp of the `Cache-Control: max-age` lifetime.
    pub max_ttl: Duration,
    /// Lifetime when the response has no `max-age`.
    pub default_ttl: Duration,
    /// TCP connect timeout of a fetch.
    pub connect_timeout: Duration,
    /// Whole-request timeout of a fetch.
    pub request_timeout: Duration,
    /// Largest key set document accepted.
    pub max_body_bytes: usize,
    /// Most keys kept from one document; the rest are skipped with a warning.
    pub max_keys: usize,
}

impl Default for KeySetPolicy {
    fn default() -> Self {
        Self {
            refetch_cooldown: Duration::from_secs(10),
            max_stale: Duration::from_secs(24 * 3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            max_keys: 100,
        }
    }
}

/// The validated configuration of one sample process.
#[derive(Clone)]
pub struct Config {
    /// `HOST`: address to bind.
    pub host: IpAddr,
    /// `PORT`: port to bind; `0` picks a free one.
    pub port: u16,
    /// `AUTH_ISSUER`: the exact `iss` every token must carry, when set.
    pub issuer: Option<String>,
    /// Where keys come from (`AUTH_ISSUER`, `AUTH_JWKS_URL`, or development mode).
    pub key_source: KeySource,
    /// `AUTH_AUDIENCE`: a value `aud` must contain, when set.
    pub audience: Option<String>,
    pub(crate) algorithms: AlgorithmSet,
    /// `AUTH_LEEWAY_SECS`: clock skew allowed on `exp` and `nbf`, at most [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u16,
    pub(crate) hs256_secret: Option<Vec<u8>>,
    /// `API_KEYS`: the accepted API keys (`None`: unset).
    pub api_keys: Option<ApiKeys>,
    /// `SHARED_SECRET`: the gateway's secret (`None`: no gate).
    pub shared_secret: Option<SharedSecret>,
    /// `FORCE_HTTPS`: redirect plain-HTTP requests.
    pub force_https: bool,
    /// Key set caching (`AUTH_JWKS_*`).
    pub key_set: KeySetPolicy,
    /// `AUTH_TOKEN_CACHE_SIZE`: verified tokens remembered (`0` disables the cache).
    pub token_cache_size: usize,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("issuer", &self.issuer)
            .field("key_source", &self.key_source)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms())
            .field("leeway_secs", &self.leeway_secs)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("api_keys", &self.api_keys.as_ref().map(ApiKeys::len))
            .field(
                "shared_secret",
                &self.shared_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("force_https", &self.force_https)
            .field("key_set", &self.key_set)
            .field("token_cache_size", &self.token_cache_size)
            .finish()
    }
}

impl Config {
    /// Reads the process environment; `default_port` applies when `PORT` is unset.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_port, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    ///
    /// A variable that is set but empty or blank is an error naming it, never "unset".
    pub fn from_lookup(
        default_port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // Every variable, read once: `None` when unset, an error when set but blank.
        let var = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(name) {
                Some(value) if value.trim().is_empty() => {
                    Err(ConfigError::new(name, "is set but empty"))
                }
                value => Ok(value),
            }
        };
        let get =
            |name: &'static str| Ok::<_, ConfigError>(var(name)?.map(|v| v.trim().to_owned()));

        let host = match get("HOST")?.as_deref() {
            None | Some("localhost") => IpAddr::from([127, 0, 0, 1]),
            Some(h) => h
                .parse()
                .map_err(|_| ConfigError::new("HOST", "not an IP address"))?,
        };
        let port = parse_number(get("PORT")?, "PORT", default_port)?;

        let issuer = get("AUTH_ISSUER")?;
        let issuer_url = issuer
            .as_deref()
            .map(|s| parse_http_url(s, "AUTH_ISSUER"))
            .transpose()?;
        let jwks_url = get("AUTH_JWKS_URL")?
            .map(|s| parse_http_url(&s, "AUTH_JWKS_URL"))
            .transpose()?;
        let dev_mode_anywhere = match get("AUTH_DEV_MODE")?.as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(_) => return Err(ConfigError::new("AUTH_DEV_MODE", "expected 1 or 0")),
        };
        let key_source = match (jwks_url, issuer_url) {
            (Some(_), _) | (_, Some(_)) if dev_mode_anywhere => {
                return Err(ConfigError::new(
                    "AUTH_DEV_MODE",
                    "cannot be combined with AUTH_ISSUER or AUTH_JWKS_URL",
                ));
            }
            (Some(url), _) => KeySource::JwksUrl(url),
            (None, Some(issuer)) => KeySource::Discovery(issuer),
            (None, None) => KeySource::Development,
        };
        if key_source == KeySource::Development && !host.is_loopback() && !dev_mode_anywhere {
            return Err(ConfigError::new(
                "AUTH_ISSUER",
                format!(
                    "is unset, and development mode (which mints tokens for anyone) binds only \
                     to loopback, not HOST={host}; set AUTH_ISSUER, or AUTH_DEV_MODE=1 to run \
                     development mode there anyway"
                ),
            ));
        }

        let audience = get("AUTH_AUDIENCE")?;
        let hs256_secret = match var("AUTH_HS256_SECRET")? {
            None => None,
            Some(s) if s.trim() != s => {
                return Err(ConfigError::new(
                    "AUTH_HS256_SECRET",
                    "has leading or trailing whitespace",
                ));
            }
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::new(
                    "AUTH_HS256_SECRET",
                    "must be at least 32 bytes (RFC 7518 section 3.2)",
                ));
            }
            Some(s) => Some(s.into_bytes()),
        };
        let algorithms = parse_algorithms(get("AUTH_ALGORITHMS")?, hs256_secret.is_some())?;
        let leeway_secs: u16 = parse_number(get("AUTH_LEEWAY_SECS")?, "AUTH_LEEWAY_SECS", 30)?;
        if leeway_secs > MAX_LEEWAY_SECS {
            return Err(ConfigError::new(
                "AUTH_LEEWAY_SECS",
                format!("must be 0 to {MAX_LEEWAY_SECS}"),
            ));
        }

        let api_keys = var("API_KEYS")?.map(|s| ApiKeys::parse(&s)).transpose()?;
        let shared_secret = var("SHARED_SECRET")?
            .map(|s| SharedSecret::new(&s))
            .transpose()?;
        let force_https = match get("FORCE_HTTPS")?.as_deref() {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => return Err(ConfigError::new("FORCE_HTTPS", "expected 1 or 0")),
        };

        let defaults = KeySetPolicy::default();
        let secs = |name: &'static str, default: Duration| {
            parse_number(get(name)?, name, default.as_secs()).map(Duration::from_secs)
        };
        let key_set = KeySetPolicy {
            refetch_cooldown: secs("AUTH_JWKS_COOLDOWN_SECS", defaults.refetch_cooldown)?,
            max_stale: secs("AUTH_JWKS_MAX_STALE_SECS", defaults.max_stale)?,
            min_ttl: secs("AUTH_JWKS_MIN_TTL_SECS", defaults.min_ttl)?,
            ..defaults
        };
        let token_cache_size = parse_number(
            get("AUTH_TOKEN_CACHE_SIZE")?,
            "AUTH_TOKEN_CACHE_SIZE",
            10_000,
        )?;

        if issuer.is_none() && matches!(key_source, KeySource::JwksUrl(_)) {
            tracing::warn!(
                "AUTH_JWKS_URL is set without AUTH_ISSUER: the iss claim is not checked"
            );
        }
        if key_source != KeySource::Development && audience.is_none() {
            tracing::warn!(
                "AUTH_AUDIENCE is not set: any token of the issuer, for any API, is accepted"
            );
        }

        Ok(Self {
            host,
            port,
            issuer,
            key_source,
            audience,
            algorithms,
            leeway_secs,
            hs256_secret,
            api_keys,
            shared_secret,
            force_https,
            key_set,
            token_cache_size,
            max_token_bytes: 8 * 1024,
        })
    }

    /// The accepted algorithms (HS256 included when `AUTH_HS256_SECRET` is set).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.algorithms.iter().collect()
    }

    /// Whether this process runs the embedded development issuer.
    pub fn is_development(&self) -> bool {
        self.key_source == KeySource::Development
    }
}

fn parse_number<T: std::str::FromStr>(
    value: Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError::new(var, "not a valid number")),
    }
}

fn parse_http_url(value: &str, var: &'static str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(var, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(var, "must be an http or https URL"));
    }
    Ok(url)
}

fn parse_algorithms(value: Option<String>, has_secret: bool) -> Result<AlgorithmSet, ConfigError> {
    const VAR: &str = "AUTH_ALGORITHMS";
    let mut set: AlgorithmSet = match value {
        None => Algorithm::ASYMMETRIC.into_iter().collect(),
        Some(list) => {
            let mut set = AlgorithmSet::default();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let alg = Algorithm::from_name(name).ok_or_else(|| {
                    ConfigError::new(VAR, format!("unknown or unsupported algorithm {name:?}"))
                })?;
                if alg == Algorithm::HS256 && !has_secret {
                    return Err(ConfigError::new(
                        VAR,
                        "HS256 needs AUTH_HS256_SECRET to be set",
                    ));
                }
                set.insert(alg);
            }
            if set == AlgorithmSet::default() {
                return Err(ConfigError::new(VAR, "lists no algorithm"));
            }
            set
        }
    };
    if has_secret {
        set.insert(Algorithm::HS256);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(8001, |name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_development_mode_on_loopback() {
        let c = config(&[]).unwrap();
        assert_eq!(c.key_source, KeySource::Development);
        assert_eq!(c.port, 8001);
        assert_eq!(c.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.algorithms().len(), 10);
        assert!(!c.algorithms().contains(&Algorithm::HS256));
        assert_eq!(c.leeway_secs, 30);
    }

    #[test]
    fn issuer_alone_means_discovery() {
        let c = config(&[("AUTH_ISSUER", "https://idp.example/tenant")]).unwrap();
        assert!(matches!(c.key_source, KeySource::Discovery(_)));
        assert_eq!(c.issuer.as_deref(), Some("https://idp.example/tenant"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("AUTH_ISSUER", "not a url"),
            ("AUTH_JWKS_URL", "ftp://x/jwks"),
            ("AUTH_ALGORITHMS", "RS256,none"),
            ("AUTH_ALGORITHMS", "HS256"),
            ("AUTH_LEEWAY_SECS", "-1"),
            ("PORT", "99999"),
            ("HOST", "not-an-ip"),
            ("SHARED_SECRET", ""),
            ("AUTH_HS256_SECRET", "short"),
            ("FORCE_HTTPS", "maybe"),
            ("API_KEYS", "no-colon"),
            ("AUTH_LEEWAY_SECS", "301"),
            ("AUTH_LEEWAY_SECS", "99999999999"),
            ("AUTH_LEEWAY_SECS", "18446744073709551616"),
            ("SHARED_SECRET", " s3cret"),
            ("SHARED_SECRET", "s3cret\n"),
            ("AUTH_HS256_SECRET", " 0123456789abcdef0123456789abcdef"),
            ("API_KEYS", "alice: key-a"),
            ("AUTH_DEV_MODE", "yes"),
            ("AUTH_DEV_MODE", "2"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn leeway_is_bounded_to_five_minutes() {
        assert_eq!(config(&[("AUTH_LEEWAY_SECS", "0")]).unwrap().leeway_secs, 0);
        assert_eq!(
            config(&[("AUTH_LEEWAY_SECS", "300")]).unwrap().leeway_secs,
            300
        );
    }

    #[test]
    fn set_but_blank_is_an_error_never_unset() {
        for var in [
            "HOST",
            "PORT",
            "AUTH_ISSUER",
            "AUTH_JWKS_URL",
            "AUTH_AUDIENCE",
            "AUTH_ALGORITHMS",
            "AUTH_LEEWAY_SECS",
            "AUTH_HS256_SECRET",
            "API_KEYS",
            "SHARED_SECRET",
            "FORCE_HTTPS",
            "AUTH_DEV_MODE",
        ] {
            for blank in ["", " ", "\t"] {
                let err = config(&[(var, blank)]).unwrap_err();
                assert_eq!(err.var, var, "{blank:?}");
            }
        }
    }

    #[test]
    fn development_mode_binds_only_to_loopback_unless_asked() {
        let err = config(&[("HOST", "0.0.0.0")]).unwrap_err();
        assert_eq!(err.var, "AUTH_ISSUER");
        let err = config(&[("HOST", "192.168.1.10")]).unwrap_err();
        assert_eq!(err.var, "AUTH_ISSUER");
        assert!(config(&[("HOST", "::1")]).unwrap().is_development());
        let anywhere = config(&[("HOST", "0.0.0.0"), ("AUTH_DEV_MODE", "1")]).unwrap();
        assert!(anywhere.is_development());
        let real = config(&[("HOST", "0.0.0.0"), ("AUTH_ISSUER", "https://idp.example")]);
        assert!(!real.unwrap().is_development());
    }

    #[test]
    fn dev_mode_flag_conflicts_with_a_real_issuer() {
        for var in ["AUTH_ISSUER", "AUTH_JWKS_URL"] {
            let err = config(&[(var, "https://idp.example"), ("AUTH_DEV_MODE", "1")]).unwrap_err();
            assert_eq!(err.var, "AUTH_DEV_MODE", "{var}");
        }
        let off = config(&[
            ("AUTH_ISSUER", "https://idp.example"),
            ("AUTH_DEV_MODE", "0"),
        ]);
        assert!(off.is_ok());
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let c = config(&[
            ("SHARED_SECRET", "s3cret-value"),
            ("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef-hs"),
            ("API_KEYS", "alice:key-material-1"),
        ])
        .unwrap();
        let text = format!("{c:?}");
        for secret in ["s3cret-value", "0123456789abcdef", "key-material-1"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(c.algorithms().contains(&Algorithm::HS256));
    }
}
