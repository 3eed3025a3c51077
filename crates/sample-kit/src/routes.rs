//! The sample contract's routes, in one table ([`ROUTES`]): each path with its metrics label,
//! its methods, when this process serves it, and whether the gate exempts it.
//! The path lookups, the `404`/`405` answers, the gate's exempt paths and the `route` metrics
//! label are all read from it.
//!
//! | route | auth | success |
//! |---|---|---|
//! | `GET /healthz` | none, never gated | `{"status":"ok","keys":{...}}` |
//! | `GET /readyz` | none, never gated | `503 {"status":"not_ready",...}` until the start-up fetches settle with keys, then `{"status":"ready",...}` for good |
//! | `GET /metrics` | none, never gated | Prometheus text exposition (404 when no recorder is installed) |
//! | `GET /public` | none | `{"message":"Anyone can see this"}` |
//! | `GET /protected` | bearer JWT (or DPoP-bound, with its proof) | `{"message":"Access granted","user":{claims}}` |
//! | `GET /admin` | a JWT as for `/protected`, with role or scope `admin` | `{"message":"Admin access","user":{claims}}` |
//! | `GET /me` | `X-API-Key` | `{"user":"<name>"}` |
//!
//! Development mode adds `POST /dev/token`, `GET /.well-known/openid-configuration` and
//! `GET /.well-known/jwks.json`; outside it they answer 404 for every method. With
//! `AUTH_PUBLIC_URL`, `GET /.well-known/oauth-protected-resource` serves the protected resource
//! metadata (RFC 9728), never gated. Every `GET` route answers `HEAD` too.

use api_auth::{Reply, RequestHead};

use crate::{AppState, replies};

/// `GET /healthz`.
pub const HEALTHZ: &str = "/healthz";
/// `GET /readyz`.
pub const READYZ: &str = "/readyz";
/// `GET /metrics`.
pub const METRICS: &str = "/metrics";
/// `GET /public`.
pub const PUBLIC: &str = "/public";
/// `GET /protected`.
pub const PROTECTED: &str = "/protected";
/// `GET /admin`.
pub const ADMIN: &str = "/admin";
/// `GET /me`.
pub const ME: &str = "/me";
/// `POST /dev/token` (development mode).
pub const DEV_TOKEN: &str = "/dev/token";
/// `GET /.well-known/openid-configuration` (development mode).
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// `GET /.well-known/jwks.json` (development mode).
pub const JWKS: &str = "/.well-known/jwks.json";
/// `GET /.well-known/oauth-protected-resource` (with `AUTH_PUBLIC_URL`).
pub const RESOURCE_METADATA: &str = api_auth::PROTECTED_RESOURCE_METADATA_PATH;

/// The methods of a `GET` route: `HEAD` is answered like `GET`, without the body.
const GET: &[&str] = &["GET", "HEAD"];
/// The methods of a `POST` route.
const POST: &[&str] = &["POST"];

/// One route of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path, matched byte for byte (no trailing slash, no percent-decoding).
    pub path: &'static str,
    /// The `route` label of `api_auth_requests_total` (never the raw path).
    pub label: &'static str,
    /// The methods served (for `Allow`).
    pub methods: &'static [&'static str],
    /// When this process serves it (otherwise: `404` for every method).
    pub served: ServedWhen,
    /// Whether the gate (allowed hosts, HTTPS redirect, shared secret) lets it through, so
    /// that probes need no gateway.
    pub ungated: bool,
}

impl Route {
    const fn new(
        path: &'static str,
        label: &'static str,
        methods: &'static [&'static str],
    ) -> Self {
        Self {
            path,
            label,
            methods,
            served: ServedWhen::Always,
            ungated: false,
        }
    }

    const fn dev_only(self) -> Self {
        Self {
            served: ServedWhen::DevelopmentMode,
            ..self
        }
    }

    const fn with_public_url(self) -> Self {
        Self {
            served: ServedWhen::PublicUrl,
            ..self
        }
    }

    const fn ungated(self) -> Self {
        Self {
            ungated: true,
            ..self
        }
    }
}

/// When a route is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedWhen {
    /// Always.
    Always,
    /// In development mode only.
    DevelopmentMode,
    /// When `AUTH_PUBLIC_URL` is set (the protected resource metadata).
    PublicUrl,
}

/// Every route of the contract.
pub const ROUTES: [Route; 11] = [
    Route::new(HEALTHZ, "healthz", GET).ungated(),
    Route::new(READYZ, "readyz", GET).ungated(),
    Route::new(METRICS, "metrics", GET).ungated(),
    Route::new(PUBLIC, "public", GET),
    Route::new(PROTECTED, "protected", GET),
    Route::new(ADMIN, "admin", GET),
    Route::new(ME, "me", GET),
    Route::new(DEV_TOKEN, "dev_token", POST).dev_only(),
    Route::new(OPENID_CONFIGURATION, "openid_configuration", GET).dev_only(),
    Route::new(JWKS, "jwks", GET).dev_only(),
    Route::new(RESOURCE_METADATA, "resource_metadata", GET)
        .with_public_url()
        .ungated(),
];

/// The contract's route at exactly `path`.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.path == path)
}

/// The paths the gate never applies to (for `AuthBuilder::ungated_paths`).
pub fn ungated_paths() -> impl Iterator<Item = &'static str> {
    ROUTES
        .iter()
        .filter(|route| route.ungated)
        .map(|route| route.path)
}

/// The methods a route of the contract serves (for `Allow`); `None` for a path it lacks.
pub fn allowed_methods(path: &str) -> Option<&'static [&'static str]> {
    find(path).map(|route| route.methods)
}

/// The methods `path` serves on this process: [`allowed_methods`], except that the
/// development issuer's paths do not exist outside development mode.
pub fn served_methods(app: &AppState, path: &str) -> Option<&'static [&'static str]> {
    served(app, path).map(|route| route.methods)
}

/// The route at `path`, when this process serves it.
fn served(app: &AppState, path: &str) -> Option<&'static Route> {
    find(path).filter(|route| match route.served {
        ServedWhen::Always => true,
        ServedWhen::DevelopmentMode => app.is_development(),
        ServedWhen::PublicUrl => app.resource_metadata().is_some(),
    })
}

/// The gate every request passes before routing: [`Auth::gate`] (request target, allowed
/// hosts, HTTPS redirect, shared secret; the [ungated](Route::ungated) routes are exempt but
/// for the target), then the path must be one this process serves, byte for byte (`404`
/// otherwise, whatever the method), so that a framework's lenient matching (`/public/`,
/// `/%70ublic`) or a development route outside development mode never reaches a handler.
/// Passed, it returns the request's route.
pub fn gate(app: &AppState, request: &impl RequestHead) -> Result<&'static Route, Reply> {
    app.gate(request).map_err(|refusal| refusal.reply())?;
    served(app, request.path()).ok_or_else(replies::not_found)
}

/// The answer for a request whose method and path matched no route: `405` naming the
/// methods in `Allow` when this process serves the path, else `404`.
pub fn unmatched(app: &AppState, path: &str) -> Reply {
    match served_methods(app, path) {
        Some(allow) => replies::method_not_allowed(allow),
        None => replies::not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_matched_exactly() {
        assert_eq!(find(PUBLIC).map(|route| route.label), Some("public"));
        for path in ["/public/", "/Public", "/%70ublic", "//public", ""] {
            assert_eq!(find(path), None, "{path}");
        }
    }

    #[test]
    fn every_path_and_label_appears_once() {
        for (index, route) in ROUTES.iter().enumerate() {
            for other in &ROUTES[index + 1..] {
                assert_ne!(route.path, other.path);
                assert_ne!(route.label, other.label);
            }
        }
    }
}
