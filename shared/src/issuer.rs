//! Who issues the tokens a service accepts, and where each issuer's verification keys come
//! from.

use std::path::PathBuf;

use url::Url;

use crate::algorithm::Algorithm;
use crate::gateway::GatewayProfile;
use crate::redacted_url::{Redacted, redact_text};

/// Where an issuer's verification keys come from.
///
/// Remote sources ([`KeySource::Discovery`], [`KeySource::JwksUrl`]) are fetched in the
/// background, cached, refreshed ahead of expiry and kept through outages; local sources are
/// read once, when [`AuthBuilder::build`](crate::AuthBuilder::build) runs.
///
/// ```
/// use api_auth::{Algorithm, KeySource};
///
/// let remote = KeySource::jwks_url("https://idp.example/keys")?;
/// let document = KeySource::jwks_document(r#"{"keys": []}"#);
/// let file = KeySource::jwks_file("/etc/my-api/jwks.json");
/// let pem = KeySource::pem(Algorithm::RS256, "-----BEGIN PUBLIC KEY-----\n...");
/// # let _ = (remote, document, file, pem);
/// # Ok::<(), api_auth::BuildError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// OpenID Connect discovery from the issuer: the `jwks_uri` of
    /// `{issuer}/.well-known/openid-configuration`, else `{issuer}/.well-known/jwks.json`.
    Discovery,
    /// A JWK set fetched from this URL.
    JwksUrl(Url),
    /// A JWK set document given in code.
    JwksDocument(String),
    /// A JWK set document read from this file when the verifier is built.
    JwksFile(PathBuf),
    /// PEM-encoded public keys (`-----BEGIN PUBLIC KEY-----`), each verifying one algorithm.
    Pem(Vec<PemKey>),
    /// One PEM public key per `kid`, fetched from `url` followed by the `kid` as tokens name
    /// them (the AWS ALB's key distribution), each verifying `algorithm` only. Each key is
    /// cached like a key set; a `kid` that is not a plain identifier
    /// (`[A-Za-z0-9-]{1,128}`) is refused without a fetch.
    PemPerKid {
        /// Where the keys are: the `kid` is appended to it (it ends with `/`).
        url: Url,
        /// The algorithm every key verifies.
        algorithm: Algorithm,
    },
}

/// Shows a key set URL without the credentials it may carry.
impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Discovery => f.write_str("Discovery"),
            Self::JwksUrl(url) => f.debug_tuple("JwksUrl").field(&Redacted(url)).finish(),
            Self::JwksDocument(text) => f.debug_tuple("JwksDocument").field(text).finish(),
            Self::JwksFile(path) => f.debug_tuple("JwksFile").field(path).finish(),
            Self::Pem(keys) => f.debug_tuple("Pem").field(keys).finish(),
            Self::PemPerKid { url, algorithm } => f
                .debug_struct("PemPerKid")
                .field("url", &Redacted(url))
                .field("algorithm", algorithm)
                .finish(),
        }
    }
}

/// One PEM-encoded public key and the algorithm it verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemKey {
    /// The only algorithm tokens verified with this key may use.
    pub algorithm: Algorithm,
    /// The key id tokens name in their `kid` header, if they do.
    pub kid: Option<String>,
    /// The PEM text (SubjectPublicKeyInfo, or PKCS#1 for RSA).
    pub pem: String,
}

impl KeySource {
    /// A key set fetched from `url` (an `http` or `https` URL). Credentials in it
    /// (`https://user:password@host/...`) are sent as HTTP Basic authentication and never
    /// shown: logs, metric labels, errors and `Debug` output leave them out.
    pub fn jwks_url(url: &str) -> Result<Self, crate::BuildError> {
        Ok(Self::JwksUrl(http_url(url)?))
    }

    /// A key set document given as text.
    pub fn jwks_document(document: impl Into<String>) -> Self {
        Self::JwksDocument(document.into())
    }

    /// A key set document read from `path` when the verifier is built.
    pub fn jwks_file(path: impl Into<PathBuf>) -> Self {
        Self::JwksFile(path.into())
    }

    /// One PEM public key verifying `algorithm`, with no key id.
    pub fn pem(algorithm: Algorithm, pem: impl Into<String>) -> Self {
        Self::Pem(vec![PemKey {
            algorithm,
            kid: None,
            pem: pem.into(),
        }])
    }

    /// Whether the keys are fetched over HTTP (and so cached, refreshed and rate-limited).
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            Self::Discovery | Self::JwksUrl(_) | Self::PemPerKid { .. }
        )
    }
}

/// One accepted issuer: the exact `iss` its tokens carry and where its keys come from.
///
/// A token's `iss` picks the issuer before any key is looked up, so a key of one issuer
/// never verifies a token claiming another, and a token naming an issuer that is not
/// configured is refused without any fetch.
///
/// ```
/// use api_auth::{Issuer, KeySource};
///
/// // Keys found through OpenID Connect discovery.
/// let discovered = Issuer::discover("https://login.example.com/tenant")?;
/// // Keys at a known URL.
/// let explicit = Issuer::new(
///     "https://gateway.example.com",
///     KeySource::jwks_url("https://gateway.example.com/keys")?,
/// )?;
/// assert_eq!(discovered.iss(), "https://login.example.com/tenant");
/// # let _ = explicit;
/// # Ok::<(), api_auth::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    iss: String,
    url: Option<Url>,
    source: KeySource,
    /// Set by the gateway constructors ([`Issuer::cloudflare_access`] and the others).
    gateway: Option<GatewayProfile>,
}

impl Issuer {
    /// An issuer whose keys are found by OpenID Connect discovery; `iss` must be an `http`
    /// or `https` URL without credentials.
    pub fn discover(iss: &str) -> Result<Self, crate::BuildError> {
        let url = http_url(iss)?;
        refuse_credentials(iss)?;
        Ok(Self {
            iss: iss.to_owned(),
            url: Some(url),
            source: KeySource::Discovery,
            gateway: None,
        })
    }

    /// An issuer with keys from `source`. `iss` is compared byte for byte with each token's
    /// `iss`; it must be a URL only when `source` is [`KeySource::Discovery`].
    pub fn new(iss: &str, source: KeySource) -> Result<Self, crate::BuildError> {
        if matches!(source, KeySource::Discovery) {
            return Self::discover(iss);
        }
        if iss.is_empty() || iss.trim() != iss {
            return Err(crate::BuildError::InvalidIssuer {
                issuer: redact_text(iss),
                reason: "empty, or with surrounding whitespace",
            });
        }
        refuse_credentials(iss)?;
        Ok(Self {
            iss: iss.to_owned(),
            url: None,
            source,
            gateway: None,
        })
    }

    /// The exact `iss` value accepted; for an [AWS ALB](Issuer::aws_alb), the load
    /// balancer's ARN, which its assertions carry as `signer`.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// A gateway's issuer, with everything the gateway imposes (checked values only).
    pub(crate) fn for_gateway(iss: String, source: KeySource, gateway: GatewayProfile) -> Self {
        Self {
            iss,
            url: None,
            source,
            gateway: Some(gateway),
        }
    }

    /// What a gateway issuer imposes on the verifier, if this is one.
    pub(crate) fn gateway(&self) -> Option<&GatewayProfile> {
        self.gateway.as_ref()
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The issuer as a URL, for discovery.
    pub(crate) fn url(&self) -> Option<&Url> {
        self.url.as_ref()
    }
}

/// Refuses an issuer that is a URL with credentials, a query or a fragment: an issuer
/// identifier never has any of them (RFC 8414 §2, OpenID Connect Discovery 1.0 §4.3: the
/// `iss` of tokens is compared with it byte for byte), so they can only be a secret pasted
/// in the wrong place. The error shows the issuer without them.
fn refuse_credentials(iss: &str) -> Result<(), crate::BuildError> {
    let Ok(url) = Url::parse(iss) else {
        return Ok(());
    };
    let reason = if Redacted::has_credentials(&url) {
        "a URL with credentials (user:password@), which an issuer never has"
    } else if url.query().is_some() || url.fragment().is_some() {
        "a URL with a query or fragment, which an issuer never has"
    } else {
        return Ok(());
    };
    Err(crate::BuildError::InvalidIssuer {
        issuer: Redacted(&url).to_string(),
        reason,
    })
}

/// Parses an `http` or `https` URL with a host.
fn http_url(value: &str) -> Result<Url, crate::BuildError> {
    let invalid = |reason| crate::BuildError::InvalidUrl {
        url: redact_text(value),
        reason,
    };
    let url = Url::parse(value).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("not an http or https URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_needs_a_url() {
        assert!(Issuer::discover("https://idp.example/t").is_ok());
        assert!(Issuer::discover("idp.example").is_err());
        assert!(Issuer::discover("ftp://idp.example").is_err());
        assert!(Issuer::new("urn:gateway", KeySource::Discovery).is_err());
    }

    #[test]
    fn an_issuer_with_credentials_is_refused_without_repeating_them() {
        for refused in [
            Issuer::discover("https://user:hunter2@idp.example/t").unwrap_err(),
            Issuer::new(
                "https://user:hunter2@idp.example/t",
                KeySource::jwks_document("{}"),
            )
            .unwrap_err(),
            Issuer::discover("https://hunter2@idp.example").unwrap_err(),
        ] {
            let shown = refused.to_string();
            assert!(shown.contains("credentials"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn key_set_url_credentials_are_kept_for_use_but_never_shown() {
        let source = KeySource::jwks_url("https://user:hunter2@idp.example/keys").unwrap();
        let KeySource::JwksUrl(url) = &source else {
            panic!("a URL source");
        };
        assert_eq!(url.password(), Some("hunter2"), "used for the request");
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("user"),
            "{shown}"
        );
        let refused = KeySource::jwks_url("ftp://user:hunter2@idp.example/keys").unwrap_err();
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
    }

    #[test]
    fn explicit_keys_accept_any_exact_issuer() {
        let issuer = Issuer::new("urn:gateway", KeySource::jwks_document("{}")).unwrap();
        assert_eq!(issuer.iss(), "urn:gateway");
        assert!(Issuer::new(" urn:gateway", KeySource::jwks_document("{}")).is_err());
        assert!(Issuer::new("", KeySource::jwks_document("{}")).is_err());
    }
}
