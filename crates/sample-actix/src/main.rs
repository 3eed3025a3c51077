//! Run with `cargo run -p sample-actix` (port 8002, `PORT=0` for any free one), then paste one
//! of the curl commands it prints.
//!
//! The sample contract on actix-web. [`verify_bearer`] is a middleware on the `/protected` and
//! `/admin` routes that verifies the bearer token and puts the claims in the request
//! extensions, where handlers read them as `web::ReqData<Claims>`; on `/admin` the [`Admin<T>`]
//! extractor then requires the admin role and reads them into a type of the handler's own
//! (`Admin<Caller>`). `/me` takes a [`KeyUser`] extractor, and [`gate`] wraps the whole app.
//! actix-web uses `http` 0.2 types, so requests are read through [`Head`] and replies answered
//! with [`respond`].

use std::fmt;
use std::future::{Ready, ready};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{self, ServiceRequest, ServiceResponse};
use actix_web::error::ErrorInternalServerError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{
    App, Error, FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpServer, ResponseError,
    Route, guard, web,
};
use api_auth::{ApiKeyUser, AuthError, Claims, Reply};
use sample_kit::{AppState, Caller, limits, metrics, replies, roles, routes, server};
use serde::de::DeserializeOwned;

/// Time a connection's shutdown may take before it is dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent connections per worker; beyond it the listener pauses accepting.
const MAX_CONNECTIONS_PER_WORKER: usize = 10_000;

/// A contract reply as an actix response.
fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    response.insert_header((CONTENT_TYPE, reply.content_type()));
    for (name, value) in &reply.headers {
        // Values come from api-auth; one that is not a valid header value is dropped.
        if let Ok(value) = HeaderValue::from_str(value) {
            response.append_header((HeaderName::from_static(name), value));
        }
    }
    response.body(reply.into_body())
}

/// What the checks read from an actix request: its head, in `http` 0.2 types.
struct Head<'a>(&'a dev::RequestHead);

impl api_auth::RequestHead for Head<'_> {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.0.headers.get_all(name).map(HeaderValue::as_bytes)
    }

    fn path(&self) -> &str {
        self.0.uri.path()
    }

    fn path_and_query(&self) -> &str {
        self.0.uri.path_and_query().map_or("/", |pq| pq.as_str())
    }

    fn target_authority(&self) -> Option<&str> {
        self.0.uri.authority().map(|authority| authority.as_str())
    }

    fn method(&self) -> Option<&str> {
        Some(self.0.method.as_str())
    }
}

/// A refusal, answered with the contract's status, challenge and body.
#[derive(Debug)]
struct Refusal(AuthError);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        respond(self.0.reply())
    }
}

/// The head limit first (actix has no setting for it), then [`routes::gate`]: allowed hosts,
/// HTTPS redirect and shared secret, then a path this process serves, byte for byte (actix's
/// router matches the percent-decoded path, so `/%70ublic` would reach `/public`). Every
/// response is counted.
async fn gate(
    auth: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let route = metrics::route(req.path());
    let head = req.head();
    let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let headers = head.headers.iter();
    let size = limits::head_bytes(
        head.method.as_str(),
        target,
        headers.map(|(name, value)| (name.as_str().len(), value.len())),
    );
    if size > limits::MAX_HEAD_BYTES {
        // The same empty answer actix gives heads over its own 128 KiB buffer.
        let response = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .force_close()
            .finish();
        metrics::record_request(route, response.status().as_u16());
        return Ok(req.into_response(response).map_into_right_body());
    }
    if let Err(refusal) = routes::gate(&auth, &Head(head)) {
        metrics::record_request(route, refusal.status);
        return Ok(req.into_response(respond(refusal)).map_into_right_body());
    }
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    metrics::record_request(route, status.as_u16());
    Ok(result?.map_into_left_body())
}

/// Verifies the bearer token and stores the claims in the request extensions.
async fn verify_bearer(
    auth: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let claims = auth
        .authenticate(&Head(req.head()))
        .await
        .map_err(Refusal)?;
    req.extensions_mut().insert(claims);
    next.call(req).await
}

/// The [`AppState`] registered as app data.
fn app_auth(req: &HttpRequest) -> Result<&AppState, Error> {
    let auth = req.app_data::<web::Data<AppState>>();
    auth.map(|auth| auth.get_ref())
        .ok_or_else(|| ErrorInternalServerError("AppState is not registered"))
}

/// The claims [`verify_bearer`] stored, when they carry the admin role or scope: as sent, and
/// read into `T`, a type of the handler's own (claims that do not fit it are refused `401`).
struct Admin<T>(Claims, T);

impl<T: DeserializeOwned + 'static> FromRequest for Admin<T> {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let claims = req.extensions().get::<Claims>().cloned();
        let claims = claims.ok_or_else(|| ErrorInternalServerError("no verified claims"));
        ready(app_auth(req).and_then(|auth| {
            let claims = claims?;
            let typed = roles::require_admin(auth, &claims).map_err(Refusal)?;
            Ok(Admin(claims, typed))
        }))
    }
}

/// The owner of the request's `X-API-Key`.
struct KeyUser(ApiKeyUser);

impl FromRequest for KeyUser {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        ready(app_auth(req).and_then(|auth| {
            let user = auth.api_key_user(&Head(req.head())).map_err(Refusal)?;
            Ok(KeyUser(user))
        }))
    }
}

/// `GET /healthz`: never gated, reports the key set's state.
async fn healthz(auth: web::Data<AppState>) -> HttpResponse {
    respond(replies::healthz(&auth))
}

/// `GET /readyz`: never gated, 503 until a usable key set is held.
async fn readyz(auth: web::Data<AppState>) -> HttpResponse {
    respond(replies::readyz(&auth))
}

/// `GET /metrics`: never gated, the Prometheus exposition.
async fn metrics_text() -> HttpResponse {
    respond(replies::metrics())
}

/// `GET /public`.
async fn public() -> HttpResponse {
    respond(replies::public())
}

/// `GET /protected`: the claims [`verify_bearer`] stored.
async fn protected(claims: web::ReqData<Claims>) -> HttpResponse {
    respond(replies::protected(&claims))
}

/// `GET /admin`: claims that passed [`verify_bearer`] and [`Admin`].
async fn admin(Admin(claims, caller): Admin<Caller>) -> HttpResponse {
    respond(replies::admin(&claims, &caller))
}

/// `GET /me`: the owner of the API key.
async fn me(KeyUser(user): KeyUser) -> HttpResponse {
    respond(replies::me(&user))
}

/// `POST /dev/token` (development mode): at most [`limits::MAX_BODY_BYTES`] of JSON claims; a
/// declared length over it is refused before the body is read.
async fn dev_token(
    auth: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let declared = req.headers().get(CONTENT_LENGTH).map(HeaderValue::as_bytes);
    if limits::declared_body_too_large(declared) {
        return respond(replies::payload_too_large());
    }
    match payload.to_bytes_limited(limits::MAX_BODY_BYTES).await {
        Ok(Ok(body)) => respond(replies::dev_token(&auth, &body)),
        Err(_limit_exceeded) => respond(replies::payload_too_large()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "unreadable request body");
            respond(replies::bad_request())
        }
    }
}

/// `GET /.well-known/openid-configuration` (development mode).
async fn openid_configuration(auth: web::Data<AppState>) -> HttpResponse {
    respond(replies::openid_configuration(&auth))
}

/// `GET /.well-known/jwks.json` (development mode).
async fn jwks(auth: web::Data<AppState>) -> HttpResponse {
    respond(replies::jwks(&auth))
}

/// `GET /.well-known/oauth-protected-resource` (with `AUTH_PUBLIC_URL`).
async fn resource_metadata(auth: web::Data<AppState>) -> HttpResponse {
    respond(replies::resource_metadata(&auth))
}

/// No route for the method and path: `405` with `Allow`, or `404`.
async fn unmatched(auth: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(routes::unmatched(&auth, req.path()))
}

/// A resource at the contract's `path` whose other methods are [`unmatched`].
fn resource(path: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(unmatched))
}

/// A `GET` route that answers `HEAD` too (without the body).
fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Every route of the contract.
fn configure(cfg: &mut web::ServiceConfig) {
    let bearer = || from_fn(verify_bearer);
    cfg.service(resource(routes::HEALTHZ).route(get().to(healthz)))
        .service(resource(routes::READYZ).route(get().to(readyz)))
        .service(resource(routes::METRICS).route(get().to(metrics_text)))
        .service(resource(routes::PUBLIC).route(get().to(public)))
        .service(resource(routes::PROTECTED).route(get().to(protected).wrap(bearer())))
        .service(resource(routes::ADMIN).route(get().to(admin).wrap(bearer())))
        .service(resource(routes::ME).route(get().to(me)))
        .service(resource(routes::DEV_TOKEN).route(web::post().to(dev_token)))
        .service(resource(routes::OPENID_CONFIGURATION).route(get().to(openid_configuration)))
        .service(resource(routes::JWKS).route(get().to(jwks)))
        .service(resource(routes::RESOURCE_METADATA).route(get().to(resource_metadata)));
}

/// Starts on `PORT` (default 8002) and serves until Ctrl-C or SIGTERM.
///
/// This runtime holds [`AppState`]'s key-set fetches and refresh loop and waits for the shutdown
/// signal; actix-server runs each worker on its own single-threaded runtime regardless.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (auth, listener) = server::start(8002);
    let auth = web::Data::new(auth);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .configure(configure)
            .default_service(web::to(unmatched))
            .wrap(from_fn(gate))
    })
    .keep_alive(limits::KEEP_ALIVE)
    .client_request_timeout(limits::HEAD_READ_TIMEOUT)
    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
    .shutdown_timeout(limits::SHUTDOWN_GRACE.as_secs())
    .disable_signals()
    .listen(listener)
    .unwrap_or_else(|e| server::exit_with(e))
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        handle.stop(true).await;
    });
    if let Err(e) = server.await {
        tracing::error!(error = %e, "server stopped with an error");
    }
}
