//! OpenID Connect discovery of an issuer's key set (OpenID Connect Discovery 1.0 §4).

use url::Url;

use super::http::fetch;
use super::{Location, Remote, lock};
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
    let document = match fetch(remote, &discovery).await {
        Ok((body, _)) => serde_json::from_slice::<serde_json::Value>(&body).ok(),
        Err(e) => {
            tracing::warn!(%discovery, error = %e, "OpenID discovery failed");
            None
        }
    };
    let found = match document {
        Some(document) => discovered_jwks_uri(&document, issuer).map_err(|refused| {
            tracing::warn!(%discovery, error = %refused, "discovery document refused");
            refused.to_string()
        })?,
        None => None,
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

/// Why a discovery document was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum DiscoveryRefused {
    /// Its `issuer` is not the configured one (OpenID Connect Discovery 1.0 §4.3).
    #[error("discovery document names a different issuer than the configured one")]
    IssuerMismatch,
    /// Its `jwks_uri` would fetch keys over plain HTTP for an `https` issuer.
    #[error("discovery document names a plain-http jwks_uri for an https issuer")]
    Downgrade,
}

/// The `jwks_uri` of a discovery document for `issuer`, `None` when it names none usable.
///
/// The document's `issuer` must be exactly the configured one; the only spelling difference
/// allowed is the `/` that URL parsing adds to an issuer without a path.
fn discovered_jwks_uri(
    document: &serde_json::Value,
    issuer: &Url,
) -> Result<Option<Url>, DiscoveryRefused> {
    let named = document.get("issuer").and_then(serde_json::Value::as_str);
    let configured = issuer.as_str();
    let without_root_slash = (issuer.path() == "/")
        .then(|| configured.strip_suffix('/'))
        .flatten();
    if named.is_none_or(|named| named != configured && Some(named) != without_root_slash) {
        return Err(DiscoveryRefused::IssuerMismatch);
    }
    let Some(url) = document
        .get("jwks_uri")
        .and_then(serde_json::Value::as_str)
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

    #[test]
    fn discovery_requires_the_configured_issuer() {
        let issuer = Url::parse("https://idp.test").unwrap();
        let doc = |iss: &str, jwks: &str| serde_json::json!({"issuer": iss, "jwks_uri": jwks});
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
            discovered_jwks_uri(&serde_json::json!({"jwks_uri": keys.as_str()}), &issuer),
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
}
