//! A controllable identity provider on loopback: an OpenID discovery document and a JWKS
//! endpoint that records its fetches and can be told to rotate, fail, hang, return garbage
//! or go away, to name another issuer in its discovery document, to move its key set to
//! another path, and to reach the key set through a chain of redirects.
//!
//! It runs as a task of the Tokio runtime it is started on, so it serves while that runtime
//! runs: a multi-thread runtime always, a current-thread one while it is blocked on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How the JWKS endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The current key set.
    Serve,
    /// This HTTP status with an empty body.
    Status(u16),
    /// Never answers.
    Hang,
    /// `200` with a body that is not JSON.
    Garbage,
    /// `200` with a 2 MiB body.
    Huge,
}

struct Shared {
    keys: Mutex<Value>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<String>>,
    delay: Mutex<Duration>,
    /// When each key set request arrived, in order.
    fetch_times: Mutex<Vec<Instant>>,
    discovery_fetches: AtomicUsize,
    base: Mutex<String>,
    /// The `issuer` the discovery document names instead of the real one, if any.
    discovery_issuer: Mutex<Option<String>>,
    /// Where the key set is served (and what discovery names); other paths answer `404`.
    jwks_path: Mutex<String>,
}

/// The prefix of the redirect chain: `/redirect/N` redirects to `/redirect/N-1`, and
/// `/redirect/1` to the key set.
const REDIRECT_PREFIX: &str = "/redirect/";

/// A running identity provider; stopped when dropped.
pub struct Idp {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let base = lock(&shared.base).clone();
    let issuer = lock(&shared.discovery_issuer)
        .clone()
        .unwrap_or_else(|| base.clone());
    let path = lock(&shared.jwks_path).clone();
    axum::Json(json!({ "issuer": issuer, "jwks_uri": format!("{base}{path}") })).into_response()
}

/// Every path but discovery: the key set at its current path, the redirect chain, or `404`.
async fn route_by_path(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let path = uri.path();
    if path == lock(&shared.jwks_path).as_str() {
        return jwks(State(shared)).await;
    }
    let hops = path
        .strip_prefix(REDIRECT_PREFIX)
        .and_then(|n| n.parse::<u32>().ok());
    match hops {
        Some(1) => redirect_to(&lock(&shared.jwks_path)),
        Some(hops @ 2..) => redirect_to(&format!("{REDIRECT_PREFIX}{}", hops - 1)),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn redirect_to(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.fetch_times).push(Instant::now());
    let delay = *lock(&shared.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mode = lock(&shared.mode).clone();
    match mode {
        Mode::Serve => {
            let body = lock(&shared.keys).to_string();
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            if let Some(value) = lock(&shared.cache_control)
                .as_deref()
                .and_then(|cc| cc.parse().ok())
            {
                response.headers_mut().insert(header::CACHE_CONTROL, value);
            }
            response
        }
        Mode::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Mode::Hang => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        Mode::Garbage => (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Mode::Huge => (StatusCode::OK, vec![b' '; 2 * 1024 * 1024]).into_response(),
    }
}

impl Idp {
    /// Starts a provider publishing `jwks` (a `{"keys": [...]}` document).
    pub async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind IdP");
        let addr = listener.local_addr().expect("IdP address");
        let shared = Arc::new(Shared {
            keys: Mutex::new(jwks),
            mode: Mutex::new(Mode::Serve),
            cache_control: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
            fetch_times: Mutex::new(Vec::new()),
            discovery_fetches: AtomicUsize::new(0),
            base: Mutex::new(format!("http://{addr}")),
            discovery_issuer: Mutex::new(None),
            jwks_path: Mutex::new("/keys".to_owned()),
        });
        let idp = Self {
            shared,
            addr,
            server: Mutex::new(None),
        };
        idp.serve(listener);
        idp
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .fallback(get(route_by_path))
            .with_state(Arc::clone(&self.shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *lock(&self.server) = Some(task);
    }

    /// The issuer URL (discovery lives under it).
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The JWKS URL (where the key set is served now).
    pub fn jwks_url(&self) -> String {
        format!("http://{}{}", self.addr, lock(&self.shared.jwks_path))
    }

    /// A URL that reaches the key set after exactly `hops` redirects (`302`, same origin).
    pub fn redirecting_jwks_url(&self, hops: u32) -> String {
        format!("http://{}{REDIRECT_PREFIX}{hops}", self.addr)
    }

    /// Makes the discovery document name `issuer` instead of the provider's own issuer;
    /// `None` restores the real one.
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        *lock(&self.shared.discovery_issuer) = issuer.map(str::to_owned);
    }

    /// Moves the key set to `path` (starting with `/`): discovery names the new URL and the
    /// old path answers `404`.
    pub fn move_keys(&self, path: &str) {
        *lock(&self.shared.jwks_path) = path.to_owned();
    }

    /// How many times the key set was requested.
    pub fn fetches(&self) -> usize {
        lock(&self.shared.fetch_times).len()
    }

    /// When the key set was requested at or after `from`, in order.
    pub fn fetches_since(&self, from: Instant) -> Vec<Instant> {
        lock(&self.shared.fetch_times)
            .iter()
            .copied()
            .filter(|t| *t >= from)
            .collect()
    }

    /// How many times the discovery document was requested.
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Publishes a new key set.
    pub fn publish(&self, jwks: Value) {
        *lock(&self.shared.keys) = jwks;
    }

    /// Changes how the JWKS endpoint answers.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    /// Sets the `Cache-Control` header of key set responses.
    pub fn set_cache_control(&self, value: &str) {
        *lock(&self.shared.cache_control) = Some(value.to_owned());
    }

    /// Delays every key set response.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Closes the listener: connections are refused until [`Idp::restart`].
    pub fn stop(&self) {
        if let Some(task) = lock(&self.server).take() {
            task.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn restart(&self) {
        self.stop();
        for _ in 0..50 {
            if let Ok(listener) = tokio::net::TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not rebind the IdP on {}", self.addr);
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `{"keys": [...]}` document of these JWKs.
pub fn jwks_of(jwks: &[&Value]) -> Value {
    json!({ "keys": jwks })
}
