//! What the contract's routes answer ([`crate::routes`] lists them), and its JSON errors that
//! are not about credentials (those are `api_auth::AuthError::reply`). Every sample turns
//! these [`Reply`] values into its framework's response type.

use serde::Serialize;
use serde_json::json;

use api_auth::{ApiKeyUser, Auth, Claims, Reply};

use crate::{AppState, Caller, routes};

/// A body with one message.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// A body for a verified request: a message and every claim of the token.
#[derive(Serialize)]
struct Granted<'a> {
    message: &'static str,
    user: &'a Claims,
}

/// The `/healthz` body: always 200, with the key set's state.
pub fn healthz(auth: &Auth) -> Reply {
    let issuers = auth.key_sets();
    Reply::ok(&json!({
        "status": "ok",
        "keys": issuers.first(),
        "issuers": issuers,
    }))
}

/// The `/readyz` body: 503 until the start-up fetches have settled and some issuer holds
/// keys, then 200 for good (see [`Auth::is_ready`]: readiness gates start-up, never the
/// fleet), with each key set's state either way.
pub fn readyz(auth: &Auth) -> Reply {
    let issuers = auth.key_sets();
    let keys = issuers.first();
    if auth.is_ready() {
        Reply::ok(&json!({ "status": "ready", "keys": keys, "issuers": issuers }))
    } else {
        Reply::json(
            503,
            &json!({ "status": "not_ready", "keys": keys, "issuers": issuers }),
        )
    }
}

/// The `Content-Type` of the Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// The `/metrics` body: the Prometheus text exposition of the installed recorder, or 404
/// when none is installed (metrics turned off).
pub fn metrics() -> Reply {
    match crate::metrics::render() {
        Some(text) => Reply::text(200, PROMETHEUS_TEXT, text),
        None => not_found(),
    }
}

/// The `/public` body.
pub fn public() -> Reply {
    Reply::ok(&Message {
        message: "Anyone can see this",
    })
}

/// The `/protected` body for verified claims.
pub fn protected(claims: &Claims) -> Reply {
    Reply::ok(&Granted {
        message: "Access granted",
        user: claims,
    })
}

/// The `/admin` body for verified claims that carry the admin role: the claims as sent go to
/// the body, their typed view `caller` to the audit log.
pub fn admin(claims: &Claims, caller: &Caller) -> Reply {
    caller.log_access(routes::ADMIN);
    Reply::ok(&Granted {
        message: "Admin access",
        user: claims,
    })
}

/// The `/me` body for an API key's owner.
pub fn me(user: &ApiKeyUser) -> Reply {
    Reply::ok(&json!({ "user": user.name }))
}

/// `POST /dev/token`: mints a token from a JSON object of claims (development mode).
pub fn dev_token(app: &AppState, body: &[u8]) -> Reply {
    let Some(dev) = app.dev_mode() else {
        return not_found();
    };
    match dev.mint_from_body(body) {
        Ok(token) => Reply::ok(&token),
        Err(error) => {
            tracing::info!(error = error.code(), reason = %error.description(), "dev token refused");
            error.reply()
        }
    }
}

/// `GET /.well-known/openid-configuration` (development mode).
pub fn openid_configuration(app: &AppState) -> Reply {
    match app.dev_mode() {
        Some(dev) => Reply::ok(&dev.issuer().discovery_document()),
        None => not_found(),
    }
}

/// `GET /.well-known/jwks.json` (development mode).
pub fn jwks(app: &AppState) -> Reply {
    match app.dev_mode() {
        Some(dev) => Reply::ok(dev.issuer().jwks()),
        None => not_found(),
    }
}

/// `GET /.well-known/oauth-protected-resource` (with `AUTH_PUBLIC_URL`): RFC 9728 metadata.
pub fn resource_metadata(auth: &Auth) -> Reply {
    match auth.resource_metadata() {
        Some(metadata) => metadata.reply(),
        None => not_found(),
    }
}

/// A JSON 404: unknown routes, and development routes outside development mode.
pub fn not_found() -> Reply {
    json_error(404, "not_found", "No such route")
}

/// A JSON 405 naming the methods the path serves in `Allow`.
pub fn method_not_allowed(allow: &[&str]) -> Reply {
    json_error(405, "method_not_allowed", "Method not allowed")
        .with_header("allow", allow.join(", "))
}

/// A JSON 413, for request bodies over the route's limit.
pub fn payload_too_large() -> Reply {
    json_error(413, "payload_too_large", "Request body is too large")
}

/// A JSON 411, for bodies sent without a length where one is required.
pub fn length_required() -> Reply {
    json_error(411, "length_required", "Content-Length is required")
}

/// A JSON 431, for request heads over [`crate::limits::MAX_HEAD_BYTES`], where the sample
/// rather than its server answers them.
pub fn head_too_large() -> Reply {
    json_error(431, "invalid_request", "Request headers are too large")
}

/// A JSON 400 for a request the framework could not parse (bad query, bad body framing).
pub fn bad_request() -> Reply {
    json_error(400, "invalid_request", "The request cannot be processed")
}

/// A JSON 500, for a framework's internal error page (no client input reaches one).
pub fn internal_error() -> Reply {
    json_error(500, "server_error", "Internal server error")
}

/// A JSON error outside the authentication contract: `{"error": code, "error_description": ...}`.
fn json_error(status: u16, code: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}
