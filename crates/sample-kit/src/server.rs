//! Start-up steps every sample binary shares: logging (`LOG_FORMAT`), metrics (`METRICS`),
//! configuration, binding, the `listening on` line and the development-mode banner, and
//! graceful shutdown.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener};

use crate::app_state::AppState;
use crate::config::{Config, ConfigError};
use crate::dev_mode::DevMode;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object a line, with `timestamp`, `level`, `target`, `message` and the event's
    /// fields, for log shippers.
    Json,
}

impl LogFormat {
    /// Reads `LOG_FORMAT` as looked up by `get`: unset is `text`; anything but `text` or
    /// `json`, empty included, is an error naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match get("LOG_FORMAT").as_deref().map(str::trim) {
            None => Ok(Self::Text),
            Some(v) if v.eq_ignore_ascii_case("text") => Ok(Self::Text),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(Self::Json),
            Some(_) => Err(ConfigError::new("LOG_FORMAT", "must be text or json")),
        }
    }
}

/// Sends `tracing` output to stderr in `LOG_FORMAT`, filtered by `RUST_LOG` (default
/// `info`); exits with a one-line error on an invalid `LOG_FORMAT`.
pub fn init_tracing() {
    let format =
        LogFormat::from_lookup(|name| std::env::var(name).ok()).unwrap_or_else(|e| exit_with(e));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Whether metrics are recorded and exported (`METRICS`): unset or `1` means on, `0` off;
/// anything else is an error naming the variable.
pub fn metrics_enabled(get: impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get("METRICS").as_deref().map(str::trim) {
        None | Some("1") => Ok(true),
        Some("0") => Ok(false),
        Some(_) => Err(ConfigError::new("METRICS", "must be 1 (on) or 0 (off)")),
    }
}

/// Installs the Prometheus recorder behind `/metrics` unless `METRICS=0`; exits on an
/// invalid `METRICS` or a recorder that cannot be installed. Call it before building
/// [`Auth`], so that every metric reaches the recorder.
pub fn init_metrics() {
    let enabled = metrics_enabled(|name| std::env::var(name).ok()).unwrap_or_else(|e| exit_with(e));
    if enabled {
        crate::metrics::install_prometheus().unwrap_or_else(|e| exit_with(e));
    } else {
        tracing::info!("metrics are off (METRICS=0): /metrics answers 404");
    }
}

/// Logging, then metrics (unless `METRICS=0`).
pub fn init_observability() {
    init_tracing();
    init_metrics();
}

/// Prints a one-line start-up error and exits non-zero.
pub fn exit_with(error: impl std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(2)
}

/// Reads and validates the configuration, or exits with a one-line error naming the
/// variable.
pub fn load_config(default_port: u16) -> Config {
    Config::from_env(default_port).unwrap_or_else(|e| exit_with(e))
}

/// Binds `HOST:PORT` (non-blocking, ready for any async runtime), or exits.
pub fn bind(config: &Config) -> (TcpListener, SocketAddr) {
    let wanted = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(wanted)
        .unwrap_or_else(|e| exit_with(format!("cannot bind {wanted}: {e}")));
    if let Err(e) = listener.set_nonblocking(true) {
        exit_with(format!("cannot configure the listener: {e}"));
    }
    let addr = listener.local_addr().unwrap_or(wanted);
    (listener, addr)
}

/// The URL clients use to reach `addr` (an unspecified address becomes loopback).
pub fn base_url(addr: SocketAddr) -> String {
    let mut shown = addr;
    if shown.ip().is_unspecified() {
        shown.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{shown}")
}

/// The whole start-up for a sample that can serve a std listener: configuration, bind,
/// [`AppState`], announcement. Exits on any error. Must run inside a Tokio runtime.
pub fn start(default_port: u16) -> (AppState, TcpListener) {
    init_observability();
    let config = load_config(default_port);
    let (listener, addr) = bind(&config);
    let app = build_app(config, addr);
    announce(&app, addr);
    (app, listener)
}

/// Builds the [`AppState`] of a server bound at `addr`, or exits.
pub fn build_app(config: Config, addr: SocketAddr) -> AppState {
    config
        .build_app(&base_url(addr))
        .unwrap_or_else(|e| exit_with(e))
}

/// Prints `listening on http://HOST:PORT` (what scripts and tests wait for) and, in
/// development mode, the banner with ready-to-paste commands.
pub fn announce(app: &AppState, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}");
    if let Some(dev) = app.dev_mode() {
        let _ = out.write_all(dev_banner(dev, &base_url(addr)).as_bytes());
    }
    let _ = out.flush();
    if app.is_development() {
        tracing::warn!(
            "DEVELOPMENT MODE: tokens are signed by an embedded issuer; set AUTH_ISSUER for real use"
        );
    }
}

fn dev_banner(dev: &DevMode, base: &str) -> String {
    use serde_json::{Map, json};
    let mut user = Map::new();
    user.insert("sub".into(), json!("alice"));
    user.insert("roles".into(), json!(["user"]));
    let mut admin = Map::new();
    admin.insert("sub".into(), json!("root"));
    admin.insert("roles".into(), json!(["admin"]));
    let (user, admin) = (dev.issuer().mint(user), dev.issuer().mint(admin));
    // Gates that are configured in this shell show up in the commands by reference, so the
    // banner never prints a secret.
    let mut extra = String::new();
    if std::env::var_os("SHARED_SECRET").is_some() {
        extra.push_str(" -H \"X-Shared-Secret: $SHARED_SECRET\"");
    }
    if std::env::var("FORCE_HTTPS").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on")) {
        extra.push_str(" -H 'X-Forwarded-Proto: https'");
    }
    let key = dev.demo_api_key().unwrap_or("<one of API_KEYS>");
    let key_line = format!("  curl{extra} -H 'X-API-Key: {key}' {base}/me\n");
    format!(
        "\n\
         ==================== DEVELOPMENT MODE ====================\n\
         Tokens are signed by an embedded issuer with a key generated at start-up.\n\
         Set AUTH_ISSUER (or AUTH_JWKS_URL) to verify tokens from a real issuer.\n\
         issuer: {base}\n\n\
         Try it (tokens valid for one hour):\n\
         \x20 curl{extra} -H 'Authorization: Bearer {user}' {base}/protected\n\
         \x20 curl{extra} -H 'Authorization: Bearer {admin}' {base}/admin\n\
         {key_line}\
         \x20 curl{extra} -X POST {base}/dev/token -H 'Content-Type: application/json' -d '{{\"sub\":\"bob\",\"roles\":[\"admin\"]}}'\n\
         ==========================================================\n"
    )
}

/// Resolves on Ctrl-C or SIGTERM, for graceful shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(value: Option<&str>) -> impl Fn(&str) -> Option<String> {
        move |_| value.map(str::to_owned)
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(
            LogFormat::from_lookup(lookup(None)).ok(),
            Some(LogFormat::Text)
        );
        assert_eq!(
            LogFormat::from_lookup(lookup(Some("json"))).ok(),
            Some(LogFormat::Json)
        );
        for bad in ["", " ", "xml"] {
            let error = LogFormat::from_lookup(lookup(Some(bad))).err();
            assert_eq!(error.map(|e| e.var), Some("LOG_FORMAT"), "{bad:?}");
        }
    }

    #[test]
    fn metrics_switch() {
        assert_eq!(metrics_enabled(lookup(None)).ok(), Some(true));
        assert_eq!(metrics_enabled(lookup(Some("0"))).ok(), Some(false));
        assert_eq!(
            metrics_enabled(lookup(Some(""))).err().map(|e| e.var),
            Some("METRICS")
        );
    }
}
