//! [`Caller`]: who made a verified request, read from the token's claims into a type of the
//! samples' own, the way a service reads its own claims with `Auth::claims_as`.

use std::fmt;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The subject and issuer of a verified token, typed. The contract accepts any JSON value in
/// claims it does not check, so a claim that is not a string reads as absent rather than
/// refusing the request: every verified token fits.
#[derive(Debug, Default, Deserialize)]
pub struct Caller {
    /// `sub`, when it is a string.
    #[serde(default, deserialize_with = "string_or_none")]
    pub sub: Option<String>,
    /// `iss`, when it is a string.
    #[serde(default, deserialize_with = "string_or_none")]
    pub iss: Option<String>,
}

impl Caller {
    /// Logs that this caller was let into `route` (an audit line: subject and issuer only,
    /// never the token).
    pub fn log_access(&self, route: &str) {
        tracing::info!(
            route,
            sub = self.sub.as_deref(),
            iss = self.iss.as_deref(),
            "access granted"
        );
    }
}

/// A claim as text when it is a JSON string, else `None`. It mirrors
/// `api_auth::Claims::registered`, where a claim of the wrong JSON type also reads as absent.
/// A visitor rather than a `serde_json::Value` read: a claim of another type is skipped, never
/// built (a `Value` of nested objects costs many times the token's size).
fn string_or_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_any(StringOrNone)
}

struct StringOrNone;

impl<'de> Visitor<'de> for StringOrNone {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Some(text))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(access).map(|_| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(access).map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use api_auth::Claims;
    use serde_json::{Value, json};

    use super::*;

    fn caller(claims: Value) -> Caller {
        let claims = Claims::from_map(claims.as_object().cloned().unwrap_or_default());
        claims.deserialize().unwrap()
    }

    #[test]
    fn strings_are_read() {
        let c = caller(json!({"sub": "alice", "iss": "https://idp.example", "exp": 1}));
        assert_eq!(c.sub.as_deref(), Some("alice"));
        assert_eq!(c.iss.as_deref(), Some("https://idp.example"));
    }

    #[test]
    fn every_claim_set_fits() {
        for claims in [
            json!({}),
            json!({"sub": 5, "iss": null}),
            json!({"sub": ["a"], "iss": {"x": 1}, "roles": "admin"}),
        ] {
            let c = caller(claims);
            assert_eq!((c.sub, c.iss), (None, None));
        }
    }
}
