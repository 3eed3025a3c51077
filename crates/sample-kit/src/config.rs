//! Configuration from the environment, read once at start-up.
//!
//! [`Config`] reads the contract's variables and refuses what no variable may hold (blank
//! values, secrets with surrounding whitespace, malformed numbers, lists and URLs); every rule
//! about what a setting may be (the HS256 secret's length, the leeway's bound, HS256 only with
//! a secret, the key set timings, the allowed hosts) is the library's, checked by
//! [`AuthBuilder::build`] before the port is bound, and each [`BuildError`] is reported under
//! the variable it concerns.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use api_auth::{
    Algorithm, ApiKeys, Auth, AuthBuilder, BuildError, Issuer, KeySetPolicy, KeySource,
    MAX_REFRESH_JITTER_PERCENT, SharedSecret, TokenSource,
};

use crate::app_state::AppState;
use crate::dev_mode::DevMode;
use crate::gateway::{self, AlbVars, GatewayInputs, GatewayKind, GatewaySettings};
use crate::sender::SenderSettings;
use crate::{limits, routes, token_source};

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
    /// A refusal of `var` for `reason`.
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// Which of the contract's variables chose the verification keys (the library's own
/// [`KeySource`] says where a key set is; this says why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Neither `AUTH_ISSUER` nor `AUTH_JWKS_URL` is set: the embedded development issuer.
    Development,
    /// `AUTH_JWKS_URL`: the key set at that URL (shown without the credentials it may carry).
    JwksUrl(KeySource),
    /// Only `AUTH_ISSUER`: for each issuer, the `jwks_uri` of its OpenID discovery document,
    /// else `{issuer}/.well-known/jwks.json`.
    Discovery,
    /// `AUTH_GATEWAY`: the gateway's own keys (see [`Config::gateway`]).
    Gateway,
}

/// The configuration of one sample process.
#[derive(Clone)]
pub struct Config {
    /// `HOST`: address to bind.
    pub host: IpAddr,
    /// `PORT`: port to bind; `0` picks a free one.
    pub port: u16,
    /// `AUTH_ISSUER`: the issuers whose tokens are accepted (each token's `iss` must be
    /// exactly one of them); empty when unset.
    pub issuers: Vec<String>,
    /// Where keys come from (`AUTH_ISSUER`, `AUTH_JWKS_URL`, or development mode).
    pub key_origin: KeyOrigin,
    /// `AUTH_AUDIENCE`: a value `aud` must contain, when set.
    pub audience: Option<String>,
    /// `AUTH_ALGORITHMS` as listed (every asymmetric algorithm when unset).
    algorithms: Vec<Algorithm>,
    /// `AUTH_LEEWAY_SECS`: clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    hs256_secret: Option<Vec<u8>>,
    /// `API_KEYS`: the accepted API keys (`None`: unset).
    pub api_keys: Option<ApiKeys>,
    /// `SHARED_SECRET`: the gateway's secret (`None`: no gate).
    pub shared_secret: Option<SharedSecret>,
    /// `FORCE_HTTPS`: redirect plain-HTTP requests.
    pub force_https: bool,
    /// `ALLOWED_HOSTS`: the hosts served, each `host[:port]` (`None`: any host).
    pub allowed_hosts: Option<Vec<String>>,
    /// Key set caching (`AUTH_JWKS_*`).
    pub key_set: KeySetPolicy,
    /// `AUTH_TOKEN_CACHE_SIZE`: verified tokens remembered (`0` disables the cache).
    pub token_cache_size: usize,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// `AUTH_GATEWAY` (with `AUTH_ALB_*`): the gateway whose assertion is verified.
    pub gateway: Option<GatewaySettings>,
    /// `AUTH_TOKEN_HEADER` / `AUTH_TOKEN_COOKIE`: where the bearer token is read.
    pub token_source: Option<TokenSource>,
    /// `AUTH_PUBLIC_URL`, `AUTH_DPOP*`, `AUTH_MTLS_CERT_HEADER`.
    pub sender: SenderSettings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("issuers", &self.issuers)
            .field("key_origin", &self.key_origin)
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
            .field("allowed_hosts", &self.allowed_hosts)
            .field("key_set", &self.key_set)
            .field("token_cache_size", &self.token_cache_size)
            .field("gateway", &self.gateway)
            .field("token_source", &self.token_source)
            .field("sender", &self.sender)
            .finish()
    }
}

impl Config {
    /// Reads the process environment; `default_port` applies when `PORT` is unset.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_port, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests), then has
    /// the library's builder check the settings, before any port is bound.
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

        let issuers = match get("AUTH_ISSUER")? {
            None => Vec::new(),
            Some(list) => parse_issuers(&list)?,
        };
        let jwks_url = get("AUTH_JWKS_URL")?
            .map(|url| KeySource::jwks_url(&url))
            .transpose()
            .map_err(|e| ConfigError::new("AUTH_JWKS_URL", e.to_string()))?;
        let dev_mode_anywhere = match get("AUTH_DEV_MODE")?.as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(_) => return Err(ConfigError::new("AUTH_DEV_MODE", "expected 1 or 0")),
        };
        let gateway_kind = GatewayKind::parse(get("AUTH_GATEWAY")?.as_deref())?;
        if dev_mode_anywhere
            && (jwks_url.is_some() || !issuers.is_empty() || gateway_kind.is_some())
        {
            return Err(ConfigError::new(
                "AUTH_DEV_MODE",
                "cannot be combined with AUTH_ISSUER, AUTH_JWKS_URL or AUTH_GATEWAY",
            ));
        }
        let key_origin = match jwks_url.clone() {
            _ if gateway_kind.is_some() => KeyOrigin::Gateway,
            Some(_) if issuers.len() > 1 => {
                return Err(ConfigError::new(
                    "AUTH_JWKS_URL",
                    "names one key set, but AUTH_ISSUER lists several issuers, each with its own",
                ));
            }
            Some(source) => KeyOrigin::JwksUrl(source),
            None if issuers.is_empty() => KeyOrigin::Development,
            None => KeyOrigin::Discovery,
        };
        if key_origin == KeyOrigin::Development && !host.is_loopback() && !dev_mode_anywhere {
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
            Some(s) => Some(s.into_bytes()),
        };
        let algorithms = parse_algorithms(get("AUTH_ALGORITHMS")?)?;
        let leeway_secs = parse_number(get("AUTH_LEEWAY_SECS")?, "AUTH_LEEWAY_SECS", 30)?;

        let api_keys = var("API_KEYS")?
            .map(|s| ApiKeys::parse(&s))
            .transpose()
            .map_err(|e| ConfigError::new("API_KEYS", e.to_string()))?;
        let shared_secret = var("SHARED_SECRET")?
            .as_deref()
            .map(SharedSecret::new)
            .transpose()
            .map_err(|e| ConfigError::new("SHARED_SECRET", e.to_string()))?;
        let shared_secret = match (shared_secret, var("SHARED_SECRET_PREVIOUS")?) {
            (secret, None) => secret,
            (Some(secret), Some(previous)) => Some(
                secret
                    .with_previous(&previous)
                    .map_err(|e| ConfigError::new("SHARED_SECRET_PREVIOUS", e.to_string()))?,
            ),
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SHARED_SECRET_PREVIOUS",
                    "needs SHARED_SECRET (the secret the gateway sends now)",
                ));
            }
        };
        let force_https = match get("FORCE_HTTPS")?.as_deref() {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => return Err(ConfigError::new("FORCE_HTTPS", "expected 1 or 0")),
        };
        let allowed_hosts = get("ALLOWED_HOSTS")?
            .map(|list| parse_allowed_hosts(&list))
            .transpose()?;

        let defaults = KeySetPolicy::default();
        let secs = |name: &'static str, default: Duration| {
            parse_number(get(name)?, name, default.as_secs()).map(Duration::from_secs)
        };
        let key_set = KeySetPolicy {
            refetch_cooldown: secs("AUTH_JWKS_COOLDOWN_SECS", defaults.refetch_cooldown)?,
            max_stale: secs("AUTH_JWKS_MAX_STALE_SECS", defaults.max_stale)?,
            min_ttl: secs("AUTH_JWKS_MIN_TTL_SECS", defaults.min_ttl)?,
            refresh_jitter_percent: parse_jitter(get("AUTH_JWKS_REFRESH_JITTER_PCT")?)?,
            ..defaults
        };
        let token_cache_size = parse_number(
            get("AUTH_TOKEN_CACHE_SIZE")?,
            "AUTH_TOKEN_CACHE_SIZE",
            10_000,
        )?;

        let gateway = gateway::configure(
            gateway_kind,
            AlbVars {
                arn: get("AUTH_ALB_ARN")?,
                client_id: get("AUTH_ALB_CLIENT_ID")?,
                key_url: get("AUTH_ALB_KEY_URL")?,
            },
            &GatewayInputs {
                issuers: &issuers,
                jwks_url: jwks_url.as_ref(),
                audience: audience.as_deref(),
                algorithms: &algorithms,
            },
        )?;
        let token_header = get("AUTH_TOKEN_HEADER")?;
        let token_cookie = get("AUTH_TOKEN_COOKIE")?;
        let token_source =
            token_source::from_vars(token_header.as_deref(), token_cookie.as_deref())?;
        if let Some(gateway) = &gateway {
            // The gateway decides where its assertion is and how it is signed; these
            // settings of the ordinary mode would contradict it.
            let contradicting = [
                ("AUTH_HS256_SECRET", hs256_secret.is_some()),
                ("AUTH_TOKEN_HEADER", token_header.is_some()),
                ("AUTH_TOKEN_COOKIE", token_cookie.is_some()),
                ("AUTH_DPOP", var("AUTH_DPOP")?.is_some()),
                (
                    "AUTH_MTLS_CERT_HEADER",
                    var("AUTH_MTLS_CERT_HEADER")?.is_some(),
                ),
            ];
            if let Some((name, _)) = contradicting.into_iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    name,
                    format!(
                        "cannot be set with AUTH_GATEWAY={}: the gateway's own assertion is \
                         the credential",
                        gateway.kind.name()
                    ),
                ));
            }
        }

        // After the gateway's checks: with AUTH_GATEWAY, AUTH_DPOP is the error, not what
        // DPoP would need.
        let sender = SenderSettings::from_vars(get, var)?;

        let config = Self {
            host,
            port,
            issuers,
            key_origin,
            audience,
            algorithms,
            leeway_secs,
            hs256_secret,
            api_keys,
            shared_secret,
            force_https,
            allowed_hosts,
            key_set,
            token_cache_size,
            max_token_bytes: limits::MAX_TOKEN_BYTES,
            gateway,
            token_source,
            sender,
        };
        config.check()?;
        config.warn_about_risks();
        Ok(config)
    }

    /// The accepted algorithms (HS256 included when `AUTH_HS256_SECRET` is set).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms = self.algorithms.clone();
        if self.hs256_secret.is_some() && !algorithms.contains(&Algorithm::HS256) {
            algorithms.push(Algorithm::HS256);
        }
        algorithms
    }

    /// Whether this process runs the embedded development issuer.
    pub fn is_development(&self) -> bool {
        self.key_origin == KeyOrigin::Development
    }

    /// Builds the verifier through the library's builder, with the development issuer in
    /// development mode. `base_url` is the server's own URL, which becomes the issuer in
    /// development mode. Must run inside a Tokio runtime: a remote key set starts fetching at
    /// once, in the background.
    pub fn build_app(&self, base_url: &str) -> Result<AppState, ConfigError> {
        let mut builder = self.sender.apply(
            self.settings(Auth::builder()),
            &self.algorithms,
            Duration::from_secs(self.leeway_secs),
            true,
        )?;
        let mut dev = None;
        builder = match (&self.key_origin, self.issuers.as_slice()) {
            (KeyOrigin::Development, _) => {
                let demo_key = self.api_keys.is_none();
                let (builder, mode) =
                    DevMode::install(builder, base_url, self.audience.clone(), demo_key)
                        .map_err(|e| ConfigError::new("AUTH_ISSUER", e.to_string()))?;
                dev = Some(mode);
                builder
            }
            (KeyOrigin::Gateway, _) => match &self.gateway {
                Some(gateway) => builder.issuer(gateway.issuer.clone()),
                None => return Err(ConfigError::new("AUTH_GATEWAY", "is not configured")),
            },
            (KeyOrigin::JwksUrl(source), []) => builder.keys_without_issuer(source.clone()),
            (KeyOrigin::JwksUrl(source), issuers) => {
                for iss in issuers {
                    let issuer = Issuer::new(iss, source.clone()).map_err(|e| self.refusal(e))?;
                    builder = builder.issuer(issuer);
                }
                builder
            }
            (KeyOrigin::Discovery, issuers) => {
                for iss in issuers {
                    let issuer = Issuer::discover(iss).map_err(|e| self.refusal(e))?;
                    builder = builder.issuer(issuer);
                }
                builder
            }
        };
        let auth = builder.build().map_err(|e| self.refusal(e))?;
        Ok(AppState::new(auth, dev))
    }

    /// Every setting of the verifier but its keys.
    fn settings(&self, builder: AuthBuilder) -> AuthBuilder {
        // `AUTH_HS256_SECRET` alone decides whether HS256 is accepted: with it, naming HS256 in
        // `AUTH_ALGORITHMS` changes nothing; without it, the builder refuses HS256.
        let secret = self.hs256_secret.is_some();
        let algorithms = self.algorithms.iter().copied();
        let mut builder = builder
            .algorithms(algorithms.filter(|alg| !secret || *alg != Algorithm::HS256))
            .leeway(Duration::from_secs(self.leeway_secs))
            .force_https(self.force_https)
            .ungated_paths(routes::ungated_paths())
            .key_set_policy(self.key_set.clone())
            .token_cache_size(self.token_cache_size)
            .max_token_bytes(self.max_token_bytes);
        // A gateway's issuer carries its own audience (or, for the ALB, has none).
        if let Some(audience) = self.audience.as_ref().filter(|_| self.gateway.is_none()) {
            builder = builder.audience(audience.clone());
        }
        if let Some(source) = &self.token_source {
            builder = builder.token_source(source.clone());
        }
        if let Some(secret) = &self.hs256_secret {
            builder = builder.hs256_secret(secret.clone());
        }
        if let Some(keys) = &self.api_keys {
            builder = builder.api_keys(keys.clone());
        }
        if let Some(secret) = &self.shared_secret {
            builder = builder.shared_secret(secret.clone());
        }
        if let Some(hosts) = &self.allowed_hosts {
            builder = builder.allowed_hosts(hosts.iter().cloned());
        }
        builder
    }

    /// Has the library's builder check every setting now, before the port is bound: it
    /// builds a verifier with the settings and no keys. The builder checks the settings before
    /// it looks for keys, so `NoKeySource` (or, with an HS256 secret, a verifier) means they
    /// all passed; this crate's unit tests hold that order to account.
    fn check(&self) -> Result<(), ConfigError> {
        let settings = self.sender.apply(
            self.settings(Auth::builder()),
            &self.algorithms,
            Duration::from_secs(self.leeway_secs),
            false,
        )?;
        match settings.token_cache_size(0).build() {
            Ok(_) | Err(BuildError::NoKeySource) => Ok(()),
            Err(error) => Err(self.refusal(error)),
        }
    }

    /// A refusal of the library's builder, under the variable it concerns.
    fn refusal(&self, error: BuildError) -> ConfigError {
        if let Some(var) = SenderSettings::variable_of(&error) {
            return ConfigError::new(var, error.to_string());
        }
        let var = match &error {
            BuildError::WeakHs256Secret => "AUTH_HS256_SECRET",
            BuildError::Hs256WithoutSecret | BuildError::NoAlgorithm => "AUTH_ALGORITHMS",
            BuildError::LeewayTooLarge => "AUTH_LEEWAY_SECS",
            BuildError::InvalidAllowedHost { .. } | BuildError::NoAllowedHost => "ALLOWED_HOSTS",
            BuildError::KeySetPolicy(out) => {
                let var = match out.setting {
                    "refetch_cooldown" => "AUTH_JWKS_COOLDOWN_SECS",
                    "min_ttl" => "AUTH_JWKS_MIN_TTL_SECS",
                    _ => "AUTH_JWKS_MAX_STALE_SECS",
                };
                // The library names its field; the variable is named before the message.
                let (low, high) = (out.range.start().as_secs(), out.range.end().as_secs());
                return ConfigError::new(var, format!("must be {low} to {high} (seconds)"));
            }
            // Everything else is about the issuers and their keys.
            _ => match self.key_origin {
                KeyOrigin::JwksUrl(_) => "AUTH_JWKS_URL",
                KeyOrigin::Development | KeyOrigin::Discovery => "AUTH_ISSUER",
                KeyOrigin::Gateway => "AUTH_GATEWAY",
            },
        };
        ConfigError::new(var, error.to_string())
    }

    /// Logs the configurations that start but accept more than their operator may think.
    fn warn_about_risks(&self) {
        if self.issuers.is_empty() && matches!(self.key_origin, KeyOrigin::JwksUrl(_)) {
            tracing::warn!(
                "AUTH_JWKS_URL is set without AUTH_ISSUER: the iss claim is not checked"
            );
        }
        let has_audience_concept =
            !matches!(self.key_origin, KeyOrigin::Development | KeyOrigin::Gateway);
        if has_audience_concept && self.audience.is_none() {
            tracing::warn!(
                "AUTH_AUDIENCE is not set: any token of the issuer, for any API, is accepted"
            );
        }
        if self.force_https && self.allowed_hosts.is_none() {
            tracing::warn!(
                "FORCE_HTTPS is set without ALLOWED_HOSTS: redirects go to whatever host the \
                 client names, an open redirect unless a proxy in front fixes the Host header"
            );
        }
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

/// `AUTH_JWKS_REFRESH_JITTER_PCT`: the library applies at most [`MAX_REFRESH_JITTER_PERCENT`];
/// the contract refuses more rather than silently apply less.
fn parse_jitter(value: Option<String>) -> Result<u8, ConfigError> {
    const VAR: &str = "AUTH_JWKS_REFRESH_JITTER_PCT";
    let percent = parse_number(value, VAR, KeySetPolicy::default().refresh_jitter_percent)?;
    if percent > MAX_REFRESH_JITTER_PERCENT {
        return Err(ConfigError::new(
            VAR,
            format!("must be between 0 and {MAX_REFRESH_JITTER_PERCENT}"),
        ));
    }
    Ok(percent)
}

/// `AUTH_ISSUER`: one issuer URL, or several separated by commas; each kept exactly as
/// written (it is compared byte for byte with `iss`), none empty, none twice.
fn parse_issuers(list: &str) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "AUTH_ISSUER";
    let mut issuers: Vec<String> = Vec::new();
    for (index, entry) in list.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            return Err(ConfigError::new(
                VAR,
                format!("entry {} of the list is empty", index + 1),
            ));
        }
        // The library's rules for an issuer (an http or https URL, no credentials); its
        // error never repeats credentials.
        Issuer::discover(entry).map_err(|e| ConfigError::new(VAR, e.to_string()))?;
        if issuers.iter().any(|known| known == entry) {
            return Err(ConfigError::new(VAR, format!("{entry:?} is listed twice")));
        }
        issuers.push(entry.to_owned());
    }
    Ok(issuers)
}

/// `ALLOWED_HOSTS`: comma-separated `host[:port]` entries, none empty; the library checks
/// each entry (see [`Config::check`]).
fn parse_allowed_hosts(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .enumerate()
        .map(|(index, entry)| match entry {
            "" => Err(ConfigError::new(
                "ALLOWED_HOSTS",
                format!("entry {} of the list is empty", index + 1),
            )),
            entry => Ok(entry.to_owned()),
        })
        .collect()
}

/// `AUTH_ALGORITHMS`: comma-separated algorithm names, each one the library knows; whether
/// the list can be used is the library's to say (see [`Config::check`]).
fn parse_algorithms(value: Option<String>) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(list) = value else {
        return Ok(Algorithm::ASYMMETRIC.to_vec());
    };
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Algorithm::from_name(name).ok_or_else(|| {
                ConfigError::new(
                    "AUTH_ALGORITHMS",
                    format!("unknown or unsupported algorithm {name:?}"),
                )
            })
        })
        .collect()
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
        assert_eq!(c.key_origin, KeyOrigin::Development);
        assert_eq!(c.port, 8001);
        assert_eq!(c.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.algorithms().len(), 10);
        assert!(!c.algorithms().contains(&Algorithm::HS256));
        assert_eq!(c.leeway_secs, 30);
    }

    #[test]
    fn issuer_alone_means_discovery() {
        let c = config(&[("AUTH_ISSUER", "https://idp.example/tenant")]).unwrap();
        assert!(matches!(c.key_origin, KeyOrigin::Discovery));
        assert_eq!(c.issuers, ["https://idp.example/tenant"]);
    }

    #[test]
    fn several_issuers() {
        let c = config(&[("AUTH_ISSUER", "https://a.example, https://b.example/t")]).unwrap();
        assert_eq!(c.issuers, ["https://a.example", "https://b.example/t"]);
        for list in [
            "https://a.example,,https://b.example",
            "https://a.example,https://a.example",
            "https://a.example,",
        ] {
            assert_eq!(
                config(&[("AUTH_ISSUER", list)]).unwrap_err().var,
                "AUTH_ISSUER",
                "{list}"
            );
        }
        let err = config(&[
            ("AUTH_ISSUER", "https://a.example,https://b.example"),
            ("AUTH_JWKS_URL", "https://a.example/keys"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "AUTH_JWKS_URL");
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
            ("AUTH_JWKS_REFRESH_JITTER_PCT", "51"),
            ("AUTH_JWKS_REFRESH_JITTER_PCT", "-1"),
            ("AUTH_LEEWAY_SECS", "301"),
            ("AUTH_LEEWAY_SECS", "99999999999"),
            ("AUTH_LEEWAY_SECS", "18446744073709551616"),
            ("SHARED_SECRET", " s3cret"),
            ("SHARED_SECRET", "s3cret\n"),
            ("SHARED_SECRET", "s3cret"),
            ("SHARED_SECRET", "letmein-letmein-letmein-letmein"),
            (
                "SHARED_SECRET_PREVIOUS",
                "previous-value-of-the-gateway-9876",
            ),
            ("API_KEYS", "alice:topsecret "),
            ("API_KEYS", "alice:k1 ,bob:k2"),
            ("AUTH_HS256_SECRET", " 0123456789abcdef0123456789abcdef"),
            ("API_KEYS", "alice: key-a"),
            ("AUTH_DEV_MODE", "yes"),
            ("AUTH_DEV_MODE", "2"),
            ("ALLOWED_HOSTS", "https://api.example"),
            ("ALLOWED_HOSTS", "api.example/v1"),
            ("ALLOWED_HOSTS", "api.example:99999"),
            ("ALLOWED_HOSTS", "api.example,,b.example"),
            ("ALLOWED_HOSTS", "api.example,"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn library_rules_are_reported_under_their_variable() {
        let secret = ("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef");
        for (var, env) in [
            (
                "AUTH_JWKS_COOLDOWN_SECS",
                &[("AUTH_JWKS_COOLDOWN_SECS", "0")][..],
            ),
            ("AUTH_JWKS_MIN_TTL_SECS", &[("AUTH_JWKS_MIN_TTL_SECS", "5")]),
            (
                "AUTH_JWKS_MAX_STALE_SECS",
                &[("AUTH_JWKS_MAX_STALE_SECS", "604801")],
            ),
            ("AUTH_ALGORITHMS", &[("AUTH_ALGORITHMS", " , ")]),
            // With a secret, naming HS256 changes nothing: this list names no algorithm.
            ("AUTH_ALGORITHMS", &[("AUTH_ALGORITHMS", "HS256"), secret]),
            (
                "AUTH_HS256_SECRET",
                &[("AUTH_HS256_SECRET", "31-bytes-0123456789abcdef012345")],
            ),
            ("AUTH_LEEWAY_SECS", &[("AUTH_LEEWAY_SECS", "301"), secret]),
        ] {
            assert_eq!(config(env).unwrap_err().var, var, "{env:?}");
        }
        for env in [
            &[("AUTH_ALGORITHMS", "RS256,HS256"), secret][..],
            &[("AUTH_HS256_SECRET", "32-bytes-0123456789abcdef0123456")],
            &[
                ("AUTH_JWKS_MAX_STALE_SECS", "0"),
                ("AUTH_JWKS_MIN_TTL_SECS", "10"),
            ],
        ] {
            assert!(config(env).is_ok(), "{env:?}");
        }
    }

    #[test]
    fn allowed_hosts_are_a_list_of_host_and_port() {
        assert_eq!(config(&[]).unwrap().allowed_hosts, None);
        let c = config(&[("ALLOWED_HOSTS", " api.example , [::1]:8443,10.0.0.7")]).unwrap();
        assert_eq!(
            c.allowed_hosts.as_deref(),
            Some(
                &[
                    "api.example".to_owned(),
                    "[::1]:8443".into(),
                    "10.0.0.7".into()
                ][..]
            )
        );
    }

    #[test]
    fn refresh_jitter_defaults_to_ten_percent_and_can_be_disabled() {
        assert_eq!(config(&[]).unwrap().key_set.refresh_jitter_percent, 10);
        for (value, percent) in [("0", 0), ("50", 50), (" 25 ", 25)] {
            let c = config(&[("AUTH_JWKS_REFRESH_JITTER_PCT", value)]).unwrap();
            assert_eq!(c.key_set.refresh_jitter_percent, percent, "{value}");
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
            "SHARED_SECRET_PREVIOUS",
            "FORCE_HTTPS",
            "AUTH_DEV_MODE",
            "ALLOWED_HOSTS",
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
    fn the_shared_secret_rotates_with_a_previous_value() {
        let current = ("SHARED_SECRET", "current-value-of-the-gateway-012345");
        let previous = (
            "SHARED_SECRET_PREVIOUS",
            "previous-value-of-the-gateway-9876",
        );
        assert!(config(&[current, previous]).is_ok());
        for env in [
            &[previous][..],
            &[current, ("SHARED_SECRET_PREVIOUS", "short")],
            &[current, ("SHARED_SECRET_PREVIOUS", current.1)],
            &[
                current,
                (
                    "SHARED_SECRET_PREVIOUS",
                    " previous-value-of-the-gateway-9876",
                ),
            ],
        ] {
            assert_eq!(
                config(env).unwrap_err().var,
                "SHARED_SECRET_PREVIOUS",
                "{env:?}"
            );
        }
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let c = config(&[
            ("SHARED_SECRET", "s3cret-value-of-the-gateway-0123456"),
            (
                "SHARED_SECRET_PREVIOUS",
                "previous-value-of-the-gateway-9876",
            ),
            ("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef-hs"),
            ("API_KEYS", "alice:key-material-1"),
        ])
        .unwrap();
        let text = format!("{c:?}");
        for secret in [
            "s3cret-value",
            "previous-value",
            "0123456789abcdef",
            "key-material-1",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(c.algorithms().contains(&Algorithm::HS256));
    }
}
