//! The sample contract on axum.
//!
//! FastAPI's `Depends(validate_jwt)` becomes an extractor: a handler that takes [`User`]
//! runs only for a verified token, and one that takes [`Admin`] only for a verified token
//! with the admin role. [`Admin`] is generic over the claims type: `/admin` takes its caller
//! as [`Caller`], a `#[derive(Deserialize)]` struct, through `Auth::claims_as`. The shared-secret gate and HTTPS redirect are a middleware layered
//! over the whole router.
//!
//! `axum::serve` does not expose hyper's connection limits, so the router is served through
//! [`sample_kit::http1::serve`], which bounds request heads and the time a client may take to
//! send them.

use api_auth::{ApiKeyUser, Auth, AuthError, Claims, HttpRequestHead, Reply};
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
use sample_kit::{Caller, http1, metrics, routes, server};
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

/// The verified claims of the request's bearer token (FastAPI: `Depends(validate_jwt)`).
struct User(Claims);

impl FromRequestParts<Auth> for User {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, auth: &Auth) -> Result<Self, Self::Rejection> {
        let head = HttpRequestHead::new(&parts.headers, &parts.uri);
        auth.authenticate(&head).await.map(User).map_err(Refusal)
    }
}

/// A [`User`] whose token carries the admin role or scope: its claims as sent, and read into
/// `T`, a type of the handler's own (claims that do not fit it are refused `401`).
struct Admin<T>(Claims, T);

impl<T: DeserializeOwned> FromRequestParts<Auth> for Admin<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, auth: &Auth) -> Result<Self, Self::Rejection> {
        let User(claims) = User::from_request_parts(parts, auth).await?;
        auth.require_admin(&claims).map_err(Refusal)?;
        let typed = auth.claims_as(&claims).map_err(Refusal)?;
        Ok(Admin(claims, typed))
    }
}

/// The owner of the request's `X-API-Key`.
struct KeyUser(ApiKeyUser);

impl FromRequestParts<Auth> for KeyUser {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, auth: &Auth) -> Result<Self, Self::Rejection> {
        let head = HttpRequestHead::new(&parts.headers, &parts.uri);
        auth.api_key_user(&head).map(KeyUser).map_err(Refusal)
    }
}

/// HTTPS redirect, then shared secret, before any route (`/healthz`, `/readyz` and
/// `/metrics` excepted); counts every response.
async fn gate(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let route = metrics::route(request.uri().path());
    let head = HttpRequestHead::new(request.headers(), request.uri());
    let response = match auth.gate(&head) {
        Ok(()) => next.run(request).await,
        Err(refusal) => Refusal(refusal).into_response(),
    };
    metrics::record_request(route, response.status().as_u16());
    response
}

async fn healthz(State(auth): State<Auth>) -> Json {
    Json(routes::healthz(&auth))
}

async fn readyz(State(auth): State<Auth>) -> Json {
    Json(routes::readyz(&auth))
}

async fn metrics_text() -> Json {
    Json(routes::metrics())
}

async fn public() -> Json {
    Json(routes::public())
}

async fn protected(User(claims): User) -> Json {
    Json(routes::protected(&claims))
}

/// `GET /admin`: the typed [`Caller`] goes to the audit log, the claims as sent to the body.
async fn admin(Admin(claims, caller): Admin<Caller>) -> Json {
    caller.log_access(routes::ADMIN);
    Json(routes::admin(&claims))
}

async fn me(KeyUser(user): KeyUser) -> Json {
    Json(routes::me(&user))
}

/// `POST /dev/token`: a declared length over the limit is refused before the body is read.
async fn dev_token(State(auth): State<Auth>, headers: HeaderMap, body: Body) -> Json {
    let declared = headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes);
    if routes::declared_body_too_large(declared) {
        return Json(routes::payload_too_large());
    }
    // A limited read fails only past the limit, or when the client is gone anyway.
    match axum::body::to_bytes(body, routes::MAX_BODY_BYTES).await {
        Ok(body) => Json(routes::dev_token(&auth, &body)),
        Err(_) => Json(routes::payload_too_large()),
    }
}

/// Unknown paths.
async fn not_found() -> Json {
    Json(routes::not_found())
}

/// A known path with a method it does not serve.
async fn method_not_allowed(uri: Uri) -> Json {
    let allow = routes::allowed_methods(uri.path()).unwrap_or_default();
    Json(routes::method_not_allowed(allow))
}

async fn openid_configuration(State(auth): State<Auth>) -> Json {
    Json(routes::openid_configuration(&auth))
}

async fn jwks(State(auth): State<Auth>) -> Json {
    Json(routes::jwks(&auth))
}

/// The contract's routes; the development issuer's only in development mode, so that outside
/// it their paths are unknown (`404` for every method).
fn app(auth: Auth) -> Router {
    let mut router = Router::new()
        .route(routes::HEALTHZ, get(healthz))
        .route(routes::READYZ, get(readyz))
        .route(routes::METRICS, get(metrics_text))
        .route(routes::PUBLIC, get(public))
        .route(routes::PROTECTED, get(protected))
        .route(routes::ADMIN, get(admin))
        .route(routes::ME, get(me));
    if auth.is_development() {
        router = router
            .route(routes::DEV_TOKEN, post(dev_token))
            .route(routes::OPENID_CONFIGURATION, get(openid_configuration))
            .route(routes::JWKS, get(jwks));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(auth.clone(), gate))
        .with_state(auth)
}

#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8001);
    let listener =
        tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| server::exit_with(e));
    http1::serve(listener, TowerToHyperService::new(app(auth))).await;
}
