//! The verified claims of a token, handed to route handlers: raw, registered, or typed.

use std::mem::size_of;
use std::sync::Arc;

use serde::de::value::MapDeserializer;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{AuthError, TokenError};

/// The claims of a verified token: every claim as sent, the registered ones typed
/// ([`Claims::registered`]), and the whole set as your own type ([`Claims::deserialize`]).
/// Cloning is cheap (the map is shared), so cached tokens cost no copy.
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct MyClaims<'a> {
///     sub: &'a str,
///     #[serde(default)]
///     tenant: Option<String>,
/// }
///
/// # let claims = api_auth::Claims::from_map(serde_json::json!({
/// #     "sub": "alice", "tenant": "acme", "exp": 2000000000, "iss": "https://idp.example"
/// # }).as_object().cloned().unwrap_or_default());
/// // `claims` is what `Auth::verify` or `Auth::authenticate` returned.
/// let mine: MyClaims = claims.deserialize()?;
/// assert_eq!(mine.sub, "alice");
/// assert_eq!(mine.tenant.as_deref(), Some("acme"));
/// assert_eq!(claims.registered().iss, Some("https://idp.example"));
/// assert_eq!(claims.get("tenant"), Some(&serde_json::json!("acme")));
/// # Ok::<(), api_auth::ClaimsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Arc<Map<String, Value>>);

/// The registered claims of RFC 7519 §4.1, read from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredClaims<'a> {
    /// `iss`: the issuer (always present when issuers are listed).
    pub iss: Option<&'a str>,
    /// `sub`: the subject.
    pub sub: Option<&'a str>,
    /// `aud`: the audiences, whether sent as one string or an array.
    pub aud: Vec<&'a str>,
    /// `exp`: expiry, in Unix seconds (always present on a verified token).
    pub exp: i64,
    /// `nbf`: not before, in Unix seconds.
    pub nbf: Option<i64>,
    /// `iat`: issued at, in Unix seconds.
    pub iat: Option<i64>,
    /// `jti`: the token's unique id.
    pub jti: Option<&'a str>,
}

/// The claims of a verified token do not fit the type they were read into.
///
/// It converts into [`AuthError`] as an `invalid_token` refusal whose description does
/// not repeat any claim value; the serde message (which may) is in
/// [`ClaimsError::detail`], for logs at the operator's discretion.
#[derive(Debug, thiserror::Error)]
#[error("the token's claims do not have the expected shape")]
pub struct ClaimsError(#[source] serde_json::Error);

impl ClaimsError {
    /// The deserialiser's own message (may quote a claim value).
    pub fn detail(&self) -> String {
        self.0.to_string()
    }
}

impl From<ClaimsError> for AuthError {
    fn from(_: ClaimsError) -> Self {
        AuthError::InvalidToken(TokenError::InvalidClaim("claims"))
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Claims {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self(Arc::new(map))
    }

    /// Wraps a map of claims, for tests of code that takes [`Claims`]. Nothing is verified:
    /// claims a service acts on come from [`crate::Auth::verify`].
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self::new(map)
    }

    /// The claims as your own type, which may borrow from them (`&str` fields).
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ClaimsError> {
        let entries = self.0.iter().map(|(name, value)| (name.as_str(), value));
        T::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries)).map_err(ClaimsError)
    }

    /// The registered claims, typed. A claim of the wrong JSON type reads as absent.
    pub fn registered(&self) -> RegisteredClaims<'_> {
        let text = |name| self.0.get(name).and_then(Value::as_str);
        let aud = match self.0.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        RegisteredClaims {
            iss: text("iss"),
            sub: text("sub"),
            aud,
            exp: self.exp(),
            nbf: self.nbf(),
            iat: self.0.get("iat").and_then(Value::as_i64),
            jti: text("jti"),
        }
    }

    /// An estimate of the heap memory the claims hold, in bytes: every string's, array's
    /// and object node's allocation, plus the allocator's bookkeeping for each. Used to weigh
    /// token-cache entries, so that large tokens count for what they hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        ALLOCATION_OVERHEAD.saturating_add(object_bytes(&self.0))
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

/// What the allocator adds to each allocation (header and rounding), roughly.
const ALLOCATION_OVERHEAD: usize = 16;

/// What one object member costs besides its name's and value's own heap: its slot in a
/// `BTreeMap` node (name and value inline), with room for nodes being half empty.
const MEMBER_SLOT: usize = 2 * (size_of::<String>() + size_of::<Value>());

fn object_bytes(map: &Map<String, Value>) -> usize {
    map.iter().fold(0, |total: usize, (name, value)| {
        total
            .saturating_add(MEMBER_SLOT)
            .saturating_add(string_bytes(name))
            .saturating_add(value_bytes(value))
    })
}

fn string_bytes(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len().saturating_add(ALLOCATION_OVERHEAD)
    }
}

/// The heap held by one value, not counting its own inline slot. Recursion is bounded by
/// the JSON parser's nesting limit.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => string_bytes(s),
        Value::Array(items) => items.iter().fold(
            items
                .capacity()
                .saturating_mul(size_of::<Value>())
                .saturating_add(ALLOCATION_OVERHEAD),
            |total, item| total.saturating_add(value_bytes(item)),
        ),
        Value::Object(map) => object_bytes(map).saturating_add(ALLOCATION_OVERHEAD),
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

    #[test]
    fn typed_and_registered_views() {
        #[derive(Deserialize)]
        struct Mine<'a> {
            sub: &'a str,
            level: u8,
        }
        let c = claims(json!({"sub":"bob","level":3,"aud":["a","b"],"exp":10,"jti":"j"}));
        let mine: Mine = c.deserialize().unwrap();
        assert_eq!((mine.sub, mine.level), ("bob", 3));
        let registered = c.registered();
        assert_eq!(registered.aud, ["a", "b"]);
        assert_eq!((registered.exp, registered.jti), (10, Some("j")));
        let wrong = claims(json!({"sub":"bob","level":"high"}));
        let err = wrong.deserialize::<Mine>().err().unwrap();
        assert!(err.detail().contains("high"));
        assert!(!AuthError::from(err).description().contains("high"));
    }

    #[test]
    fn heap_bytes_counts_what_the_claims_hold() {
        let small = claims(json!({"sub":"alice"})).heap_bytes();
        assert!(small < 256, "{small}");
        let array = claims(json!({"sub":"x","a":vec![0; 3000]})).heap_bytes();
        assert!(array >= 3000 * size_of::<Value>(), "{array}");
        let strings = claims(json!({"a":vec!["abcdefgh"; 1000]})).heap_bytes();
        assert!(strings >= 1000 * (size_of::<Value>() + 8), "{strings}");
        let nested = claims(json!({"a":{"b":{"c":"x".repeat(10_000)}}})).heap_bytes();
        assert!(nested >= 10_000, "{nested}");
    }
}
