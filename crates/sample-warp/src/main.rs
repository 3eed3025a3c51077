//! The sample contract on warp.
//!
//! Bottle's `@require_jwt` decorator becomes a filter: [`with_claims`] extracts the verified
//! claims or rejects the request, so a route built as `.and(with_claims(auth))` runs its
//! handler only for a valid token, just as a decorated Bottle handler runs only once the
//! decorator let the request through. [`with_admin`] builds on it, [`with_api_key`] does the
//! same for `X-API-Key`, and [`gate`] stands in front of every route. Refusals travel as
//! [`Refused`] rejections and [`recover`] turns them, and warp's own rejections, into the
//! contract's JSON answers.
//!
//! `warp::serve` does not expose hyper's connection limits, so the accept loop below drives
//! hyper directly with `warp::service` to bound request heads and the time a client may take
//! to send them.

use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;

use api_auth::{ApiKeyUser, Auth, AuthError, Claims, Reply, RequestHead, routes, server};
use hyper::body::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use warp::Filter;
use warp::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use warp::path::FullPath;
use warp::reject::{LengthRequired, PayloadTooLarge, Reject, Rejection};
use warp::reply::Response;

/// Request heads (request line and headers) larger than this are answered `431`.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A client must send its whole request head within this time (idle keep-alive included).
const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// `POST /dev/token` bodies larger than this are answered `413`.
const MAX_BODY_BYTES: u64 = 16 * 1024;
/// How long in-flight requests may take to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A contract reply as a warp response.
fn respond(reply: Reply) -> Response {
    let mut response = Response::new(reply.body_bytes().into());
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// A refusal, carried through warp's rejections until [`recover`] answers it.
#[derive(Debug)]
struct Refused(AuthError);

impl Reject for Refused {}

/// Rejects the request with `error`.
fn refuse(error: AuthError) -> Rejection {
    warp::reject::custom(Refused(error))
}

/// What the checks read from a request: its headers and its target (path and query).
struct Head {
    headers: HeaderMap,
    target: String,
    path_len: usize,
}

impl RequestHead for Head {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers.get_all(name).iter().map(HeaderValue::as_bytes)
    }

    fn path(&self) -> &str {
        self.target.get(..self.path_len).unwrap_or(&self.target)
    }

    fn path_and_query(&self) -> &str {
        &self.target
    }
}

/// Extracts the request's [`Head`]; warp hands out the path and query, not the URI.
fn head() -> impl Filter<Extract = (Head,), Error = Infallible> + Clone {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::header::headers_cloned()
        .and(warp::path::full())
        .and(query)
        .map(|headers, path: FullPath, query: Option<String>| {
            let mut target = path.as_str().to_owned();
            let path_len = target.len();
            if let Some(query) = query {
                target.push('?');
                target.push_str(&query);
            }
            Head {
                headers,
                target,
                path_len,
            }
        })
}

/// HTTPS redirect, then shared secret, in front of every route (`/healthz` excepted).
fn gate(auth: Auth) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    head()
        .and_then(move |head: Head| ready(auth.gate(&head).map_err(refuse)))
        .untuple_one()
}

/// The verified claims of the request's bearer token (Bottle: `@require_jwt`).
fn with_claims(auth: Auth) -> impl Filter<Extract = (Claims,), Error = Rejection> + Clone {
    head().and_then(move |head: Head| {
        let auth = auth.clone();
        async move { auth.authenticate(&head).await.map_err(refuse) }
    })
}

/// [`with_claims`] for a token that carries the admin role or scope.
fn with_admin(auth: Auth) -> impl Filter<Extract = (Claims,), Error = Rejection> + Clone {
    with_claims(auth.clone()).and_then(move |claims: Claims| {
        ready(auth.require_admin(&claims).map(|()| claims).map_err(refuse))
    })
}

/// The owner of the request's `X-API-Key`.
fn with_api_key(auth: Auth) -> impl Filter<Extract = (ApiKeyUser,), Error = Rejection> + Clone {
    head().and_then(move |head: Head| ready(auth.api_key_user(&head).map_err(refuse)))
}

/// Hands each request a handle on [`Auth`].
fn with_auth(auth: Auth) -> impl Filter<Extract = (Auth,), Error = Infallible> + Clone {
    warp::any().map(move || auth.clone())
}

/// The methods of a `GET` route (`HEAD` is answered like `GET`, without the body).
const GET: &[Method] = &[Method::GET, Method::HEAD];
/// The methods of a `POST` route.
const POST: &[Method] = &[Method::POST];

/// The right path with a method it does not serve; answered `405` with `Allow`.
#[derive(Debug)]
struct WrongMethod(&'static [Method]);

impl Reject for WrongMethod {}

/// Matches `path` exactly with one of `methods`. Unlike `warp::path!` it does not also match
/// `path/`, and unlike `warp::get()` its `405` can name the allowed methods.
fn route(
    path: &'static str,
    methods: &'static [Method],
) -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::path::full()
        .and(warp::method())
        .and_then(move |full: FullPath, method: Method| {
            ready(if full.as_str() != path {
                Err(warp::reject::not_found())
            } else if methods.contains(&method) {
                Ok(())
            } else {
                Err(warp::reject::custom(WrongMethod(methods)))
            })
        })
        .untuple_one()
}

/// Every route of the contract behind the gate, with all rejections answered.
fn app(auth: Auth) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let healthz = route(routes::HEALTHZ, GET)
        .and(with_auth(auth.clone()))
        .map(|auth: Auth| respond(routes::healthz(&auth)));
    let public = route(routes::PUBLIC, GET).map(|| respond(routes::public()));
    let protected = route(routes::PROTECTED, GET)
        .and(with_claims(auth.clone()))
        .map(|claims: Claims| respond(routes::protected(&claims)));
    let admin = route(routes::ADMIN, GET)
        .and(with_admin(auth.clone()))
        .map(|claims: Claims| respond(routes::admin(&claims)));
    let me = route(routes::ME, GET)
        .and(with_api_key(auth.clone()))
        .map(|user: ApiKeyUser| respond(routes::me(&user)));
    let dev_token = route(routes::DEV_TOKEN, POST)
        .and(warp::body::content_length_limit(MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .and(with_auth(auth.clone()))
        .map(|body: Bytes, auth: Auth| respond(routes::dev_token(&auth, &body)));
    let openid_configuration = route(routes::OPENID_CONFIGURATION, GET)
        .and(with_auth(auth.clone()))
        .map(|auth: Auth| respond(routes::openid_configuration(&auth)));
    let jwks = route(routes::JWKS, GET)
        .and(with_auth(auth.clone()))
        .map(|auth: Auth| respond(routes::jwks(&auth)));

    gate(auth)
        .and(
            healthz
                .or(public)
                .unify()
                .or(protected)
                .unify()
                .or(admin)
                .unify()
                .or(me)
                .unify()
                .or(dev_token)
                .unify()
                .or(openid_configuration)
                .unify()
                .or(jwks)
                .unify(),
        )
        .recover(recover)
        .unify()
}

/// Answers every rejection: refusals with the contract's response, the rest with a JSON 4xx.
async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let reply = if let Some(Refused(error)) = rejection.find() {
        error.reply()
    } else if rejection.is_not_found() {
        routes::not_found()
    } else if let Some(WrongMethod(methods)) = rejection.find() {
        let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        client_error(405, "method_not_allowed", "Method not allowed")
            .with_header("allow", allow.join(","))
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        client_error(413, "payload_too_large", "Request body is too large")
    } else if rejection.find::<LengthRequired>().is_some() {
        client_error(411, "length_required", "Content-Length is required")
    } else {
        tracing::debug!(?rejection, "request rejected");
        AuthError::BadRequest("the request cannot be processed").reply()
    };
    Ok(respond(reply))
}

/// A JSON client error outside the authentication contract.
fn client_error(status: u16, code: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({ "error": code, "error_description": description }),
    )
}

/// Accepts connections until shutdown, serving each with hyper under the limits above.
async fn serve<F>(listener: tokio::net::TcpListener, app: F)
where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    let service = warp::service(app);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(server::shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(service.clone()),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Starts on `PORT` (default 8004) and serves until Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8004);
    let listener =
        tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| server::exit_with(e));
    serve(listener, app(auth)).await;
}
