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

    /// Adds a header.
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
