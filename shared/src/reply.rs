//! A framework-neutral HTTP response: status, headers and a JSON body.

use serde_json::Value;

/// What a sample sends back, built by this crate and translated by each framework adapter
/// into its own response type.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`, `Location`); `Content-Type` is implied
    /// by the JSON body.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// A `200 OK` with the given JSON body.
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    /// A response with the given status and JSON body and no extra headers.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Adds a header; `name` must be lower-case.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The body serialised as JSON bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        // Serialising a `Value` cannot fail: its map keys are always strings.
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
}

impl<B: From<Vec<u8>>> From<Reply> for http::Response<B> {
    /// The reply as an `http` 1 response with `Content-Type: application/json`; the type every
    /// framework built on `http` 1 (axum, warp, poem) converts from.
    fn from(reply: Reply) -> Self {
        let mut response = http::Response::new(B::from(reply.body_bytes()));
        *response.status_mut() =
            http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        for (name, value) in reply.headers {
            // Header values come from this crate (challenges, URLs already parsed as URIs);
            // one that is not a valid header value is dropped rather than sent malformed.
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.append(http::HeaderName::from_static(name), value);
            }
        }
        response
    }
}
