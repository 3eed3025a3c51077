//! Run with `cargo run -p sample-poem` (port 8005, `PORT=0` for any free one), then paste one
//! of the curl commands it prints.
//!
//! The sample contract on poem. The gate is a [`Middleware`], [`Gate`], wrapped around the whole
//! route tree, so every request passes it before routing. The route's credentials are
//! [`FromRequest`] extractors: a handler that takes [`User`] runs only for a verified bearer
//! token, one that takes [`Admin<T>`] only for a token with the admin role, whose claims it
//! also reads into a type of its own (`Admin<Caller>`), and one that takes [`KeyUser`] only for
//! a known `X-API-Key`. Refusals are [`Refusal`] errors that answer themselves. The endpoint is
//! served through [`sample_kit::http1`], which applies the head size and read timeout
//! `poem::Server` does not expose.

use std::convert::Infallible;
use std::sync::Arc;

use api_auth::{ApiKeyUser, AuthError, Claims, HttpRequestHead, Reply};
use hyper::body::Incoming;
use poem::error::{MethodNotAllowedError, ResponseError};
use poem::http::{StatusCode, header::CONTENT_LENGTH, uri::Scheme};
use poem::web::{Data, LocalAddr, RemoteAddr};
use poem::{
    Addr, Body, Endpoint, EndpointExt, FromRequest, IntoResponse, Middleware, Request, RequestBody,
    Response, ResponseParts, Route, get, handler, post,
};
use sample_kit::{AppState, Caller, http1, limits, metrics, replies, roles, routes, server};
use serde::de::DeserializeOwned;

/// A contract reply as a poem response.
struct Json(Reply);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        let (head, body) = poem::http::Response::<Body>::from(self.0).into_parts();
        let parts = ResponseParts {
            status: head.status,
            version: head.version,
            headers: head.headers,
            extensions: head.extensions,
        };
        Response::from_parts(parts, body)
    }
}

/// A refusal, answered with the contract's status, challenge and body.
#[derive(Debug)]
struct Refusal(AuthError);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl ResponseError for Refusal {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn as_response(&self) -> Response {
        Json(self.0.reply()).into_response()
    }
}

/// The [`AppState`] attached to the route tree with `.data(auth)`.
async fn auth(request: &Request) -> poem::Result<&AppState> {
    let Data(auth) = Data::<&AppState>::from_request_without_body(request).await?;
    Ok(auth)
}

/// The verified claims of the request's bearer token.
struct User(Claims);

impl<'a> FromRequest<'a> for User {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let head = HttpRequestHead::from_parts(request.method(), request.headers(), request.uri());
        let claims = auth(request).await?.authenticate(&head).await;
        Ok(User(claims.map_err(Refusal)?))
    }
}

/// A [`User`] whose token carries the admin role or scope: its claims as sent, and read into
/// `T`, a type of the handler's own (claims that do not fit it are refused `401`).
struct Admin<T>(Claims, T);

impl<'a, T: DeserializeOwned + Send> FromRequest<'a> for Admin<T> {
    async fn from_request(request: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let User(claims) = User::from_request(request, body).await?;
        let typed = roles::require_admin(auth(request).await?, &claims).map_err(Refusal)?;
        Ok(Admin(claims, typed))
    }
}

/// The owner of the request's `X-API-Key`.
struct KeyUser(ApiKeyUser);

impl<'a> FromRequest<'a> for KeyUser {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let head = HttpRequestHead::from_parts(request.method(), request.headers(), request.uri());
        let user = auth(request).await?.api_key_user(&head).map_err(Refusal)?;
        Ok(KeyUser(user))
    }
}

/// [`routes::gate`] in front of every route (allowed hosts, HTTPS redirect, shared secret,
/// then a path this process serves); a wrong method on a served path gets `405` with `Allow`.
struct Gate(AppState);

impl<E: Endpoint> Middleware<E> for Gate {
    type Output = Gated<E>;

    fn transform(&self, inner: E) -> Gated<E> {
        Gated {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// An endpoint behind the [`Gate`].
struct Gated<E> {
    inner: E,
    auth: AppState,
}

impl<E: Endpoint> Endpoint for Gated<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let head = HttpRequestHead::from_parts(
            request.method(),
            request.headers(),
            request.original_uri(),
        );
        let route = match routes::gate(&self.auth, &head) {
            Ok(route) => route,
            Err(refusal) => return Ok(Json(refusal).into_response()),
        };
        match self.inner.call(request).await {
            Ok(output) => Ok(output.into_response()),
            // poem's `MethodNotAllowedError` does not say which methods the path has.
            Err(error) if error.is::<MethodNotAllowedError>() => {
                Ok(Json(replies::method_not_allowed(route.methods)).into_response())
            }
            Err(error) => Err(error),
        }
    }
}

/// `GET /healthz`: never gated, reports the key set.
#[handler]
fn healthz(Data(auth): Data<&AppState>) -> Json {
    Json(replies::healthz(auth))
}

/// `GET /readyz`: never gated, 503 until a usable key set is held.
#[handler]
fn readyz(Data(auth): Data<&AppState>) -> Json {
    Json(replies::readyz(auth))
}

/// `GET /metrics`: never gated, the Prometheus exposition.
#[handler]
fn metrics_text() -> Json {
    Json(replies::metrics())
}

/// `GET /public`: no credentials.
#[handler]
fn public() -> Json {
    Json(replies::public())
}

/// `GET /protected`: a verified bearer token.
#[handler]
fn protected(User(claims): User) -> Json {
    Json(replies::protected(&claims))
}

/// `GET /admin`: a verified bearer token with the admin role or scope.
#[handler]
fn admin(Admin(claims, caller): Admin<Caller>) -> Json {
    Json(replies::admin(&claims, &caller))
}

/// `GET /me`: a known `X-API-Key`.
#[handler]
fn me(KeyUser(user): KeyUser) -> Json {
    Json(replies::me(&user))
}

/// `POST /dev/token` (development mode): mints a token from a JSON body of at most
/// [`limits::MAX_BODY_BYTES`]; a declared length over it is refused before the body is read.
#[handler]
async fn dev_token(
    request: &Request,
    Data(auth): Data<&AppState>,
    body: Body,
) -> poem::Result<Json> {
    let declared = request.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes());
    if limits::declared_body_too_large(declared) {
        return Ok(Json(replies::payload_too_large()));
    }
    let body = body.into_bytes_limit(limits::MAX_BODY_BYTES).await?;
    Ok(Json(replies::dev_token(auth, &body)))
}

/// `GET /.well-known/openid-configuration` (development mode).
#[handler]
fn openid_configuration(Data(auth): Data<&AppState>) -> Json {
    Json(replies::openid_configuration(auth))
}

/// `GET /.well-known/jwks.json` (development mode).
#[handler]
fn jwks(Data(auth): Data<&AppState>) -> Json {
    Json(replies::jwks(auth))
}

/// `GET /.well-known/oauth-protected-resource` (with `AUTH_PUBLIC_URL`).
#[handler]
fn resource_metadata(Data(auth): Data<&AppState>) -> Json {
    Json(replies::resource_metadata(auth))
}

/// Answers every error that reaches the top: refusals with the contract's response, poem's
/// own errors (plain text by default) with the contract's JSON 4xx.
async fn answer(error: poem::Error) -> Response {
    if error.is::<Refusal>() {
        return error.into_response();
    }
    let reply = match error.status() {
        StatusCode::NOT_FOUND => replies::not_found(),
        StatusCode::PAYLOAD_TOO_LARGE => replies::payload_too_large(),
        _ => {
            tracing::debug!(%error, "request rejected");
            replies::bad_request()
        }
    };
    Json(reply).into_response()
}

/// Every route of the contract behind the gate, which answers a development route outside
/// development mode `404`, with every error answered.
fn app(auth: AppState) -> impl Endpoint<Output = Response> {
    Route::new()
        .at(routes::HEALTHZ, get(healthz))
        .at(routes::READYZ, get(readyz))
        .at(routes::METRICS, get(metrics_text))
        .at(routes::PUBLIC, get(public))
        .at(routes::PROTECTED, get(protected))
        .at(routes::ADMIN, get(admin))
        .at(routes::ME, get(me))
        .at(routes::DEV_TOKEN, post(dev_token))
        .at(routes::OPENID_CONFIGURATION, get(openid_configuration))
        .at(routes::JWKS, get(jwks))
        .at(routes::RESOURCE_METADATA, get(resource_metadata))
        .with(Gate(auth.clone()))
        .data(auth)
        .catch_all_error(answer)
}

/// Starts on `PORT` (default 8005) and serves until Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8005);
    let local = LocalAddr(listener.local_addr().map(Addr::from).unwrap_or_default());
    let app = Arc::new(app(auth));
    // What `poem::Server` does for each request, under hyper settings it does not expose.
    let service = hyper::service::service_fn(move |request: poem::http::Request<Incoming>| {
        let request = Request::from((request, local.clone(), RemoteAddr::default(), Scheme::HTTP));
        let app = Arc::clone(&app);
        let route = metrics::route(request.original_uri().path());
        async move {
            let response = app.get_response(request).await;
            metrics::record_request(route, response.status().as_u16());
            Ok::<_, Infallible>(poem::http::Response::from(response))
        }
    });
    http1::serve(listener, service).await;
}
