//! OpenID Connect discovery of an issuer's key set (OpenID Connect Discovery 1.0 §4).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use url::Url;

use super::http::fetch;
use super::{Location, Remote, lock};
use crate::fetched_json::{Text, skip_elements};
use crate::redacted_url::Redacted;

/// The key set URL, and whether it came from a discovery document: configured, discovered
/// from the issuer (remembered until a fetch of it fails), or the conventional path when the
/// issuer publishes no discovery document.
pub(super) async fn jwks_url(remote: &Remote) -> Result<(Url, bool), String> {
    let issuer = match &remote.location {
        Location::Jwks(url) | Location::PemKey { url, .. } => return Ok((url.clone(), false)),
        Location::Discovery(issuer) => issuer,
    };
    if let Some(url) = lock(&remote.state).discovered.clone() {
        return Ok((url, true));
    }
    let base = issuer.as_str().trim_end_matches('/');
    // The issuer never carries credentials (refused when it is configured).
    let discovery = format!("{base}/.well-known/openid-configuration");
    let found = match fetch(remote, &discovery).await {
        Ok((body, _)) => jwks_uri_in(&body, issuer).map_err(|refused| {
            tracing::warn!(%discovery, error = %refused, "discovery document refused");
            refused.to_string()
        })?,
        Err(e) => {
            tracing::warn!(%discovery, error = %e, "OpenID discovery failed");
            None
        }
    };
    match found {
        Some(url) => {
            tracing::info!(url = %Redacted(&url), "key set location discovered");
            lock(&remote.state).discovered = Some(url.clone());
            Ok((url, true))
        }
        None => Url::parse(&format!("{base}/.well-known/jwks.json"))
            .map(|url| (url, false))
            .map_err(|e| e.to_string()),
    }
}

/// The `jwks_uri` that a fetched discovery document names for `issuer` (the configured
/// issuer identifier), `None` when the document is not JSON or names none usable; an error
/// describes why the document is refused, in fixed words. Reachable for the fuzz targets and
/// the memory tests; not part of the documented API.
#[doc(hidden)]
pub fn discovery_jwks_uri(document: &[u8], issuer: &str) -> Result<Option<String>, String> {
    let issuer = Url::parse(issuer).map_err(|_| "the issuer is not a URL".to_owned())?;
    jwks_uri_in(document, &issuer)
        .map(|url| url.map(String::from))
        .map_err(|refused| refused.to_string())
}

/// The `jwks_uri` of a fetched discovery document for `issuer`; `None` when the document is
/// not JSON (the conventional location is tried then) or names none usable.
fn jwks_uri_in(document: &[u8], issuer: &Url) -> Result<Option<Url>, DiscoveryRefused> {
    read_discovery(document).map_or(Ok(None), |read| discovered_jwks_uri(&read, issuer))
}

/// The members of a discovery document that are read (OpenID Connect Discovery 1.0 §3);
/// `None` for a member that is absent or not one string.
#[derive(Debug, Default, PartialEq, Eq)]
struct Discovery<'a> {
    issuer: Option<Cow<'a, str>>,
    jwks_uri: Option<Cow<'a, str>>,
    /// Whether `issuer` or `jwks_uri` is there twice: which one is meant is then unknown.
    repeated: bool,
}

/// Reads a fetched discovery document, `None` when it is not JSON. Only `issuer` and
/// `jwks_uri` are kept, as text borrowed from the document; everything else is skipped as
/// it streams by (see [`crate::fetched_json`]). JSON that is not an object names neither.
fn read_discovery(document: &[u8]) -> Option<Discovery<'_>> {
    let mut deserializer = serde_json::Deserializer::from_slice(document);
    let read = deserializer.deserialize_any(DiscoveryVisitor).ok()?;
    deserializer.end().ok()?;
    Some(read)
}

struct DiscoveryVisitor;

impl DiscoveryVisitor {
    fn neither<'a, E>(self) -> Result<Discovery<'a>, E> {
        Ok(Discovery::default())
    }
}

impl<'de> Visitor<'de> for DiscoveryVisitor {
    type Value = Discovery<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a discovery document")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Discovery<'de>, E> {
        self.neither()
    }

    fn visit_i64<E>(self, _: i64) -> Result<Discovery<'de>, E> {
        self.neither()
    }

    fn visit_u64<E>(self, _: u64) -> Result<Discovery<'de>, E> {
        self.neither()
    }

    fn visit_f64<E>(self, _: f64) -> Result<Discovery<'de>, E> {
        self.neither()
    }

    fn visit_str<E>(self, _: &str) -> Result<Discovery<'de>, E> {
        self.neither()
    }

    fn visit_unit<E>(self) -> Result<Discovery<'de>, E> {
        self.neither()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Discovery<'de>, A::Error> {
        skip_elements(seq)?;
        self.neither()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Discovery<'de>, A::Error> {
        let mut read = Discovery::default();
        let (mut seen_issuer, mut seen_jwks_uri) = (false, false);
        while let Some(name) = map.next_key::<DiscoveryMember>()? {
            let (slot, seen) = match name {
                DiscoveryMember::Issuer => (&mut read.issuer, &mut seen_issuer),
                DiscoveryMember::JwksUri => (&mut read.jwks_uri, &mut seen_jwks_uri),
                DiscoveryMember::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            read.repeated |= std::mem::replace(seen, true);
            *slot = match map.next_value::<Text<'de>>()? {
                Text::Str(value) => Some(value),
                Text::Null | Text::Other => None,
            };
        }
        Ok(read)
    }
}

/// The members of a discovery document that are read; the name is compared as it streams
/// by, never kept.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DiscoveryMember {
    Issuer,
    JwksUri,
    #[serde(other)]
    Other,
}

/// Why a discovery document was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum DiscoveryRefused {
    /// Its `issuer` is not the configured one (OpenID Connect Discovery 1.0 §4.3).
    #[error("discovery document names a different issuer than the configured one")]
    IssuerMismatch,
    /// It names `issuer` or `jwks_uri` twice (RFC 8259 §4: names should be unique; a parser
    /// taking the last could read another document than the issuer meant).
    #[error("discovery document names the issuer or jwks_uri twice")]
    RepeatedMember,
    /// Its `jwks_uri` would fetch keys over plain HTTP for an `https` issuer.
    #[error("discovery document names a plain-http jwks_uri for an https issuer")]
    Downgrade,
}

/// The `jwks_uri` of a discovery document for `issuer`, `None` when it names none usable.
///
/// The document's `issuer` must be exactly the configured one; the only spelling difference
/// allowed is the `/` that URL parsing adds to an issuer without a path.
fn discovered_jwks_uri(
    document: &Discovery<'_>,
    issuer: &Url,
) -> Result<Option<Url>, DiscoveryRefused> {
    if document.repeated {
        return Err(DiscoveryRefused::RepeatedMember);
    }
    let named = document.issuer.as_deref();
    let configured = issuer.as_str();
    let without_root_slash = (issuer.path() == "/")
        .then(|| configured.strip_suffix('/'))
        .flatten();
    // OpenID Connect Discovery 1.0 §4.3: the `issuer` returned MUST be identical to the
    // issuer URL the configuration was retrieved for.
    if named.is_none_or(|named| named != configured && Some(named) != without_root_slash) {
        return Err(DiscoveryRefused::IssuerMismatch);
    }
    let Some(url) = document
        .jwks_uri
        .as_deref()
        .and_then(|uri| Url::parse(uri).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
    else {
        return Ok(None);
    };
    if issuer.scheme() == "https" && url.scheme() != "https" {
        return Err(DiscoveryRefused::Downgrade);
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The members read of a JSON document.
    fn read(document: &serde_json::Value) -> Discovery<'static> {
        let text = document.to_string();
        let read = read_discovery(text.as_bytes()).expect("JSON");
        let owned = |member: Option<Cow<'_, str>>| member.map(|m| Cow::Owned(m.into_owned()));
        Discovery {
            issuer: owned(read.issuer),
            jwks_uri: owned(read.jwks_uri),
            repeated: read.repeated,
        }
    }

    #[test]
    fn discovery_requires_the_configured_issuer() {
        let issuer = Url::parse("https://idp.test").unwrap();
        let doc =
            |iss: &str, jwks: &str| read(&serde_json::json!({"issuer": iss, "jwks_uri": jwks}));
        let keys = Url::parse("https://idp.test/keys").unwrap();
        for spelling in ["https://idp.test", "https://idp.test/"] {
            assert_eq!(
                discovered_jwks_uri(&doc(spelling, keys.as_str()), &issuer),
                Ok(Some(keys.clone()))
            );
        }
        for other in [
            "https://evil.test",
            "https://idp.test/tenant",
            "HTTPS://idp.test",
            "",
        ] {
            assert_eq!(
                discovered_jwks_uri(&doc(other, keys.as_str()), &issuer),
                Err(DiscoveryRefused::IssuerMismatch),
                "{other}"
            );
        }
        assert_eq!(
            discovered_jwks_uri(
                &read(&serde_json::json!({"jwks_uri": keys.as_str()})),
                &issuer
            ),
            Err(DiscoveryRefused::IssuerMismatch)
        );
        let tenant = Url::parse("https://idp.test/tenant").unwrap();
        assert_eq!(
            discovered_jwks_uri(&doc("https://idp.test/tenant/", keys.as_str()), &tenant),
            Err(DiscoveryRefused::IssuerMismatch)
        );
        assert_eq!(
            discovered_jwks_uri(&doc("https://idp.test", "http://idp.test/keys"), &issuer),
            Err(DiscoveryRefused::Downgrade)
        );
        assert_eq!(
            discovered_jwks_uri(&doc("https://idp.test", "ftp://idp.test/keys"), &issuer),
            Ok(None)
        );
    }

    #[test]
    fn only_issuer_and_jwks_uri_are_read() {
        let entry = |text: &str| discovery_jwks_uri(text.as_bytes(), "https://idp.test");
        let keys = Ok(Some("https://idp.test/keys".to_owned()));
        assert_eq!(
            entry(
                r#"{"a":[{"b":null}],"issuer":"https://idp.test","jwks_uri":"https://idp.test/keys","c":1}"#
            ),
            keys
        );
        assert_eq!(
            entry(
                r#"{"\u0069ssuer":"https:\/\/idp.test","jwks_uri":"https://idp.test/k\u0065ys"}"#
            ),
            keys
        );
        // Not JSON: the conventional location is tried, as before.
        for not_json in [
            "",
            "<html>",
            r#"{"issuer":"https://idp.test"}x"#,
            "{",
            r#"{"a":[1,]}"#,
        ] {
            assert_eq!(entry(not_json), Ok(None), "{not_json}");
        }
        let mismatch = Err(DiscoveryRefused::IssuerMismatch.to_string());
        for refused in [
            "[]",
            "null",
            r#""https://idp.test""#,
            r#"{"issuer":null,"jwks_uri":"https://idp.test/keys"}"#,
            r#"{"issuer":["https://idp.test"],"jwks_uri":"https://idp.test/keys"}"#,
            r#"{"issuer":{"issuer":"https://idp.test"}}"#,
        ] {
            assert_eq!(entry(refused), mismatch, "{refused}");
        }
        assert_eq!(
            entry(r#"{"issuer":"https://idp.test","jwks_uri":5}"#),
            Ok(None)
        );
        let repeated = Err(DiscoveryRefused::RepeatedMember.to_string());
        for twice in [
            r#"{"issuer":"https://evil.test","issuer":"https://idp.test","jwks_uri":"https://idp.test/keys"}"#,
            r#"{"issuer":"https://idp.test","jwks_uri":"https://evil.test/keys","jwks_uri":"https://idp.test/keys"}"#,
            r#"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/keys","jwks_\u0075ri":null}"#,
        ] {
            assert_eq!(entry(twice), repeated, "{twice}");
        }
    }

    #[test]
    fn deep_nesting_never_overflows_the_stack() {
        let entry = |text: &str| discovery_jwks_uri(text.as_bytes(), "https://idp.test");
        let head = r#""issuer":"https://idp.test","jwks_uri":"https://idp.test/keys""#;
        let mib = 1024 * 1024;
        for open in ["[".repeat(mib), r#"{"a":"#.repeat(mib / 5)] {
            assert_eq!(entry(&format!("{{{head},\"x\":{open}")), Ok(None));
            assert_eq!(entry(&open), Ok(None));
            assert_eq!(entry(&format!(r#"{{"issuer":{open}"#)), Ok(None));
        }
        let arrays = format!("{}{}", "[".repeat(mib / 2), "]".repeat(mib / 2));
        let objects = format!("{}0{}", r#"{"a":"#.repeat(mib / 6), "}".repeat(mib / 6));
        for deep in [arrays, objects] {
            assert_eq!(
                entry(&format!("{{{head},\"x\":{deep}}}")),
                Ok(Some("https://idp.test/keys".to_owned()))
            );
            assert_eq!(
                entry(&format!(
                    r#"{{"issuer":{deep},"jwks_uri":"https://idp.test/keys"}}"#
                )),
                Err(DiscoveryRefused::IssuerMismatch.to_string())
            );
            assert_eq!(
                entry(&deep),
                Err(DiscoveryRefused::IssuerMismatch.to_string())
            );
        }
    }
}
