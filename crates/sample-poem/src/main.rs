//! The sample contract on poem.
//!
//! FastAPI's `HTTPSRedirectMiddleware` and the seed's `validate_shared_secret(request)` become
//! one poem [`Middleware`], [`Gate`], wrapped around the whole route tree, so every request
//! (unknown routes included) passes the HTTPS redirect and the shared secret before routing.
//! The route's own credentials are [`FromRequest`] extractors: a handler that takes [`User`]
//! runs only for a verified token, one that takes [`Admin`] only for a verified token with the
//! admin role, one that takes [`KeyUser`] only for a known `X-API-Key`. Refusals are
//! [`Refusal`] errors that answer themselves ([`ResponseError`]); [`answer`] turns poem's own
//! errors into the contract's JSON.
//!
//! `poem::Server` does not expose hyper's HTTP/1 head size or head read timeout, so the
//! endpoint is served through [`sample_kit::http1::serve`] by way of a small hyper service.

use std::convert::Infallible;
use std::sync::Arc;

use api_auth::{ApiKeyUser, Auth, AuthError, Claims, HttpRequestHead, Reply};
use hyper::body::Incoming;
use poem::error::{MethodNotAllowedError, ResponseError};
use poem::http::{StatusCode, header::CONTENT_LENGTH, uri::Scheme};
use poem::web::{Data, LocalAddr, RemoteAddr};
use poem::{
    Addr, Body, Endpoint, EndpointExt, FromRequest, IntoResponse, Middleware, Request, RequestBody,
    Response, ResponseParts, Route, RouteMethod, get, handler, post,
};
use sample_kit::{http1, metrics, routes, server};

/// The methods of a `GET` route (poem answers `HEAD` with the `GET` handler, without a body).
const GET: &[&str] = &["GET", "HEAD"];
/// The methods of a `POST` route.
const POST: &[&str] = &["POST"];

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

/// The [`Auth`] attached to the route tree with `.data(auth)`.
async fn auth(request: &Request) -> poem::Result<&Auth> {
    let Data(auth) = Data::<&Auth>::from_request_without_body(request).await?;
    Ok(auth)
}

/// The verified claims of the request's bearer token.
struct User(Claims);

impl<'a> FromRequest<'a> for User {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let head = HttpRequestHead::new(request.headers(), request.uri());
        let claims = auth(request).await?.authenticate(&head).await;
        Ok(User(claims.map_err(Refusal)?))
    }
}

/// A [`User`] whose token carries the admin role or scope.
struct Admin(Claims);

impl<'a> FromRequest<'a> for Admin {
    async fn from_request(request: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let User(claims) = User::from_request(request, body).await?;
        auth(request)
            .await?
            .require_admin(&claims)
            .map_err(Refusal)?;
        Ok(Admin(claims))
    }
}

/// The owner of the request's `X-API-Key`.
struct KeyUser(ApiKeyUser);

impl<'a> FromRequest<'a> for KeyUser {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let head = HttpRequestHead::new(request.headers(), request.uri());
        let user = auth(request).await?.api_key_user(&head).map_err(Refusal)?;
        Ok(KeyUser(user))
    }
}

/// HTTPS redirect, then shared secret, in front of every route (`/healthz` excepted).
struct Gate(Auth);

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
    auth: Auth,
}

impl<E: Endpoint> Endpoint for Gated<E> {
    type Output = E::Output;

    async fn call(&self, request: Request) -> poem::Result<E::Output> {
        let head = HttpRequestHead::new(request.headers(), request.original_uri());
        self.auth.gate(&head).map_err(Refusal)?;
        self.inner.call(request).await
    }
}

/// `GET /healthz`: never gated, reports the key set.
#[handler]
fn healthz(Data(auth): Data<&Auth>) -> Json {
    Json(routes::healthz(auth))
}

/// `GET /readyz`: never gated, 503 until a usable key set is held.
#[handler]
fn readyz(Data(auth): Data<&Auth>) -> Json {
    Json(routes::readyz(auth))
}

/// `GET /metrics`: never gated, the Prometheus exposition.
#[handler]
fn metrics_text() -> Json {
    Json(routes::metrics())
}

/// `GET /public`: no credentials.
#[handler]
fn public() -> Json {
    Json(routes::public())
}

/// `GET /protected`: a verified bearer token.
#[handler]
fn protected(User(claims): User) -> Json {
    Json(routes::protected(&claims))
}

/// `GET /admin`: a verified bearer token with the admin role or scope.
#[handler]
fn admin(Admin(claims): Admin) -> Json {
    Json(routes::admin(&claims))
}

/// `GET /me`: a known `X-API-Key`.
#[handler]
fn me(KeyUser(user): KeyUser) -> Json {
    Json(routes::me(&user))
}

/// `POST /dev/token` (development mode): mints a token from a JSON body of at most 16 KiB; a
/// declared length over it is refused before the body is read.
#[handler]
async fn dev_token(request: &Request, Data(auth): Data<&Auth>, body: Body) -> poem::Result<Json> {
    let declared = request.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes());
    if routes::declared_body_too_large(declared) {
        return Ok(Json(routes::payload_too_large()));
    }
    let body = body.into_bytes_limit(routes::MAX_BODY_BYTES).await?;
    Ok(Json(routes::dev_token(auth, &body)))
}

/// `GET /.well-known/openid-configuration` (development mode).
#[handler]
fn openid_configuration(Data(auth): Data<&Auth>) -> Json {
    Json(routes::openid_configuration(auth))
}

/// `GET /.well-known/jwks.json` (development mode).
#[handler]
fn jwks(Data(auth): Data<&Auth>) -> Json {
    Json(routes::jwks(auth))
}

/// `route`, whose other methods are answered `405` with `Allow: methods`.
fn allow(route: RouteMethod, methods: &'static [&'static str]) -> impl Endpoint {
    route.catch_error(move |_: MethodNotAllowedError| async move {
        Json(routes::method_not_allowed(methods))
    })
}

/// Answers every error that reaches the top: refusals with the contract's response, poem's
/// own errors (plain text by default) with the contract's JSON 4xx.
async fn answer(error: poem::Error) -> Response {
    if error.is::<Refusal>() {
        return error.into_response();
    }
    let reply = match error.status() {
        StatusCode::NOT_FOUND => routes::not_found(),
        StatusCode::PAYLOAD_TOO_LARGE => routes::payload_too_large(),
        _ => {
            tracing::debug!(%error, "request rejected");
            routes::bad_request()
        }
    };
    Json(reply).into_response()
}

/// Every route of the contract behind the gate, with every error answered. The development
/// issuer's routes exist only in development mode (outside it: `404` for every method).
fn app(auth: Auth) -> impl Endpoint<Output = Response> {
    let mut route = Route::new()
        .at(routes::HEALTHZ, allow(get(healthz), GET))
        .at(routes::READYZ, allow(get(readyz), GET))
        .at(routes::METRICS, allow(get(metrics_text), GET))
        .at(routes::PUBLIC, allow(get(public), GET))
        .at(routes::PROTECTED, allow(get(protected), GET))
        .at(routes::ADMIN, allow(get(admin), GET))
        .at(routes::ME, allow(get(me), GET));
    if auth.is_development() {
        route = route
            .at(routes::DEV_TOKEN, allow(post(dev_token), POST))
            .at(
                routes::OPENID_CONFIGURATION,
                allow(get(openid_configuration), GET),
            )
            .at(routes::JWKS, allow(get(jwks), GET));
    }
    route
        .with(Gate(auth.clone()))
        .data(auth)
        .catch_all_error(answer)
}

/// Starts on `PORT` (default 8005) and serves until Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8005);
    let listener =
        tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| server::exit_with(e));
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
