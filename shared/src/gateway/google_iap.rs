//! Google Cloud Identity-Aware Proxy: the `x-goog-iap-jwt-assertion` header, ES256, keys at
//! `https://www.gstatic.com/iap/verify/public_key-jwk`, `iss` `https://cloud.google.com/iap`.
//!
//! Google's documentation, "Securing your app with signed headers":
//! <https://cloud.google.com/iap/docs/signed-headers-howto>.

use url::Url;

use super::{GatewayProfile, jwks_location, key_url};
use crate::algorithm::Algorithm;
use crate::builder::BuildError;
use crate::issuer::{Issuer, KeySource};
use crate::token_source::TokenSource;

const NAME: &str = "Google Cloud IAP";
/// The header IAP adds to every request it lets through.
pub(crate) const HEADER: &str = "x-goog-iap-jwt-assertion";
/// The `iss` of every IAP assertion.
pub const GOOGLE_IAP_ISSUER: &str = "https://cloud.google.com/iap";
/// Where Google publishes IAP's signing keys as a JWK set.
const KEYS_URL: &str = "https://www.gstatic.com/iap/verify/public_key-jwk";

/// A Google Cloud IAP-protected backend as an issuer, made by [`Issuer::google_iap`]; it
/// converts into an [`Issuer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleIap {
    audience: String,
    keys: KeySource,
}

impl Issuer {
    /// Verifies the assertion Google Cloud IAP adds to every request it lets through: the
    /// `x-goog-iap-jwt-assertion` header (a client's own `Authorization` header is
    /// ignored), signed ES256 with the keys at
    /// `https://www.gstatic.com/iap/verify/public_key-jwk`, with `iss`
    /// `https://cloud.google.com/iap` and `aud` equal to `audience`.
    ///
    /// `audience` names the protected resource, in one of the two forms Google documents:
    /// `/projects/<project number>/global/backendServices/<backend service id>` (a load
    /// balancer's backend service) or `/projects/<project number>/apps/<project id>` (App
    /// Engine). Anything else is refused here, since no IAP assertion could match it.
    ///
    /// IAP protects nothing unless the backend is reachable only through the load balancer
    /// (or App Engine) that IAP guards: firewall rules that admit only Google's front ends.
    ///
    /// ```
    /// use api_auth::{Auth, HttpRequestHead, Issuer, KeySource};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// const BACKEND: &str = "/projects/123456789012/global/backendServices/4567890123456789";
    /// # let iap = api_auth::DevIssuer::generate_with(
    /// #     api_auth::GOOGLE_IAP_ISSUER, Some(BACKEND.into()), api_auth::DevKeyType::Es256)?;
    /// # let jwks = iap.jwks().to_string();
    /// # let mut claims = serde_json::Map::new();
    /// # claims.insert("email".into(), "alice@example.com".into());
    /// # let assertion = iap.mint(claims);
    /// let auth = Auth::builder()
    ///     .issuer(
    ///         Issuer::google_iap(BACKEND)?
    /// #           .keys(KeySource::jwks_document(jwks))?
    ///     )
    ///     .build()?;
    ///
    /// let request = http::Request::get("/orders")
    ///     .header("x-goog-iap-jwt-assertion", &assertion)
    ///     .body(())?;
    /// let claims = auth
    ///     .authenticate(&HttpRequestHead::new(request.headers(), request.uri()))
    ///     .await?;
    /// assert_eq!(claims.get("email"), Some(&"alice@example.com".into()));
    ///
    /// // An audience of another form can never match: refused when configured.
    /// assert!(Issuer::google_iap("123456789012").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn google_iap(audience: &str) -> Result<GoogleIap, BuildError> {
        if !is_iap_audience(audience) {
            return Err(BuildError::InvalidGatewaySetting {
                gateway: NAME,
                setting: "audience",
                reason: "not /projects/<number>/global/backendServices/<id> or \
                         /projects/<number>/apps/<project id>",
            });
        }
        let keys = Url::parse(KEYS_URL).map_err(|_| BuildError::InvalidGatewaySetting {
            gateway: NAME,
            setting: "key_url",
            reason: "not a URL",
        })?;
        Ok(GoogleIap {
            audience: audience.to_owned(),
            keys: KeySource::JwksUrl(keys),
        })
    }
}

impl GoogleIap {
    /// Takes the keys from `source` instead of Google's JWKS (a mirror, a proxy, a test).
    /// Discovery is refused: IAP's keys are at a fixed location.
    pub fn keys(mut self, source: KeySource) -> Result<Self, BuildError> {
        self.keys = jwks_location(NAME, source)?;
        Ok(self)
    }

    /// [`keys`](Self::keys) from a JWKS at `url`.
    pub fn key_url(self, url: &str) -> Result<Self, BuildError> {
        let url = key_url(NAME, url)?;
        self.keys(KeySource::JwksUrl(url))
    }

    /// The audience the assertions must carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }
}

impl From<GoogleIap> for Issuer {
    fn from(iap: GoogleIap) -> Self {
        Issuer::for_gateway(
            GOOGLE_IAP_ISSUER.to_owned(),
            iap.keys,
            GatewayProfile {
                name: NAME,
                algorithm: Algorithm::ES256,
                token_source: TokenSource::header(HEADER).unwrap_or_default(),
                audience: Some(iap.audience),
                alb: None,
            },
        )
    }
}

/// The two audience forms of IAP's documentation: `/projects/<number>/global/
/// backendServices/<id>` (numeric id) and `/projects/<number>/apps/<project id>` (a project
/// id: 6 to 30 lower-case letters, digits and hyphens, starting with a letter, not ending
/// with a hyphen).
fn is_iap_audience(audience: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    let project_id = |s: &str| {
        (6..=30).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let parts: Vec<&str> = audience.split('/').collect();
    match parts.as_slice() {
        ["", "projects", number, "global", "backendServices", id] => digits(number) && digits(id),
        ["", "projects", number, "apps", project] => digits(number) && project_id(project),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_documented_audience_forms_and_nothing_else() {
        for good in [
            "/projects/123456789012/global/backendServices/4567890123456789",
            "/projects/123456789012/apps/my-project-01",
        ] {
            assert!(Issuer::google_iap(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "123456789012",
            "/projects/123456789012/global/backendServices/",
            "/projects/abc/global/backendServices/1",
            "/projects/1/global/backendServices/1/",
            "/projects/1/apps/My-Project",
            "/projects/1/apps/short",
            "/projects/1/apps/ends-with-",
            "projects/1/apps/my-project",
            " /projects/1/apps/my-project",
            "/projects/1/regions/us-east1/backendServices/1",
        ] {
            assert!(Issuer::google_iap(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_issuer_is_googles() {
        let issuer = Issuer::from(Issuer::google_iap("/projects/1/apps/my-project").unwrap());
        assert_eq!(issuer.iss(), "https://cloud.google.com/iap");
        assert_eq!(issuer.source(), &KeySource::jwks_url(KEYS_URL).unwrap());
    }
}
