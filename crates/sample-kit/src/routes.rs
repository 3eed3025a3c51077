//! The bodies of the sample route contract, shared by every framework.
//!
//! | route | auth | success |
//! |---|---|---|
//! | `GET /healthz` | none, never gated | `{"status":"ok","keys":{...}}` |
//! | `GET /readyz` | none, never gated | `503 {"status":"not_ready",...}` until the start-up fetches settle with keys, then `{"status":"ready",...}` for good |
//! | `GET /metrics` | none, never gated | Prometheus text exposition (404 when no recorder is installed) |
//! | `GET /public` | none | `{"message":"Anyone can see this"}` |
//! | `GET /protected` | bearer JWT | `{"message":"Access granted","user":{claims}}` |
//! | `GET /admin` | bearer JWT with role or scope `admin` | `{"message":"Admin access","user":{claims}}` |
//! | `GET /me` | `X-API-Key` | `{"user":"<name>"}` |
//!
//! Development mode adds `POST /dev/token`, `GET /.well-known/openid-configuration` and
//! `GET /.well-known/jwks.json`; outside it they answer 404.

use serde::Serialize;
use serde_json::json;

use api_auth::{ApiKeyUser, Auth, Claims, Reply};

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

/// The paths the shared-secret gate and the HTTPS redirect never apply to.
pub const UNGATED: [&str; 3] = [HEALTHZ, READYZ, METRICS];

/// Largest `POST /dev/token` body accepted; a longer one is answered `413`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Whether a request's declared `Content-Length` (the raw header value) is over
/// [`MAX_BODY_BYTES`], so that it can be answered `413` before any of the body is read and the
/// client sees the answer rather than a reset. A length too long for `u64` is too large; a
/// missing or non-numeric value is not: the framework's own framing checks and the limited
/// read still apply.
pub fn declared_body_too_large(content_length: Option<&[u8]>) -> bool {
    let Some(digits) = content_length.map(<[u8]>::trim_ascii) else {
        return false;
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|digits| digits.parse::<usize>().ok())
        .is_none_or(|length| length > MAX_BODY_BYTES)
}

/// Whether `path` belongs to the development issuer (`/dev/token`, `/.well-known/*`).
pub fn is_dev_path(path: &str) -> bool {
    matches!(path, DEV_TOKEN | OPENID_CONFIGURATION | JWKS)
}

/// The methods `path` serves on this process: [`allowed_methods`], except that the
/// development issuer's paths do not exist outside development mode (`404` for every method).
pub fn served_methods(auth: &Auth, path: &str) -> Option<&'static [&'static str]> {
    if is_dev_path(path) && !auth.is_development() {
        return None;
    }
    allowed_methods(path)
}

/// The methods a route of the contract serves (for `Allow`); `None` for a path it lacks.
pub fn allowed_methods(path: &str) -> Option<&'static [&'static str]> {
    match path {
        DEV_TOKEN => Some(&["POST"]),
        HEALTHZ | READYZ | METRICS | PUBLIC | PROTECTED | ADMIN | ME | OPENID_CONFIGURATION
        | JWKS => Some(&["GET", "HEAD"]),
        _ => None,
    }
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

/// The `/admin` body for verified claims that carry the admin role.
pub fn admin(claims: &Claims) -> Reply {
    Reply::ok(&Granted {
        message: "Admin access",
        user: claims,
    })
}

/// The `/me` body for an API key's owner.
pub fn me(user: &ApiKeyUser) -> Reply {
    Reply::ok(&json!({ "user": user.name }))
}

/// A JSON 404: unknown routes, and development routes outside development mode.
pub fn not_found() -> Reply {
    client_error(404, "not_found", "No such route")
}

/// A JSON 405 naming the methods the path serves in `Allow`.
pub fn method_not_allowed(allow: &[&str]) -> Reply {
    client_error(405, "method_not_allowed", "Method not allowed")
        .with_header("allow", allow.join(", "))
}

/// A JSON 413, for request bodies over the route's limit.
pub fn payload_too_large() -> Reply {
    client_error(413, "payload_too_large", "Request body is too large")
}

/// A JSON 411, for bodies sent without a length where one is required.
pub fn length_required() -> Reply {
    client_error(411, "length_required", "Content-Length is required")
}

/// A JSON 400 for a request the framework could not parse (bad query, bad body framing).
pub fn bad_request() -> Reply {
    client_error(400, "invalid_request", "The request cannot be processed")
}

/// A JSON client error outside the authentication contract.
fn client_error(status: u16, code: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}

/// `POST /dev/token`: mints a token from a JSON object of claims (development mode).
pub fn dev_token(auth: &Auth, body: &[u8]) -> Reply {
    if let Some(dev) = auth.dev_issuer() {
        return match dev.mint_from_body(body) {
            Ok(token) => Reply::ok(&token),
            Err(error) => {
                tracing::info!(error = error.code(), reason = %error.description(), "dev token refused");
                error.reply()
            }
        };
    }
    let _ = (auth, body);
    not_found()
}

/// `GET /.well-known/openid-configuration` (development mode).
pub fn openid_configuration(auth: &Auth) -> Reply {
    if let Some(dev) = auth.dev_issuer() {
        return Reply::ok(&dev.discovery_document());
    }
    let _ = auth;
    not_found()
}

/// `GET /.well-known/jwks.json` (development mode).
pub fn jwks(auth: &Auth) -> Reply {
    if let Some(dev) = auth.dev_issuer() {
        return Reply::ok(dev.jwks());
    }
    let _ = auth;
    not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_over_the_limit_are_too_large() {
        assert!(!declared_body_too_large(None));
        assert!(!declared_body_too_large(Some(b"16384")));
        assert!(declared_body_too_large(Some(b"16385")));
        assert!(declared_body_too_large(Some(b" 2097152 ")));
        assert!(declared_body_too_large(Some(b"99999999999999999999999")));
        assert!(!declared_body_too_large(Some(b"-1")));
        assert!(!declared_body_too_large(Some(b"\xff")));
    }
}
