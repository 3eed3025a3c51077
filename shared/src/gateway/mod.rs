//! Gateway assertions: the signed JWT a gateway in front of the service adds to every request
//! it lets through, verified the way its vendor specifies.
//!
//! One constructor per gateway sets everything in one call: the issuer, where the keys are,
//! the one algorithm the gateway signs with, where the token is found, the audience and the
//! vendor's quirks.
//!
//! | constructor | header | algorithm | keys |
//! |---|---|---|---|
//! | [`Issuer::cloudflare_access`](crate::Issuer::cloudflare_access) | `Cf-Access-Jwt-Assertion`, else cookie `CF_Authorization` | RS256 | JWKS at `<team domain>/cdn-cgi/access/certs` |
//! | [`Issuer::google_iap`](crate::Issuer::google_iap) | `x-goog-iap-jwt-assertion` | ES256 | JWKS at `https://www.gstatic.com/iap/verify/public_key-jwk` |
//! | [`Issuer::aws_alb`](crate::Issuer::aws_alb) | `x-amzn-oidc-data` | ES256 | one PEM per `kid` at `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>` |
//!
//! A gateway issuer is the only issuer of its [`Auth`](crate::Auth): the token is read only
//! where the gateway puts it (a client's own `Authorization` header is ignored), so no other
//! kind of token could reach the verifier anyway.

mod alb_assertion;
mod aws_alb;
mod cloudflare;
mod google_iap;

pub(crate) use alb_assertion::AlbRules;
pub use aws_alb::AwsAlb;
pub use cloudflare::CloudflareAccess;
pub use google_iap::{GOOGLE_IAP_ISSUER, GoogleIap};
use url::Url;

use crate::algorithm::Algorithm;
use crate::builder::BuildError;
use crate::issuer::KeySource;
use crate::token_source::TokenSource;

/// What a gateway issuer imposes on the whole verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayProfile {
    /// The vendor's product name, for errors and logs.
    pub(crate) name: &'static str,
    /// The only algorithm the gateway signs with.
    pub(crate) algorithm: Algorithm,
    /// Where the gateway puts its assertion.
    pub(crate) token_source: TokenSource,
    /// The `aud` the assertion must carry (`None`: the vendor's token has none).
    pub(crate) audience: Option<String>,
    /// The AWS ALB's header checks and padded encoding.
    pub(crate) alb: Option<AlbRules>,
}

/// Which of the builder's own options are set, to check them against a gateway issuer.
pub(crate) struct BuilderOptions<'a> {
    pub(crate) issuers: usize,
    pub(crate) other_keys: bool,
    pub(crate) audience: bool,
    pub(crate) hs256_secret: bool,
    pub(crate) token_source: bool,
    pub(crate) sender_constraints: bool,
    pub(crate) algorithms: Option<&'a [Algorithm]>,
}

impl GatewayProfile {
    /// Checks that the builder's options leave this gateway's settings alone: a gateway
    /// issuer is the only issuer, and its audience, token source and algorithm are its own.
    pub(crate) fn check(&self, options: &BuilderOptions<'_>) -> Result<(), BuildError> {
        let gateway = self.name;
        if options.issuers != 1 || options.other_keys {
            return Err(BuildError::GatewayNotAlone { gateway });
        }
        let conflict = |option| Err(BuildError::GatewayConflict { gateway, option });
        if options.hs256_secret {
            return conflict("an HS256 secret");
        }
        if options.token_source {
            return conflict("a token source");
        }
        if options.audience {
            return conflict("an audience");
        }
        if options.sender_constraints {
            return conflict("DPoP or a certificate binding");
        }
        if options
            .algorithms
            .is_some_and(|list| !list.iter().any(|alg| alg.same_as(self.algorithm)))
        {
            return Err(BuildError::GatewayAlgorithm {
                gateway,
                algorithm: self.algorithm,
            });
        }
        Ok(())
    }
}

/// A key location override of a gateway whose keys are a JWKS at a fixed place: any key
/// source but discovery, which those gateways do not publish.
fn jwks_location(gateway: &'static str, source: KeySource) -> Result<KeySource, BuildError> {
    if matches!(source, KeySource::Discovery) {
        return Err(BuildError::InvalidGatewaySetting {
            gateway,
            setting: "key_url",
            reason: "a key set location, not discovery",
        });
    }
    Ok(source)
}

/// An `http` or `https` URL with a host, for a key location override.
fn key_url(gateway: &'static str, value: &str) -> Result<Url, BuildError> {
    Url::parse(value)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .ok_or(BuildError::InvalidGatewaySetting {
            gateway,
            setting: "key_url",
            reason: "not an http or https URL",
        })
}

/// A value compared byte for byte with a token's: not empty, no surrounding whitespace, no
/// control character.
fn exact_value(
    gateway: &'static str,
    setting: &'static str,
    value: &str,
) -> Result<String, BuildError> {
    if value.is_empty() || value.trim() != value || value.chars().any(char::is_control) {
        return Err(BuildError::InvalidGatewaySetting {
            gateway,
            setting,
            reason: "empty, or with whitespace or control characters",
        });
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Auth, Issuer, KeySource, TokenSource};

    const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

    fn access() -> Issuer {
        Issuer::cloudflare_access("https://acme.cloudflareaccess.com", AUD)
            .and_then(|access| access.keys(KeySource::jwks_document(r#"{"keys":[]}"#)))
            .map(Issuer::from)
            .unwrap()
    }

    #[test]
    fn a_gateway_issuer_refuses_what_contradicts_it() {
        let other = Issuer::new("urn:other", KeySource::jwks_document("{}")).unwrap();
        let refused = |builder: crate::AuthBuilder| builder.build().unwrap_err();
        assert!(matches!(
            refused(Auth::builder().issuer(access()).issuer(other)),
            BuildError::GatewayNotAlone { .. }
        ));
        assert!(matches!(
            refused(
                Auth::builder()
                    .issuer(access())
                    .keys_without_issuer(KeySource::jwks_document("{}"))
            ),
            BuildError::GatewayNotAlone { .. }
        ));
        for (builder, option) in [
            (
                Auth::builder().issuer(access()).audience(AUD),
                "an audience",
            ),
            (
                Auth::builder().issuer(access()).hs256_secret([7u8; 32]),
                "an HS256 secret",
            ),
            (
                Auth::builder()
                    .issuer(access())
                    .token_source(TokenSource::header("x-jwt").unwrap()),
                "a token source",
            ),
        ] {
            let error = refused(builder);
            assert!(
                matches!(error, BuildError::GatewayConflict { option: o, .. } if o == option),
                "{error}"
            );
        }
        let error = refused(
            Auth::builder()
                .issuer(access())
                .algorithms([Algorithm::ES256, Algorithm::PS256]),
        );
        assert_eq!(
            error.to_string(),
            "the algorithm allow-list does not contain RS256, which Cloudflare Access signs with"
        );
    }
}
