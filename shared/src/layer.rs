//! A tower layer that passes every request it wraps through the gates and the token check of
//! an [`Auth`] (feature `tower`).
//!
//! Usable with any `tower` or `hyper` stack over `http` 1 types: axum's `Router::layer` or
//! `route_layer`, `tower::ServiceBuilder`, or a hyper server through `hyper-util`'s
//! `TowerToHyperService`. A gRPC client behind it (tonic) sees a refusal as HTTP 401 or 403,
//! which gRPC maps to `UNAUTHENTICATED` or `PERMISSION_DENIED`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::Auth;
use crate::error::AuthError;
use crate::request::HttpRequestHead;

/// The response body of an [`AuthService`]: a refusal's JSON, or the inner service's body.
pub type AuthBody<B> = Either<Full<Bytes>, B>;

/// Does everything the [`Auth`] it wraps was built to do, in the order of
/// [`Auth::gate`] then [`Auth::authenticate`]: the [allowed
/// hosts](crate::AuthBuilder::allowed_hosts), the [HTTPS
/// redirect](crate::AuthBuilder::force_https) and the [shared
/// secret](crate::AuthBuilder::shared_secret) (none of them on the [ungated
/// paths](crate::AuthBuilder::ungated_paths)), then the request's token. On success the
/// [`Claims`](crate::Claims) go into the request extensions and the inner service runs;
/// otherwise the request is answered with the refusal (`308` to the `https` URL, `400`, `401`
/// with an RFC 6750 `WWW-Authenticate` challenge, `403`, or `503` with `Retry-After`) and the
/// inner service never sees it.
///
/// Routes with different requirements get layers of their own; with axum, each on its own
/// router, merged, since `route_layer` wraps every route added before it:
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use api_auth::{Auth, AuthLayer, Claims, Issuer};
///
/// async fn orders(Extension(claims): Extension<Claims>) -> String {
///     format!("orders of {}", claims.sub().unwrap_or("nobody"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), api_auth::BuildError> {
/// let auth = Auth::builder()
///     .issuer(Issuer::discover("https://login.example.com/tenant")?)
///     .build()?;
/// let customers: Router = Router::new()
///     .route("/orders", get(orders))
///     .route_layer(AuthLayer::new(auth.clone()));
/// let admins: Router = Router::new()
///     .route("/admin/stats", get(|| async { "stats" }))
///     .route_layer(AuthLayer::new(auth).require_role("admin"));
/// let app = customers.merge(admins);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Auth,
    role: Option<&'static str>,
}

impl AuthLayer {
    /// Passes every request through the gates of `auth` and requires its token.
    pub fn new(auth: Auth) -> Self {
        Self { auth, role: None }
    }

    /// Also requires `role` in the token's `roles` array or `scope` (else `403`
    /// `insufficient_scope`).
    pub fn require_role(mut self, role: &'static str) -> Self {
        self.role = Some(role);
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
            role: self.role,
        }
    }
}

/// The service [`AuthLayer`] wraps around another.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Auth,
    role: Option<&'static str>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = http::Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // The service that was polled ready is the one that must be called (tower's
        // contract); a fresh clone stays behind for the next request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let role = self.role;
        Box::pin(async move {
            let verdict = {
                let head = HttpRequestHead::of(&request);
                match auth.gate(&head) {
                    Ok(()) => auth.authenticate(&head).await,
                    Err(refusal) => Err(refusal),
                }
            };
            let verdict = verdict.and_then(|claims| match role {
                Some(role) => auth.require_role(&claims, role).map(|()| claims),
                None => Ok(claims),
            });
            match verdict {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    let response = inner.call(request).await?;
                    Ok(response.map(Either::Right))
                }
                Err(refusal) => Ok(refusal_response(&refusal)),
            }
        })
    }
}

fn refusal_response<B>(refusal: &AuthError) -> http::Response<AuthBody<B>> {
    http::Response::<Vec<u8>>::from(refusal.reply()).map(|body| Either::Left(Full::from(body)))
}
