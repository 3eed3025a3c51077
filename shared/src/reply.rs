//! A framework-neutral HTTP response: status, headers and a JSON body.

use serde::Serialize;
use serde_json::Value;

/// What a sample sends back, built by this crate and translated by each framework adapter
/// into its own response type. The body is serialised once, when the reply is built, straight
/// from borrowed data (no intermediate `Value` tree on the request path).
///
/// Every framework built on `http` 1 takes it as an `http::Response`; others copy
/// [`status`](Self::status), [`headers`](Self::headers), [`content_type`](Self::content_type)
/// and [`body`](Self::body) into their own response type.
///
/// ```
/// use api_auth::{AuthError, Reply};
///
/// let reply = Reply::ok(&serde_json::json!({ "status": "ok" }))
///     .with_header("cache-control", "no-store");
/// assert_eq!(reply.status, 200);
/// assert_eq!(reply.content_type(), "application/json");
/// assert_eq!(reply.body(), br#"{"status":"ok"}"#);
///
/// let response: http::Response<Vec<u8>> = reply.into();
/// assert_eq!(response.headers()["content-type"], "application/json");
/// assert_eq!(response.headers()["cache-control"], "no-store");
///
/// // In an axum handler, a refusal becomes the handler's response.
/// let refused: axum::response::Response = AuthError::MissingToken.reply().into();
/// assert_eq!(refused.status(), 401);
/// assert_eq!(refused.headers()["www-authenticate"], r#"Bearer realm="api""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`, `Location`, `Allow`); `Content-Type`
    /// is [`Reply::content_type`].
    pub headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

/// The `Content-Type` of JSON replies.
const JSON: &str = "application/json";

impl Reply {
    /// A `200 OK` with the given JSON body.
    pub fn ok(body: &impl Serialize) -> Self {
        Self::json(200, body)
    }

    /// A response with the given status and JSON body and no extra headers.
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: JSON,
            // Our bodies are maps with string keys and plain values: serialising them cannot
            // fail, and an empty body would only be a visible bug, not a hazard.
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// A response with the given status, `Content-Type` and body (not JSON: `/metrics`).
    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type,
            body: body.into(),
        }
    }

    /// The body's `Content-Type` (`application/json` unless built by [`Reply::text`]).
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Adds a header; `name` must be lower-case.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The JSON body, serialised.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The JSON body, serialised, taken out of the reply.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The JSON body parsed back into a value (for tests and inspection).
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl<B: From<Vec<u8>>> From<Reply> for http::Response<B> {
    /// The reply as an `http` 1 response with its `Content-Type`; the type every
    /// framework built on `http` 1 (axum, warp, poem) converts from.
    fn from(reply: Reply) -> Self {
        let status =
            http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::BAD_REQUEST);
        let headers = reply.headers;
        let content_type = http::HeaderValue::from_static(reply.content_type);
        let mut response = http::Response::new(B::from(reply.body));
        *response.status_mut() = status;
        let map = response.headers_mut();
        map.insert(http::header::CONTENT_TYPE, content_type);
        for (name, value) in headers {
            // Header values come from this crate (challenges, URLs already parsed as URIs);
            // one that is not a valid header value is dropped rather than sent malformed.
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                map.append(http::HeaderName::from_static(name), value);
            }
        }
        response
    }
}
