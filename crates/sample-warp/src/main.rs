//! Run with `cargo run -p sample-warp` (port 8004, `PORT=0` for any free one), then paste one
//! of the curl commands it prints.
//!
//! The sample contract on warp. The route's credentials are filters: a route that `.and()`s
//! [`with_claims`] runs its handler only for a verified bearer token, one that `.and()`s
//! [`with_admin`] only for a token with the admin role, whose claims it also reads into a type
//! of the handler's own (`Admin<Caller>`), and one that `.and()`s [`with_api_key`] only for a
//! known `X-API-Key`. The [`gate`] filter stands in front of every route. Refusals travel as
//! [`Refused`] rejections, and [`recover`] answers them and warp's own. The filter is served
//! through [`sample_kit::http1`], which applies the head size and read timeout `warp::serve`
//! does not expose; [`main`] puts the request target in the request's extensions on the way,
//! because warp's filters hand out only its path and query (and `warp::path::full` panics on
//! a target without a path, `GET example.com:80`).

use std::convert::Infallible;
use std::future::ready;

use api_auth::{ApiKeyUser, AuthError, Claims, Reply, RequestHead};
use hyper_util::service::TowerToHyperService;
use sample_kit::{AppState, Caller, http1, limits, metrics, replies, roles, routes, server};
use serde::de::DeserializeOwned;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, Request, Uri};
use warp::hyper::body::{Bytes, Incoming};
use warp::hyper::service::{Service, service_fn};
use warp::reject::{LengthRequired, PayloadTooLarge, Reject, Rejection};
use warp::reply::Response;

/// A contract reply as a warp response.
fn respond(reply: Reply) -> Response {
    Response::from(reply)
}

/// A refusal's reply, carried through warp's rejections until [`recover`] answers it.
#[derive(Debug)]
struct Refused(Reply);

impl Reject for Refused {}

/// Rejects the request with `error`.
fn refuse(error: AuthError) -> Rejection {
    warp::reject::custom(Refused(error.reply()))
}

/// The request target exactly as hyper parsed it, put in the request's extensions by [`main`].
#[derive(Clone)]
struct Target(Uri);

/// The request's [`Target`] (a target of `/` if it were missing, which [`main`] rules out).
fn target() -> impl Filter<Extract = (Uri,), Error = Infallible> + Copy {
    warp::ext::optional::<Target>()
        .map(|target: Option<Target>| target.map_or_else(|| Uri::from_static("/"), |t| t.0))
}

/// What the checks read from a request: its method, headers and target.
struct Head {
    method: Method,
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

    fn method(&self) -> Option<&str> {
        Some(self.method.as_str())
    }
}

/// Extracts the request's [`Head`].
fn head() -> impl Filter<Extract = (Head,), Error = Infallible> + Clone {
    warp::method()
        .and(warp::header::headers_cloned())
        .and(target())
        .map(|method, headers, target| Head {
            method,
            headers,
            target,
        })
}

/// [`routes::gate`] in front of every route: allowed hosts, HTTPS redirect, shared secret,
/// then a path this process serves.
fn gate(auth: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    head()
        .and_then(move |head: Head| {
            let gated = routes::gate(&auth, &head).map(|_route| ());
            ready(gated.map_err(|reply| warp::reject::custom(Refused(reply))))
        })
        .untuple_one()
}

/// The verified claims of the request's bearer token.
fn with_claims(auth: AppState) -> impl Filter<Extract = (Claims,), Error = Rejection> + Clone {
    head().and_then(move |head: Head| {
        let auth = auth.clone();
        async move { auth.authenticate(&head).await.map_err(refuse) }
    })
}

/// Claims that carry the admin role or scope: as sent, and read into `T`, a type of the
/// handler's own.
struct Admin<T>(Claims, T);

/// [`with_claims`] for a token that carries the admin role or scope, as an [`Admin<T>`]
/// (claims that do not fit `T` are refused `401`).
fn with_admin<T: DeserializeOwned + Send>(
    auth: AppState,
) -> impl Filter<Extract = (Admin<T>,), Error = Rejection> + Clone {
    with_claims(auth.clone()).and_then(move |claims: Claims| {
        let typed = roles::require_admin(&auth, &claims);
        ready(typed.map(|typed| Admin(claims, typed)).map_err(refuse))
    })
}

/// The owner of the request's `X-API-Key`.
fn with_api_key(auth: AppState) -> impl Filter<Extract = (ApiKeyUser,), Error = Rejection> + Clone {
    head().and_then(move |head: Head| ready(auth.api_key_user(&head).map_err(refuse)))
}

/// Hands each request a handle on the [`AppState`].
fn with_auth(auth: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || auth.clone())
}

/// The right path with a method it does not serve; answered `405` with `Allow`.
#[derive(Debug)]
struct WrongMethod(&'static [&'static str]);

impl Reject for WrongMethod {}

/// Matches `path` exactly, with the methods the contract gives it. Unlike `warp::path!` it
/// does not also match `path/`, and unlike `warp::get()` its `405` can name the methods.
fn route(path: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Copy {
    let methods = routes::allowed_methods(path).unwrap_or_default();
    target()
        .and(warp::method())
        .and_then(move |target: Uri, method: Method| {
            ready(if target.path() != path {
                Err(warp::reject::not_found())
            } else if methods.contains(&method.as_str()) {
                Ok(())
            } else {
                Err(warp::reject::custom(WrongMethod(methods)))
            })
        })
        .untuple_one()
}

/// Every route of the contract behind the gate, with all rejections answered.
fn app(auth: AppState) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let healthz = route(routes::HEALTHZ)
        .and(with_auth(auth.clone()))
        .map(|auth: AppState| respond(replies::healthz(&auth)));
    let readyz = route(routes::READYZ)
        .and(with_auth(auth.clone()))
        .map(|auth: AppState| respond(replies::readyz(&auth)));
    let metrics_text = route(routes::METRICS).map(|| respond(replies::metrics()));
    let public = route(routes::PUBLIC).map(|| respond(replies::public()));
    let protected = route(routes::PROTECTED)
        .and(with_claims(auth.clone()))
        .map(|claims: Claims| respond(replies::protected(&claims)));
    let admin = route(routes::ADMIN)
        .and(with_admin(auth.clone()))
        .map(|Admin(claims, caller): Admin<Caller>| respond(replies::admin(&claims, &caller)));
    let me = route(routes::ME)
        .and(with_api_key(auth.clone()))
        .map(|user: ApiKeyUser| respond(replies::me(&user)));
    // warp's own limit refuses a declared length over it before reading the body (`413`),
    // and a body without a declared length (`411`).
    let dev_token = route(routes::DEV_TOKEN)
        .and(warp::body::content_length_limit(
            u64::try_from(limits::MAX_BODY_BYTES).unwrap_or(u64::MAX),
        ))
        .and(warp::body::bytes())
        .and(with_auth(auth.clone()))
        .map(|body: Bytes, auth: AppState| respond(replies::dev_token(&auth, &body)));
    let openid_configuration = route(routes::OPENID_CONFIGURATION)
        .and(with_auth(auth.clone()))
        .map(|auth: AppState| respond(replies::openid_configuration(&auth)));
    let jwks = route(routes::JWKS)
        .and(with_auth(auth.clone()))
        .map(|auth: AppState| respond(replies::jwks(&auth)));
    let resource_metadata = route(routes::RESOURCE_METADATA)
        .and(with_auth(auth.clone()))
        .map(|auth: AppState| respond(replies::resource_metadata(&auth)));

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
                .unify()
                .or(resource_metadata)
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
    let reply = if let Some(Refused(reply)) = rejection.find() {
        reply.clone()
    } else if rejection.is_not_found() {
        replies::not_found()
    } else if let Some(WrongMethod(methods)) = rejection.find() {
        replies::method_not_allowed(methods)
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        replies::payload_too_large()
    } else if rejection.find::<LengthRequired>().is_some() {
        replies::length_required()
    } else {
        tracing::debug!(?rejection, "request rejected");
        replies::bad_request()
    };
    Ok(respond(reply))
}

/// Starts on `PORT` (default 8004) and serves until Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() {
    let (auth, listener) = server::start(8004);
    let filter = TowerToHyperService::new(warp::service(app(auth)));
    // The request target goes into the extensions before warp sees the request (see above).
    let service = service_fn(move |mut request: Request<Incoming>| {
        let target = Target(request.uri().clone());
        request.extensions_mut().insert(target);
        filter.call(request)
    });
    http1::serve(listener, service).await;
}
