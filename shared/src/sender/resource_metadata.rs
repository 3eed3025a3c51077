//! OAuth 2.0 protected resource metadata (RFC 9728): the document that tells a client which
//! authorization servers issue tokens for this API and how to present them.

use serde::{Deserialize, Serialize};

use super::public_origin::PublicOrigin;
use crate::algorithm::Algorithm;
use crate::reply::Reply;

/// Where the metadata is served (RFC 9728 §3: the well-known URI suffix
/// `oauth-protected-resource`, inserted after the origin of a resource without a path).
pub const PROTECTED_RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The protected resource metadata document (RFC 9728 §2).
///
/// ```
/// use api_auth::{Algorithm, ProtectedResourceMetadata, PublicOrigin};
///
/// let origin = PublicOrigin::parse("https://api.example.com")?;
/// let metadata = ProtectedResourceMetadata::new(&origin, ["https://login.example.com"])
///     .with_dpop(&[Algorithm::ES256], false);
/// assert_eq!(
///     serde_json::to_value(&metadata)?,
///     serde_json::json!({
///         "resource": "https://api.example.com",
///         "authorization_servers": ["https://login.example.com"],
///         "bearer_methods_supported": ["header"],
///         "dpop_signing_alg_values_supported": ["ES256"],
///         "dpop_bound_access_tokens_required": false
///     })
/// );
/// assert_eq!(
///     api_auth::resource_metadata_parameter(&origin),
///     r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the public origin (RFC 9728 §2 `resource`, which §3.3
    /// requires to be the URL the metadata was looked up for).
    pub resource: String,
    /// The issuers whose tokens the resource accepts (§2 `authorization_servers`).
    pub authorization_servers: Vec<String>,
    /// How tokens are presented: only in the `Authorization` header (§2, RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
    /// The algorithms DPoP proofs may use (§2, RFC 9449 §5.1), when DPoP is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether every token must be DPoP-bound (§2), when DPoP is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens_required: Option<bool>,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource at `origin`, whose tokens these servers issue.
    pub fn new(
        origin: &PublicOrigin,
        authorization_servers: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            resource: origin.as_str().to_owned(),
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
            bearer_methods_supported: vec!["header".to_owned()],
            dpop_signing_alg_values_supported: None,
            dpop_bound_access_tokens_required: None,
        }
    }

    /// Declares DPoP: the proof algorithms, and whether only bound tokens are accepted.
    #[must_use]
    pub fn with_dpop(mut self, algorithms: &[Algorithm], required: bool) -> Self {
        let mut names: Vec<String> = Vec::with_capacity(algorithms.len());
        for alg in algorithms {
            if !names.iter().any(|name| name == alg.name()) {
                names.push(alg.name().to_owned());
            }
        }
        self.dpop_signing_alg_values_supported = Some(names);
        self.dpop_bound_access_tokens_required = Some(required);
        self
    }

    /// The `200` response serving the document (`application/json`, RFC 9728 §3.2).
    pub fn reply(&self) -> Reply {
        Reply::ok(self)
    }
}

/// The URL of the metadata of the resource at `origin`.
pub fn resource_metadata_url(origin: &PublicOrigin) -> String {
    format!("{origin}{PROTECTED_RESOURCE_METADATA_PATH}")
}

/// The `resource_metadata` parameter every `401` challenge carries (RFC 9728 §5.1), to be
/// appended to a challenge after `", "`.
pub fn resource_metadata_parameter(origin: &PublicOrigin) -> String {
    // An origin's ASCII serialisation holds no `"` or `\`: it needs no escaping.
    format!("resource_metadata=\"{}\"", resource_metadata_url(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_dpop_the_dpop_members_are_absent() {
        let origin = PublicOrigin::parse("https://api.example.com:8443/").unwrap();
        let metadata = ProtectedResourceMetadata::new(&origin, Vec::<String>::new());
        let json = metadata.reply().body_json();
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://api.example.com:8443",
                "authorization_servers": [],
                "bearer_methods_supported": ["header"]
            })
        );
        assert_eq!(
            resource_metadata_url(&origin),
            "https://api.example.com:8443/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn dpop_algorithms_are_listed_once() {
        let origin = PublicOrigin::parse("https://api.example.com").unwrap();
        let metadata = ProtectedResourceMetadata::new(&origin, ["https://a", "https://b"])
            .with_dpop(
                &[Algorithm::EdDSA, Algorithm::Ed25519, Algorithm::EdDSA],
                true,
            );
        assert_eq!(
            metadata.dpop_signing_alg_values_supported,
            Some(vec!["EdDSA".to_owned(), "Ed25519".to_owned()])
        );
        assert_eq!(metadata.dpop_bound_access_tokens_required, Some(true));
        assert_eq!(metadata.reply().status, 200);
    }
}
