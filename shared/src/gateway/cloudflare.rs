//! Cloudflare Access: the `Cf-Access-Jwt-Assertion` header (or the `CF_Authorization`
//! cookie), RS256, keys at `<team domain>/cdn-cgi/access/certs`.
//!
//! Cloudflare's documentation, "Validate JWTs":
//! <https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/>.

use url::Url;

use super::{GatewayProfile, exact_value, jwks_location, key_url};
use crate::algorithm::Algorithm;
use crate::builder::BuildError;
use crate::issuer::{Issuer, KeySource};
use crate::token_source::TokenSource;

const NAME: &str = "Cloudflare Access";
/// The header Cloudflare Access adds to every request it lets through.
pub(crate) const HEADER: &str = "Cf-Access-Jwt-Assertion";
/// The cookie that carries the same token for browser requests.
pub(crate) const COOKIE: &str = "CF_Authorization";
/// Where a team publishes its signing keys, under its team domain.
const CERTS_PATH: &str = "/cdn-cgi/access/certs";

/// A Cloudflare Access application as an issuer, made by [`Issuer::cloudflare_access`]; it
/// converts into an [`Issuer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudflareAccess {
    team_domain: String,
    aud_tag: String,
    keys: KeySource,
}

impl Issuer {
    /// Verifies the assertion Cloudflare Access adds to every request it lets through: the
    /// `Cf-Access-Jwt-Assertion` header, else the `CF_Authorization` cookie (a client's own
    /// `Authorization` header is ignored), signed RS256 with the team's keys, published at
    /// `<team_domain>/cdn-cgi/access/certs` (whose `public_cert` and `public_certs` members
    /// are not used). `iss` must be the team domain exactly, and the `aud` array must
    /// contain the application's AUD tag.
    ///
    /// `team_domain` is `https://<team>.cloudflareaccess.com`; `aud_tag` is the Application
    /// Audience (AUD) tag from the application's overview in the Zero Trust dashboard.
    ///
    /// Cloudflare Access protects nothing unless the origin is reachable only through
    /// Cloudflare (a Cloudflare Tunnel, or a firewall that admits only Cloudflare's
    /// addresses): the assertion proves that a request came through Access, not that every
    /// request does.
    ///
    /// ```
    /// use api_auth::{Auth, HttpRequestHead, Issuer, KeySource};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
    /// # let team = api_auth::DevIssuer::generate("https://acme.cloudflareaccess.com", None)?;
    /// # let jwks = team.jwks().to_string();
    /// # let mut claims = serde_json::Map::new();
    /// # claims.insert("aud".into(), serde_json::json!([AUD]));
    /// # claims.insert("email".into(), "alice@example.com".into());
    /// # let assertion = team.mint(claims);
    /// let auth = Auth::builder()
    ///     .issuer(
    ///         Issuer::cloudflare_access("https://acme.cloudflareaccess.com", AUD)?
    /// #           .keys(KeySource::jwks_document(jwks))?
    ///     )
    ///     .build()?;
    ///
    /// // Cloudflare's header is verified...
    /// let request = http::Request::get("/orders")
    ///     .header("cf-access-jwt-assertion", &assertion)
    ///     .body(())?;
    /// let claims = auth
    ///     .authenticate(&HttpRequestHead::new(request.headers(), request.uri()))
    ///     .await?;
    /// assert_eq!(claims.get("email"), Some(&"alice@example.com".into()));
    ///
    /// // ...and the client's own Authorization header is not a credential.
    /// let request = http::Request::get("/orders")
    ///     .header("authorization", format!("Bearer {assertion}"))
    ///     .body(())?;
    /// let refusal = auth
    ///     .authenticate(&HttpRequestHead::new(request.headers(), request.uri()))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(refusal.code(), "missing_token");
    /// # Ok(())
    /// # }
    /// ```
    pub fn cloudflare_access(
        team_domain: &str,
        aud_tag: &str,
    ) -> Result<CloudflareAccess, BuildError> {
        let team_domain = parse_team_domain(team_domain)?;
        let aud_tag = exact_value(NAME, "aud_tag", aud_tag)?;
        let certs = Url::parse(&format!("{team_domain}{CERTS_PATH}")).map_err(|_| {
            BuildError::InvalidGatewaySetting {
                gateway: NAME,
                setting: "team_domain",
                reason: "not a host name",
            }
        })?;
        Ok(CloudflareAccess {
            team_domain,
            aud_tag,
            keys: KeySource::JwksUrl(certs),
        })
    }
}

impl CloudflareAccess {
    /// Takes the keys from `source` instead of `<team domain>/cdn-cgi/access/certs` (a
    /// mirror, a proxy, a test). Discovery is refused: Cloudflare Access publishes no
    /// discovery document.
    pub fn keys(mut self, source: KeySource) -> Result<Self, BuildError> {
        self.keys = jwks_location(NAME, source)?;
        Ok(self)
    }

    /// [`keys`](Self::keys) from a JWKS at `url`.
    pub fn key_url(self, url: &str) -> Result<Self, BuildError> {
        let url = key_url(NAME, url)?;
        self.keys(KeySource::JwksUrl(url))
    }

    /// The team domain: the `iss` of the team's tokens.
    pub fn team_domain(&self) -> &str {
        &self.team_domain
    }
}

impl From<CloudflareAccess> for Issuer {
    fn from(access: CloudflareAccess) -> Self {
        let token_source = TokenSource::header(HEADER)
            .and_then(|source| source.or_cookie(COOKIE))
            .unwrap_or_default();
        Issuer::for_gateway(
            access.team_domain,
            access.keys,
            GatewayProfile {
                name: NAME,
                algorithm: Algorithm::RS256,
                token_source,
                audience: Some(access.aud_tag),
                alb: None,
            },
        )
    }
}

/// `https://<team>.cloudflareaccess.com`, as Cloudflare writes it in `iss`: an `https` origin
/// with no path, query or credentials (a trailing `/` is dropped).
fn parse_team_domain(value: &str) -> Result<String, BuildError> {
    let invalid = |reason| BuildError::InvalidGatewaySetting {
        gateway: NAME,
        setting: "team_domain",
        reason,
    };
    let url = Url::parse(value).map_err(|_| invalid("not a URL"))?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "not an https URL such as https://<team>.cloudflareaccess.com",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("a URL with credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a URL with a path, query or fragment"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

    #[test]
    fn the_team_domain_is_an_https_origin() {
        let access = Issuer::cloudflare_access("https://acme.cloudflareaccess.com/", AUD).unwrap();
        assert_eq!(access.team_domain(), "https://acme.cloudflareaccess.com");
        let issuer = Issuer::from(access);
        assert_eq!(issuer.iss(), "https://acme.cloudflareaccess.com");
        assert_eq!(
            issuer.source(),
            &KeySource::jwks_url("https://acme.cloudflareaccess.com/cdn-cgi/access/certs").unwrap()
        );
        for bad in [
            "acme.cloudflareaccess.com",
            "http://acme.cloudflareaccess.com",
            "https://acme.cloudflareaccess.com/app",
            "https://user:pw@acme.cloudflareaccess.com",
            "https://acme.cloudflareaccess.com?x=1",
        ] {
            let refused = Issuer::cloudflare_access(bad, AUD).unwrap_err();
            assert!(
                matches!(
                    refused,
                    BuildError::InvalidGatewaySetting {
                        setting: "team_domain",
                        ..
                    }
                ),
                "{bad}: {refused}"
            );
        }
        for bad in ["", " tag", "tag\n"] {
            assert!(Issuer::cloudflare_access("https://a.cloudflareaccess.com", bad).is_err());
        }
    }

    #[test]
    fn keys_can_be_moved_but_not_discovered() {
        let access = Issuer::cloudflare_access("https://acme.cloudflareaccess.com", AUD).unwrap();
        assert!(access.clone().keys(KeySource::Discovery).is_err());
        assert!(
            access
                .clone()
                .key_url("ftp://mirror.example/certs")
                .is_err()
        );
        let moved = access.key_url("http://127.0.0.1:8080/certs").unwrap();
        assert_eq!(
            Issuer::from(moved).source(),
            &KeySource::jwks_url("http://127.0.0.1:8080/certs").unwrap()
        );
    }
}
