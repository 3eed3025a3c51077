//! AWS Application Load Balancer: the `x-amzn-oidc-data` header, ES256 over base64url
//! segments *with* padding, one PEM public key per `kid` at
//! `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`, and a `signer` header field
//! holding the load balancer's ARN.
//!
//! AWS's documentation, "Authenticate users using an Application Load Balancer", section
//! "User claims encoding and signature verification":
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#user-claims-encoding>.

use super::alb_assertion::AlbRules;
use super::{GatewayProfile, exact_value, key_url};
use crate::algorithm::Algorithm;
use crate::builder::BuildError;
use crate::issuer::{Issuer, KeySource};
use crate::token_source::TokenSource;

const NAME: &str = "AWS ALB";
/// The header the load balancer adds to every authenticated request.
pub(crate) const HEADER: &str = "x-amzn-oidc-data";

/// An Application Load Balancer as an issuer, made by [`Issuer::aws_alb`]; it converts
/// into an [`Issuer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsAlb {
    rules: AlbRules,
    keys: KeySource,
}

impl Issuer {
    /// Verifies the `x-amzn-oidc-data` header an Application Load Balancer adds to each
    /// request it has authenticated (a client's own `Authorization` header is ignored): an
    /// ES256 JWT whose three segments are base64url **with** `=` padding (accepted for this
    /// issuer only; the signature covers the segments as sent), verified with the PEM key
    /// the region publishes for its `kid`.
    ///
    /// `alb_arn` is the load balancer's ARN
    /// (`arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>`). The
    /// header's `signer` must equal it exactly: every load balancer of a region signs with
    /// the same keys, so without this check anyone who creates a load balancer of their own
    /// in that region could mint assertions this service accepts. The header's `exp` (a
    /// number) is checked like a token's `exp`; the payload's `exp` and `iss`, when present,
    /// are checked too. The keys are fetched from
    /// `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>` (the region from the ARN)
    /// as tokens name them, each at most once per refetch cooldown, at most 100 held; a
    /// `kid` that is not a plain identifier (`[A-Za-z0-9-]{1,128}`) is refused without a
    /// fetch. Fetches for unknown `kid`s share one budget, at most 10 per cooldown (anyone
    /// who knows the `signer` can name a fresh `kid`, and its key is fetched before any
    /// signature can be checked): a request whose `kid` is not fetched now is refused with
    /// [`AuthError::KeyFetchDeferred`](crate::AuthError::KeyFetchDeferred), while the
    /// `kid`s most requests carry keep a share of the budget, so a real rotation still gets
    /// through a flood.
    ///
    /// The load balancer must be the only way to reach the service (a security group that
    /// admits only the load balancer), and its listener rule must authenticate every path
    /// this service protects.
    ///
    /// ```
    /// use api_auth::{Auth, HttpRequestHead, Issuer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// const ALB: &str =
    ///     "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/50dc6c495c0c9188";
    /// let auth = Auth::builder()
    ///     .issuer(
    ///         Issuer::aws_alb(ALB)?
    ///             .client_id("4fb2ud9rmdgnd0ak3n6p1ddm5k")?
    ///             .expected_issuer("https://login.example.com")?
    /// #           .key_url("http://127.0.0.1:9/")?
    ///     )
    ///     .build()?;
    ///
    /// // An assertion signed by another load balancer is refused before any key is fetched.
    /// let other_alb = concat!(
    ///     // {"alg":"ES256","kid":"7e4f8d32-0b8a-4ea4-ae5a-8b6f1a7e2c10","signer":"arn:aws:elasticloadbalancing:eu-west-1:999999999999:loadbalancer/app/evil/1","exp":4102444800}
    ///     "eyJhbGciOiJFUzI1NiIsImtpZCI6IjdlNGY4ZDMyLTBiOGEtNGVhNC1hZTVhLThiNmYxYTdlMmMxMCIsInNpZ25lciI6ImFybjphd3M6ZWxhc3RpY2xvYWRiYWxhbmNpbmc6ZXUtd2VzdC0xOjk5OTk5OTk5OTk5OTpsb2FkYmFsYW5jZXIvYXBwL2V2aWwvMSIsImV4cCI6NDEwMjQ0NDgwMH0=",
    ///     ".e30=.c2ln"
    /// );
    /// let request = http::Request::get("/orders")
    ///     .header("x-amzn-oidc-data", other_alb)
    ///     .body(())?;
    /// let refusal = auth
    ///     .authenticate(&HttpRequestHead::new(request.headers(), request.uri()))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(refusal.description(), "Token issuer is not accepted");
    /// # Ok(())
    /// # }
    /// ```
    pub fn aws_alb(alb_arn: &str) -> Result<AwsAlb, BuildError> {
        let region = alb_region(alb_arn).ok_or(BuildError::InvalidGatewaySetting {
            gateway: NAME,
            setting: "alb_arn",
            reason: "not an Application Load Balancer ARN \
                     (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>)",
        })?;
        let keys = key_url(
            NAME,
            &format!("https://public-keys.auth.elb.{region}.amazonaws.com/"),
        )?;
        Ok(AwsAlb {
            rules: AlbRules {
                signer: alb_arn.to_owned(),
                client: None,
                iss: None,
            },
            keys: KeySource::PemPerKid {
                url: keys,
                algorithm: Algorithm::ES256,
            },
        })
    }
}

impl AwsAlb {
    /// Requires the header's `client` (the OAuth client id the load balancer authenticates
    /// with) to equal `client_id`.
    pub fn client_id(mut self, client_id: &str) -> Result<Self, BuildError> {
        self.rules.client = Some(exact_value(NAME, "client_id", client_id)?);
        Ok(self)
    }

    /// Requires the header's `iss` (the identity provider the load balancer authenticates
    /// with), and the payload's when present, to equal `iss`.
    pub fn expected_issuer(mut self, iss: &str) -> Result<Self, BuildError> {
        self.rules.iss = Some(exact_value(NAME, "issuer", iss)?);
        Ok(self)
    }

    /// Fetches each key from `url` followed by the `kid` instead of the region's
    /// `https://public-keys.auth.elb.<region>.amazonaws.com/` (a mirror, a proxy, another
    /// partition, a test). A `/` is added when `url` does not end with one.
    pub fn key_url(mut self, url: &str) -> Result<Self, BuildError> {
        let mut url = key_url(NAME, url)?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        self.keys = KeySource::PemPerKid {
            url,
            algorithm: Algorithm::ES256,
        };
        Ok(self)
    }

    /// The load balancer's ARN, which the header's `signer` must equal.
    pub fn alb_arn(&self) -> &str {
        &self.rules.signer
    }
}

impl From<AwsAlb> for Issuer {
    fn from(alb: AwsAlb) -> Self {
        Issuer::for_gateway(
            alb.rules.signer.clone(),
            alb.keys,
            GatewayProfile {
                name: NAME,
                algorithm: Algorithm::ES256,
                token_source: TokenSource::header(HEADER).unwrap_or_default(),
                audience: None,
                alb: Some(alb.rules),
            },
        )
    }
}

/// The region of an Application Load Balancer ARN
/// (`arn:<partition>:elasticloadbalancing:<region>:<12-digit account>:loadbalancer/app/<name>/<id>`),
/// the partitions and region shape aws-jwt-verify accepts.
fn alb_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("elasticloadbalancing"), Some(region)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (Some(account), Some(resource)) = (parts.next(), parts.next()) else {
        return None;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/' || b == b'_')
    };
    let valid = matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        && is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("loadbalancer/app/")
            .is_some_and(plain);
    valid.then_some(region)
}

/// `<2 letters>-[gov-]<word>-<digit>`, as `eu-west-1` or `us-gov-west-1`.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let (geo, middle, number) = match parts.as_slice() {
        [geo, area, number] => (geo, vec![area], number),
        [geo, "gov", area, number] => (geo, vec![area], number),
        _ => return false,
    };
    geo.len() == 2
        && lower(geo)
        && middle.iter().all(|s| lower(s))
        && number.len() == 1
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    const ARN: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/50dc6c495c0c9188";

    #[test]
    fn the_region_comes_from_the_arn() {
        let issuer = Issuer::from(Issuer::aws_alb(ARN).unwrap());
        assert_eq!(issuer.iss(), ARN);
        assert_eq!(
            issuer.source(),
            &KeySource::PemPerKid {
                url: Url::parse("https://public-keys.auth.elb.eu-west-1.amazonaws.com/").unwrap(),
                algorithm: Algorithm::ES256,
            }
        );
        assert_eq!(
            alb_region(
                "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/a/1"
            ),
            Some("us-gov-west-1")
        );
    }

    #[test]
    fn anything_but_an_alb_arn_is_refused() {
        for bad in [
            "",
            "orders",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/orders/1",
            "arn:aws:elasticloadbalancing:eu-west-1:12345:loadbalancer/app/orders/1",
            "arn:aws:elasticloadbalancing:eu-west:123456789012:loadbalancer/app/orders/1",
            "arn:aws:elasticloadbalancing:evil.example/x:123456789012:loadbalancer/app/orders/1",
            "arn:aws:iam::123456789012:loadbalancer/app/orders/1",
            "arn:other:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/1",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a b",
        ] {
            assert!(Issuer::aws_alb(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_key_url_ends_where_the_kid_begins() {
        for (given, used) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://127.0.0.1:8080/keys", "http://127.0.0.1:8080/keys/"),
            (
                "https://mirror.example/keys/",
                "https://mirror.example/keys/",
            ),
        ] {
            let alb = Issuer::aws_alb(ARN).unwrap().key_url(given).unwrap();
            assert_eq!(
                Issuer::from(alb).source(),
                &KeySource::PemPerKid {
                    url: Url::parse(used).unwrap(),
                    algorithm: Algorithm::ES256,
                },
                "{given}"
            );
        }
        assert!(Issuer::aws_alb(ARN).unwrap().key_url("ftp://x/").is_err());
        assert!(Issuer::aws_alb(ARN).unwrap().client_id(" id").is_err());
        assert!(Issuer::aws_alb(ARN).unwrap().expected_issuer("").is_err());
    }
}
