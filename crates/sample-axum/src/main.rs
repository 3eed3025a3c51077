//! Run with `cargo run -p sample-axum` (port 8001, `PORT=0` for any free one), then paste one
//! of the curl commands it prints.
//!
//! The sample contract on axum. The route's credentials are extractors: a handler that takes
//! [`User`] runs only for a verified bearer token, one that takes [`Admin<T>`] only for a token
//! with the admin role, whose claims it also reads into a type of its own (`Admin<Caller>`),
//! and one that takes [`KeyUser`] only for a known `X-API-Key`. The gate in front of every
//! route is a middleware, [`gate`]. The router is served through [`sample_kit::http1`], which
//! applies the head size and read timeout `axum::serve` does not expose.

use api_auth::{ApiKeyUser, AuthError, Claims, HttpRequestHead, Reply};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::service::TowerToHyperService;
use sample_kit::{AppState, Caller, http1, limits, metrics, replies, roles, routes, server};
use serde::de::DeserializeOwned;

/// A contract reply as an axum response.
struct Json(Reply);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        Response::<Body>::from(self.0)
    }
}

/// A refusal, answered with the contract's status, challenge and body.
struct Refusal(AuthError);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        Json(self.0.reply()).into_response()
    }
}

/// The verified claims of the request's bearer token.
struct User(Claims);

impl FromRequestParts<AppState> for User {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        auth: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let head = HttpRequestHead::from_parts(&parts.method, &parts.headers, &parts.uri);
        auth.authenticate(&head).await.map(User).map_err(Refusal)
    }
}

/// A [`User`] whose token carries the admin role or scope: its claims as sent, and read into
/// `T`, a type of the handler's own (claims that do not fit it are refused `401`).
struct Admin<T>(Claims, T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Admin<T> {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        auth: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let User(claims) = User::from_request_parts(parts, auth).await?;
        let typed = roles::require_admin(auth, &claims).map_err(Refusal)?;
        Ok(Admin(claims, typed))
    }
}

/// The owner of the request's `X-API-Key`.
struct KeyUser(ApiKeyUser);

impl FromRequestParts<AppState> for KeyUser {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        auth: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let head = HttpRequestHead::from_parts(&parts.method, &parts.headers, &parts.uri);
        auth.api_key_user(&head).map(KeyUser).map_err(Refusal)
    }
}

/// [`routes::gate`] before any route (allowed hosts, HTTPS redirect, shared secret, then a
/// path this process serves); counts every response.
async fn gate(State(auth): State<AppState>, request: Request, next: Next) -> Response {
    let route = metrics::route(request.uri().path());
    let head = HttpRequestHead::of(&request);
    let response = match routes::gate(&auth, &head) {
        Ok(_) => next.run(request).await,
        Err(refusal) => Json(refusal).into_response(),
    };
    metrics::record_request(route, response.status().as_u16());
    response
}

async fn healthz(State(auth): State<AppState>) -> Json {
    Json(replies::healthz(&auth))
}

async fn readyz(State(auth): State<AppState>) -> Json {
    Json(replies::readyz(&auth))
}

async fn metrics_text() -> Json {
    Json(replies::metrics())
}

async fn public() -> Json {
    Json(replies::public())
}

async fn protected(User(claims): User) -> Json {
    Json(replies::protected(&claims))
}

async fn admin(Admin(claims, caller): Admin<Caller>) -> Json {
    Json(replies::admin(&claims, &caller))
}

async fn me(KeyUser(user): KeyUser) -> Json {
    Json(replies::me(&user))
}

/// `POST /dev/token`: a declared length over the limit is refused before the body is read.
async fn dev_token(State(auth): State<AppState>, headers: HeaderMap, body: Body) -> Json {
    let declared = headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes);
    if limits::declared_body_too_large(declared) {
        return Json(replies::payload_too_large());
    }
    // A limited read fails only past the limit, or when the client is gone anyway.
    match axum::body::to_bytes(body, limits::MAX_BODY_BYTES).await {
        Ok(body) => Json(replies::dev_token(&auth, &body)),
        Err(_) => Json(replies::payload_too_large()),
    }
}

async fn openid_configuration(State(auth): State<AppState>) -> Json {
    Json(replies::openid_configuration(&auth))
}

async fn jwks(State(auth): State<AppState>) -> Json {
    Json(replies::jwks(&auth))
}

async fn resource_metadata(State(auth): State<AppState>) -> Json {
    Json(replies::resource_metadata(&auth))
}

/// No route for the method and path: `405` with `Allow`, or `404`.
async fn unmatched(State(auth): State<AppState>, uri: Uri) -> Json {
    Json(routes::unmatched(&auth, uri.path()))
}

/// Every route of the contract behind the gate, which answers a development route outside
/// development mode `404`.
fn app(auth: AppState) -> Router {
    Router::new()
        .route(routes::HEALTHZ, get(healthz))
        .route(routes::READYZ, get(readyz))
        .route(routes::METRICS, get(metrics_text))
        .route(routes::PUBLIC, get(public))
        .route(routes::PROTECTED, get(protected))
        .route(routes::ADMIN, get(admin))
        .route(routes::ME, get(me))
        .route(routes::DEV_TOKEN, post(dev_token))
        .route(routes::OPENID_CONFIGURATION, get(openid_configuration))
        .route(routes::JWKS, get(jwks))
        .route(routes::RESOURCE_METADATA, get(resource_metadata))
        .fallback(unmatched)
        .method_not_allowed_fallback(unmatched)
        .layer(middleware::from_fn_with_state(auth.clone(), gate))
        .with_state(auth)
}

#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8001);
    http1::serve(listener, TowerToHyperService::new(app(auth))).await;
}
