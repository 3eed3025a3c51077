//! [`Caller`]: who made a verified request, read from the token's claims into a type of the
//! samples' own, the way a service reads its own claims with `Auth::claims_as`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

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

/// A claim as text when it is a JSON string, else `None`. Written here rather than taken from
/// a crate because it is one match; it mirrors `api_auth::Claims::registered`, where a claim
/// of the wrong JSON type also reads as absent.
fn string_or_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use api_auth::Claims;
    use serde_json::json;

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
