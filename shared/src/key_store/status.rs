//! [`KeySetStatus`]: what `/healthz` and `/readyz` may tell about a key set.

use serde::Serialize;

/// What `/healthz` reports about the key set. Holds no key material or secret.
///
/// ```
/// use api_auth::{Auth, Issuer, KeySource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .build()?;
///
/// let [status] = auth.key_sets().try_into().map_err(|_| "one issuer, one status")?;
/// assert_eq!(status.issuer.as_deref(), Some("https://login.example.com"));
/// assert_eq!((status.source, status.count, status.stale), ("local", 1, false));
/// assert!(status.is_usable() && auth.is_ready());
///
/// // Serialisable as is for a health endpoint.
/// let health = serde_json::to_value(&status)?;
/// assert_eq!(health["count"], 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct KeySetStatus {
    /// The issuer whose keys these are (`None`: keys used without an `iss` check).
    pub issuer: Option<String>,
    /// `local` (keys given in code) or `remote` (fetched).
    pub source: &'static str,
    /// Usable keys in the current set.
    pub count: usize,
    /// Seconds since the current set was fetched.
    pub age_secs: Option<u64>,
    /// Whether the set is past its lifetime and served only because refreshes fail.
    pub stale: bool,
    /// The last refresh error, cleared by a success.
    pub last_error: Option<String>,
    /// Whether the set may still be used (not past its stale allowance).
    #[serde(skip)]
    pub(super) usable: bool,
}

impl KeySetStatus {
    /// Whether the set can verify tokens now: it holds keys, fresh or within the stale
    /// allowance.
    pub fn is_usable(&self) -> bool {
        self.count > 0 && self.usable
    }
}
