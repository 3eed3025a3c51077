//! The verified claims of a token, handed to route handlers.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// The claims of a verified token: every claim as sent, plus typed helpers for the ones
/// routes use. Cloning is cheap (the map is shared), so cached tokens cost no copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Arc<Map<String, Value>>);

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Claims {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self(Arc::new(map))
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// One claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The subject (`sub`).
    pub fn sub(&self) -> Option<&str> {
        self.0.get("sub").and_then(Value::as_str)
    }

    /// The expiry (`exp`), in Unix seconds; verified tokens always have one.
    pub fn exp(&self) -> i64 {
        self.0.get("exp").and_then(Value::as_i64).unwrap_or(0)
    }

    /// The not-before time (`nbf`), if any.
    pub fn nbf(&self) -> Option<i64> {
        self.0.get("nbf").and_then(Value::as_i64)
    }

    /// The entries of the `roles` array that are strings.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.0
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// The space-separated entries of `scope` (RFC 8693 §4.2).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0
            .get("scope")
            .and_then(Value::as_str)
            .into_iter()
            .flat_map(str::split_ascii_whitespace)
    }

    /// Whether `role` is among the roles or the scopes.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role) || self.scopes().any(|s| s == role)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => Claims::new(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn roles_and_scopes() {
        assert!(claims(json!({"roles":["user","admin"]})).has_role("admin"));
        assert!(claims(json!({"scope":"read admin"})).has_role("admin"));
        assert!(!claims(json!({"scope":"administrator"})).has_role("admin"));
        assert!(!claims(json!({"roles":"admin"})).has_role("admin"));
        assert!(!claims(json!({"roles":[1, null]})).has_role("admin"));
        assert_eq!(claims(json!({"sub":"alice"})).sub(), Some("alice"));
    }
}
