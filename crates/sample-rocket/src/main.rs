//! Run with `cargo run -p sample-rocket` (port 8003, `PORT=0` for any free one), then paste one
//! of the curl commands it prints.
//!
//! The sample contract on Rocket. The route's credentials are request guards: a handler that
//! takes [`User`] runs only for a verified bearer token, one that takes [`Admin<T>`] only for a
//! token with the admin role, whose claims it also reads into a type of its own
//! (`Admin<Caller>`), and one that takes [`KeyUser`] only for a known `X-API-Key`. Catchers
//! never see a guard's error, so a guard stashes its refusal in the request-local cache for
//! them. The gate is the [`Gate`] fairing; a fairing cannot answer, so it re-routes a refused
//! request to [`refused`]. Rocket binds its own socket, so [`AppState`] is built, and the
//! `listening on` line printed, by a liftoff fairing.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::OnceLock;

use api_auth::{ApiKeyUser, AuthError, Claims, Reply, RequestHead};
use rocket::config::{Ident, LogLevel};
use rocket::data::{Limits, ToByteUnit};
use rocket::error::ErrorKind;
use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder, Response};
use rocket::shield::Shield;
use rocket::{Data, Request, catch, get, post, uri};
use sample_kit::{AppState, Caller, limits, metrics, replies, roles, routes, server};
use serde::de::DeserializeOwned;

/// A contract reply as a Rocket response.
struct Json(Reply);

impl<'r> Responder<'r, 'static> for Json {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let Json(mut reply) = self;
        let status = Status::new(reply.status);
        let content_type = reply.content_type();
        let headers = std::mem::take(&mut reply.headers);
        let body = reply.into_body();
        let mut response = Response::build();
        response
            .status(status)
            .raw_header("Content-Type", content_type)
            .sized_body(body.len(), Cursor::new(body));
        for (name, value) in headers {
            response.raw_header_adjoin(name, value);
        }
        response.ok()
    }
}

/// The service's [`AppState`], set once the server has bound its port.
#[derive(Default)]
struct Service(OnceLock<AppState>);

/// What the checks read from a Rocket request: its headers and its target.
struct Head<'a, 'r> {
    request: &'a Request<'r>,
    target: String,
    path_len: usize,
}

impl<'a, 'r> Head<'a, 'r> {
    /// Views `request`.
    fn new(request: &'a Request<'r>) -> Self {
        let uri = request.uri();
        Self {
            request,
            target: uri.to_string(),
            path_len: uri.path().as_str().len(),
        }
    }
}

impl RequestHead for Head<'_, '_> {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.request.headers().get(name).map(str::as_bytes)
    }

    fn path(&self) -> &str {
        self.target.get(..self.path_len).unwrap_or(&self.target)
    }

    fn path_and_query(&self) -> &str {
        &self.target
    }

    fn method(&self) -> Option<&str> {
        Some(self.request.method().as_str())
    }
}

/// The reply a guard or the gate refused this request with, for the catchers.
struct Stash(Option<Reply>);

/// Whether the [`Gate`] fairing has seen this request.
struct Gated(bool);

/// The `route` metrics label of the path the client asked for (before any re-routing).
struct RouteLabel(&'static str);

/// The request's [`RouteLabel`], taken from its path the first time it is asked for.
fn route_label(request: &Request<'_>) -> &'static str {
    request
        .local_cache(|| RouteLabel(metrics::route(request.uri().path().as_str())))
        .0
}

/// The request's [`AppState`]; `None` only before liftoff, when no request is served.
fn auth<'r>(request: &'r Request<'_>) -> Option<&'r AppState> {
    request.rocket().state::<Service>()?.0.get()
}

/// The refusal for a request that arrives before [`AppState`] exists (never, in practice).
fn not_ready() -> AuthError {
    AuthError::KeysUnavailable {
        retry_after_secs: 1,
    }
}

/// Fails a guard with `error`, stashing its reply for the catcher.
fn refuse<T>(request: &Request<'_>, error: AuthError) -> Outcome<T, AuthError> {
    let reply = error.reply();
    let status = Status::new(reply.status);
    request.local_cache(|| Stash(Some(reply)));
    Outcome::Error((status, error))
}

/// A handle on [`AppState`] for routes that need no credentials.
struct Api<'r>(&'r AppState);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Api<'r> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        match auth(request) {
            Some(auth) => Outcome::Success(Api(auth)),
            None => refuse(request, not_ready()),
        }
    }
}

/// The verified claims of the request's bearer token.
struct User(Claims);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for User {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let Some(auth) = auth(request) else {
            return refuse(request, not_ready());
        };
        match auth.authenticate(&Head::new(request)).await {
            Ok(claims) => Outcome::Success(User(claims)),
            Err(error) => refuse(request, error),
        }
    }
}

/// A [`User`] whose token carries the admin role or scope: its claims as sent, and read into
/// `T`, a type of the handler's own (claims that do not fit it are refused `401`).
struct Admin<T>(Claims, T);

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send> FromRequest<'r> for Admin<T> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let User(claims) = rocket::outcome::try_outcome!(request.guard::<User>().await);
        let Some(auth) = auth(request) else {
            return refuse(request, not_ready());
        };
        match roles::require_admin(auth, &claims) {
            Ok(typed) => Outcome::Success(Admin(claims, typed)),
            Err(error) => refuse(request, error),
        }
    }
}

/// The owner of the request's `X-API-Key`.
struct KeyUser(ApiKeyUser);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for KeyUser {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let Some(auth) = auth(request) else {
            return refuse(request, not_ready());
        };
        match auth.api_key_user(&Head::new(request)) {
            Ok(user) => Outcome::Success(KeyUser(user)),
            Err(error) => refuse(request, error),
        }
    }
}

/// The refusal the [`Gate`] stashed; forwards (to a 404) when there is none.
struct Refusal(Reply);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Refusal {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        match &request.local_cache(|| Stash(None)).0 {
            Some(reply) => Outcome::Success(Refusal(reply.clone())),
            None => Outcome::Forward(Status::NotFound),
        }
    }
}

/// The head limit first, then [`routes::gate`]: the request target, allowed hosts, HTTPS
/// redirect and shared secret, then a path this process serves, byte for byte (Rocket's router
/// ignores empty segments and a trailing slash and decodes escapes: `/public/`, `//public`,
/// `/%70ublic`). Rocket keeps only the path and query of an absolute-form target, so here
/// `Host` is the request's host whatever the target names.
fn check_gate(request: &Request<'_>) -> Result<(), Reply> {
    let head = Head::new(request);
    let headers = request.headers().iter();
    let size = limits::head_bytes(
        request.method().as_str(),
        head.path_and_query(),
        headers.map(|header| (header.name().len(), header.value().len())),
    );
    if size > limits::MAX_HEAD_BYTES {
        let path = request.uri().path();
        tracing::info!(path = path.as_str(), "request refused: head too large");
        return Err(replies::head_too_large());
    }
    let auth = auth(request).ok_or_else(|| not_ready().reply())?;
    routes::gate(auth, &head).map(|_route| ())
}

/// Runs [`check_gate`] on every request before routing; a refused request is re-routed to
/// [`refused`], so no other route and no catcher sees it. Counts every response.
struct Gate;

#[rocket::async_trait]
impl Fairing for Gate {
    fn info(&self) -> Info {
        Info {
            name: "the contract's gate",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        request.local_cache(|| Gated(true));
        route_label(request);
        if let Err(reply) = check_gate(request) {
            request.local_cache(|| Stash(Some(reply)));
            request.set_method(Method::Get);
            request.set_uri(uri!(refused));
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        metrics::record_request(route_label(request), response.status().code);
    }
}

/// Answers the gate's refusal (internal: only the [`Gate`] routes requests here).
#[get("/.refused")]
fn refused(refusal: Refusal) -> Json {
    Json(refusal.0)
}

/// `GET /healthz`: never gated, no credentials.
#[get("/healthz")]
fn healthz(api: Api<'_>) -> Json {
    Json(replies::healthz(api.0))
}

/// `GET /readyz`: never gated, 503 until a usable key set is held.
#[get("/readyz")]
fn readyz(api: Api<'_>) -> Json {
    Json(replies::readyz(api.0))
}

/// `GET /metrics`: never gated, the Prometheus exposition.
#[get("/metrics")]
fn metrics_text() -> Json {
    Json(replies::metrics())
}

/// `GET /public`: no credentials.
#[get("/public")]
fn public() -> Json {
    Json(replies::public())
}

/// `GET /protected`: a verified bearer token.
#[get("/protected")]
fn protected(user: User) -> Json {
    Json(replies::protected(&user.0))
}

/// `GET /admin`: a verified bearer token with the admin role or scope.
#[get("/admin")]
fn admin(admin: Admin<Caller>) -> Json {
    let Admin(claims, caller) = admin;
    Json(replies::admin(&claims, &caller))
}

/// `GET /me`: a known `X-API-Key`.
#[get("/me")]
fn me(user: KeyUser) -> Json {
    Json(replies::me(&user.0))
}

/// Whether the request's declared `Content-Length` is over [`limits::MAX_BODY_BYTES`].
struct DeclaredTooLarge(bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for DeclaredTooLarge {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let declared = request
            .headers()
            .get_one("content-length")
            .map(str::as_bytes);
        Outcome::Success(DeclaredTooLarge(limits::declared_body_too_large(declared)))
    }
}

/// `POST /dev/token`; a declared length over [`limits::MAX_BODY_BYTES`] is refused before the
/// body is read, any other body is read up to that limit.
#[post("/dev/token", data = "<body>")]
async fn dev_token(api: Api<'_>, declared: DeclaredTooLarge, body: Data<'_>) -> Json {
    if declared.0 {
        return Json(replies::payload_too_large());
    }
    match body.open(limits::MAX_BODY_BYTES.bytes()).into_bytes().await {
        Ok(body) if body.is_complete() => Json(replies::dev_token(api.0, &body)),
        Ok(_) => Json(replies::payload_too_large()),
        Err(error) => {
            tracing::debug!(%error, "unreadable request body");
            Json(replies::bad_request())
        }
    }
}

/// `GET /.well-known/openid-configuration` (development mode).
#[get("/.well-known/openid-configuration")]
fn openid_configuration(api: Api<'_>) -> Json {
    Json(replies::openid_configuration(api.0))
}

/// `GET /.well-known/jwks.json` (development mode).
#[get("/.well-known/jwks.json")]
fn jwks(api: Api<'_>) -> Json {
    Json(replies::jwks(api.0))
}

/// `GET /.well-known/oauth-protected-resource` (with `AUTH_PUBLIC_URL`).
#[get("/.well-known/oauth-protected-resource")]
fn resource_metadata(api: Api<'_>) -> Json {
    Json(replies::resource_metadata(api.0))
}

/// The stashed refusal, else the gate's answer for a request Rocket could not parse (those
/// skip the fairings), else `fallback`.
fn answer(request: &Request<'_>, fallback: impl FnOnce() -> Reply) -> Json {
    if let Some(reply) = &request.local_cache(|| Stash(None)).0 {
        return Json(reply.clone());
    }
    if !request.local_cache(|| Gated(false)).0 {
        // Rocket keeps the path of a request with an unknown method (`FOO /public`), which
        // then passes the gate like any other, but stands `/` in for a target it cannot read
        // (`GET example.com:80`): that one is refused like any target that is not a path,
        // before the gate, which would take it for `/`.
        if request.uri().path().as_str() == "/" {
            return Json(replies::bad_request());
        }
        if let Err(reply) = check_gate(request) {
            return Json(reply);
        }
    }
    Json(fallback())
}

/// No route matched: `405` with `Allow` when the path exists for other methods, else `404`.
#[catch(404)]
fn not_found(request: &Request<'_>) -> Json {
    answer(request, || match auth(request) {
        Some(auth) => routes::unmatched(auth, request.uri().path().as_str()),
        None => replies::not_found(),
    })
}

/// A body over a limit.
#[catch(413)]
fn payload_too_large(request: &Request<'_>) -> Json {
    answer(request, replies::payload_too_large)
}

/// Not reachable from client input; answered in JSON all the same.
#[catch(500)]
fn internal_error(request: &Request<'_>) -> Json {
    tracing::error!(path = request.uri().path().as_str(), "internal error");
    answer(request, replies::internal_error)
}

/// Every other status: the guard's refusal (401, 403, 400, 308, 503), else a JSON `400`.
#[catch(default)]
fn refusal(request: &Request<'_>) -> Json {
    answer(request, replies::bad_request)
}

/// Rocket's configuration, built here from the service's own, never from `Rocket.toml` or
/// `ROCKET_*` variables.
fn rocket_config(config: &sample_kit::Config) -> rocket::Config {
    rocket::Config {
        address: config.host,
        port: config.port,
        ident: Ident::none(),
        ip_header: None,
        limits: Limits::default().limit("bytes", limits::MAX_BODY_BYTES.bytes()),
        // For HTTP/1 Rocket only turns keep-alive on or off: it has no idle timeout.
        keep_alive: 5,
        shutdown: rocket::config::Shutdown {
            // Signals are handled by `server::shutdown_signal`.
            ctrlc: false,
            #[cfg(unix)]
            signals: Default::default(),
            grace: u32::try_from(limits::SHUTDOWN_GRACE.as_secs()).unwrap_or(u32::MAX),
            mercy: 2,
            ..Default::default()
        },
        log_level: LogLevel::Off,
        cli_colors: false,
        ..rocket::Config::release_default()
    }
}

/// Starts on `PORT` (default 8003) and serves until Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() {
    // Building Rocket installs its logger as the `log` facade, which ignition then turns off
    // (`log_level: off`). Done before `init_tracing`, it keeps Rocket's own lines out of the
    // `tracing` output, which would otherwise take them in through its `log` bridge.
    let rocket = rocket::custom(rocket::Config::release_default());
    server::init_observability();
    let config = server::load_config(8003);
    let rocket = rocket
        .configure(rocket_config(&config))
        .attach(Shield::new())
        .manage(Service::default())
        .attach(Gate)
        .attach(AdHoc::on_liftoff("announce", move |rocket| {
            Box::pin(async move {
                let addr = SocketAddr::new(rocket.config().address, rocket.config().port);
                let auth = server::build_app(config, addr);
                if let Some(service) = rocket.state::<Service>() {
                    let _ = service.0.set(auth.clone());
                }
                server::announce(&auth, addr);
            })
        }))
        .mount(
            "/",
            rocket::routes![
                refused,
                healthz,
                readyz,
                metrics_text,
                public,
                protected,
                admin,
                me,
                dev_token,
                openid_configuration,
                jwks,
                resource_metadata
            ],
        )
        .register(
            "/",
            rocket::catchers![not_found, payload_too_large, internal_error, refusal],
        );
    let rocket = rocket
        .ignite()
        .await
        .unwrap_or_else(|e| server::exit_with(e));
    let shutdown = rocket.shutdown();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        shutdown.notify();
    });
    if let Err(error) = rocket.launch().await {
        match error.kind() {
            ErrorKind::Shutdown(..) => tracing::warn!(%error, "connections cut at shutdown"),
            _ => server::exit_with(error),
        }
    }
}
