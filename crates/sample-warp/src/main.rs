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
//! `warp::serve` does not expose hyper's connection limits, so the filter is served through
//! [`sample_kit::http1::serve`], which bounds request heads and the time a client may take to
//! send them. warp's filters hand out the path and query but not the request target (whose
//! absolute form names the host), and `warp::path::full` panics on a target without a path
//! (`GET example.com:80`), so [`main`] puts the whole [`Target`] in the request's extensions
//! and every filter here reads the target from there.

use std::convert::Infallible;
use std::future::ready;

use api_auth::{ApiKeyUser, Auth, AuthError, Claims, Reply, RequestHead};
use hyper_util::service::TowerToHyperService;
use sample_kit::{http1, metrics, routes, server};
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, Request, Uri};
use warp::hyper::body::{Bytes, Incoming};
use warp::hyper::service::{Service, service_fn};
use warp::reject::{LengthRequired, PayloadTooLarge, Reject, Rejection};
use warp::reply::Response;

/// `POST /dev/token` bodies larger than this are answered `413`.
const MAX_BODY_BYTES: u64 = routes::MAX_BODY_BYTES as u64;

/// A contract reply as a warp response.
fn respond(reply: Reply) -> Response {
    Response::from(reply)
}

/// A refusal, carried through warp's rejections until [`recover`] answers it.
#[derive(Debug)]
struct Refused(AuthError);

impl Reject for Refused {}

/// Rejects the request with `error`.
fn refuse(error: AuthError) -> Rejection {
    warp::reject::custom(Refused(error))
}

/// The request target exactly as hyper parsed it, put in the request's extensions by [`main`].
#[derive(Clone)]
struct Target(Uri);

/// The request's [`Target`] (a target of `/` if it were missing, which [`main`] rules out).
fn target() -> impl Filter<Extract = (Uri,), Error = Infallible> + Copy {
    warp::ext::optional::<Target>()
        .map(|target: Option<Target>| target.map_or_else(|| Uri::from_static("/"), |t| t.0))
}

/// What the checks read from a request: its headers and its target.
struct Head {
    headers: HeaderMap,
    target: Uri,
}

impl RequestHead for Head {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers.get_all(name).iter().map(HeaderValue::as_bytes)
    }

    fn path(&self) -> &str {
        self.target.path()
    }

    fn path_and_query(&self) -> &str {
        self.target.path_and_query().map_or("/", |pq| pq.as_str())
    }

    fn target_authority(&self) -> Option<&str> {
        self.target.authority().map(|authority| authority.as_str())
    }
}

/// Extracts the request's [`Head`].
fn head() -> impl Filter<Extract = (Head,), Error = Infallible> + Clone {
    warp::header::headers_cloned()
        .and(target())
        .map(|headers, target| Head { headers, target })
}

/// HTTPS redirect, then shared secret, in front of every route (`/healthz` excepted); then
/// the development issuer's paths are unknown outside development mode (`404` for every
/// method).
fn gate(auth: Auth) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    head()
        .and_then(move |head: Head| {
            ready(auth.gate(&head).map_err(refuse).and_then(|()| {
                if routes::is_dev_path(head.path()) && !auth.is_development() {
                    Err(warp::reject::not_found())
                } else {
                    Ok(())
                }
            }))
        })
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
    target()
        .and(warp::method())
        .and_then(move |target: Uri, method: Method| {
            ready(if target.path() != path {
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
    let readyz = route(routes::READYZ, GET)
        .and(with_auth(auth.clone()))
        .map(|auth: Auth| respond(routes::readyz(&auth)));
    let metrics_text = route(routes::METRICS, GET).map(|| respond(routes::metrics()));
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
    // warp's own limit refuses a declared length over it before reading the body (`413`),
    // and a body without a declared length (`411`).
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

    let gated = gate(auth)
        .and(
            healthz
                .or(readyz)
                .unify()
                .or(metrics_text)
                .unify()
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
        .unify();
    // Every response is counted, refusals included.
    target().and(gated).map(|target: Uri, response: Response| {
        metrics::record_request(metrics::route(target.path()), response.status().as_u16());
        response
    })
}

/// Answers every rejection: refusals with the contract's response, the rest with a JSON 4xx.
async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let reply = if let Some(Refused(error)) = rejection.find() {
        error.reply()
    } else if rejection.is_not_found() {
        routes::not_found()
    } else if let Some(WrongMethod(methods)) = rejection.find() {
        let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        routes::method_not_allowed(&allow)
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        routes::payload_too_large()
    } else if rejection.find::<LengthRequired>().is_some() {
        routes::length_required()
    } else {
        tracing::debug!(?rejection, "request rejected");
        routes::bad_request()
    };
    Ok(respond(reply))
}

/// Starts on `PORT` (default 8004) and serves until Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8004);
    let listener =
        tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| server::exit_with(e));
    let filter = TowerToHyperService::new(warp::service(app(auth)));
    // The request target goes into the extensions before warp sees the request (see above).
    let service = service_fn(move |mut request: Request<Incoming>| {
        let target = Target(request.uri().clone());
        request.extensions_mut().insert(target);
        filter.call(request)
    });
    http1::serve(listener, service).await;
}
