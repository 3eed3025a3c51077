//! `AUTH_GATEWAY` and `AUTH_ALB_*`: the gateway whose own signed assertion `/protected` and
//! `/admin` verify instead of a bearer token, built with the library's gateway constructors.

use api_auth::{Algorithm, BuildError, GOOGLE_IAP_ISSUER, Issuer, KeySource};

use crate::config::ConfigError;

/// The gateways `AUTH_GATEWAY` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// `cloudflare-access`.
    CloudflareAccess,
    /// `google-iap`.
    GoogleIap,
    /// `aws-alb`.
    AwsAlb,
}

impl GatewayKind {
    /// Reads `AUTH_GATEWAY` (unset: no gateway).
    pub fn parse(value: Option<&str>) -> Result<Option<Self>, ConfigError> {
        Ok(Some(match value {
            None => return Ok(None),
            Some("cloudflare-access") => Self::CloudflareAccess,
            Some("google-iap") => Self::GoogleIap,
            Some("aws-alb") => Self::AwsAlb,
            Some(_) => {
                return Err(ConfigError::new(
                    "AUTH_GATEWAY",
                    "must be cloudflare-access, google-iap or aws-alb",
                ));
            }
        }))
    }

    /// The `AUTH_GATEWAY` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::CloudflareAccess => "cloudflare-access",
            Self::GoogleIap => "google-iap",
            Self::AwsAlb => "aws-alb",
        }
    }

    /// The one algorithm the gateway signs with (`AUTH_ALGORITHMS` must contain it).
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::CloudflareAccess => Algorithm::RS256,
            Self::GoogleIap | Self::AwsAlb => Algorithm::ES256,
        }
    }
}

/// The `AUTH_ALB_*` variables, as read.
#[derive(Debug, Default)]
pub struct AlbVars {
    /// `AUTH_ALB_ARN`.
    pub arn: Option<String>,
    /// `AUTH_ALB_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `AUTH_ALB_KEY_URL`.
    pub key_url: Option<String>,
}

impl AlbVars {
    /// The first variable set, for a refusal when the gateway is not the ALB.
    fn first_set(&self) -> Option<&'static str> {
        [
            ("AUTH_ALB_ARN", &self.arn),
            ("AUTH_ALB_CLIENT_ID", &self.client_id),
            ("AUTH_ALB_KEY_URL", &self.key_url),
        ]
        .into_iter()
        .find_map(|(var, value)| value.is_some().then_some(var))
    }
}

/// The other settings a gateway reads or must not see.
pub struct GatewayInputs<'a> {
    /// `AUTH_ISSUER`, as listed.
    pub issuers: &'a [String],
    /// `AUTH_JWKS_URL`.
    pub jwks_url: Option<&'a KeySource>,
    /// `AUTH_AUDIENCE`.
    pub audience: Option<&'a str>,
    /// `AUTH_ALGORITHMS`, as parsed (HS256 excluded).
    pub algorithms: &'a [Algorithm],
}

/// A configured gateway: its kind and the issuer the library verifies its assertions with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Which gateway.
    pub kind: GatewayKind,
    /// The gateway's issuer (key location, algorithm, token source, checks).
    pub issuer: Issuer,
}

/// Builds the gateway's issuer from the contract's variables; every missing or
/// contradictory setting is an error naming its variable.
pub fn configure(
    kind: Option<GatewayKind>,
    alb: AlbVars,
    inputs: &GatewayInputs<'_>,
) -> Result<Option<GatewaySettings>, ConfigError> {
    if kind != Some(GatewayKind::AwsAlb)
        && let Some(var) = alb.first_set()
    {
        return Err(ConfigError::new(var, "needs AUTH_GATEWAY=aws-alb"));
    }
    let Some(kind) = kind else {
        return Ok(None);
    };
    if !inputs.algorithms.contains(&kind.algorithm()) {
        return Err(ConfigError::new(
            "AUTH_ALGORITHMS",
            format!(
                "does not contain {}, which AUTH_GATEWAY={} signs with",
                kind.algorithm(),
                kind.name()
            ),
        ));
    }
    let issuer = match kind {
        GatewayKind::CloudflareAccess => cloudflare_access(inputs)?,
        GatewayKind::GoogleIap => google_iap(inputs)?,
        GatewayKind::AwsAlb => aws_alb(alb, inputs)?,
    };
    Ok(Some(GatewaySettings { kind, issuer }))
}

fn cloudflare_access(inputs: &GatewayInputs<'_>) -> Result<Issuer, ConfigError> {
    let team = match inputs.issuers {
        [team] => team,
        [] => {
            return Err(ConfigError::new(
                "AUTH_ISSUER",
                "is required with AUTH_GATEWAY=cloudflare-access: the team domain, \
                 https://<team>.cloudflareaccess.com",
            ));
        }
        _ => return Err(one_issuer("cloudflare-access")),
    };
    let aud_tag = inputs.audience.ok_or_else(|| {
        ConfigError::new(
            "AUTH_AUDIENCE",
            "is required with AUTH_GATEWAY=cloudflare-access: the application's AUD tag",
        )
    })?;
    let mut access = Issuer::cloudflare_access(team, aud_tag).map_err(refusal)?;
    if let Some(url) = inputs.jwks_url {
        access = access.keys(url.clone()).map_err(refusal)?;
    }
    Ok(access.into())
}

fn google_iap(inputs: &GatewayInputs<'_>) -> Result<Issuer, ConfigError> {
    match inputs.issuers {
        [] => {}
        [iss] if iss == GOOGLE_IAP_ISSUER => {}
        _ => {
            return Err(ConfigError::new(
                "AUTH_ISSUER",
                format!(
                    "must be unset or {GOOGLE_IAP_ISSUER} with AUTH_GATEWAY=google-iap: \
                     IAP is the only issuer of its assertions"
                ),
            ));
        }
    }
    let audience = inputs.audience.ok_or_else(|| {
        ConfigError::new(
            "AUTH_AUDIENCE",
            "is required with AUTH_GATEWAY=google-iap: \
             /projects/<number>/global/backendServices/<id> or /projects/<number>/apps/<project id>",
        )
    })?;
    let mut iap = Issuer::google_iap(audience).map_err(refusal)?;
    if let Some(url) = inputs.jwks_url {
        iap = iap.keys(url.clone()).map_err(refusal)?;
    }
    Ok(iap.into())
}

fn aws_alb(alb: AlbVars, inputs: &GatewayInputs<'_>) -> Result<Issuer, ConfigError> {
    if inputs.audience.is_some() {
        return Err(ConfigError::new(
            "AUTH_AUDIENCE",
            "cannot be set with AUTH_GATEWAY=aws-alb: the load balancer's assertion has no \
             audience (AUTH_ALB_CLIENT_ID checks its client)",
        ));
    }
    if inputs.jwks_url.is_some() {
        return Err(ConfigError::new(
            "AUTH_JWKS_URL",
            "cannot be set with AUTH_GATEWAY=aws-alb: its keys are one PEM per kid \
             (AUTH_ALB_KEY_URL moves them)",
        ));
    }
    let arn = alb.arn.ok_or_else(|| {
        ConfigError::new(
            "AUTH_ALB_ARN",
            "is required with AUTH_GATEWAY=aws-alb: the load balancer's ARN, which the \
             assertion's signer must equal",
        )
    })?;
    let mut issuer = Issuer::aws_alb(&arn).map_err(refusal)?;
    if let Some(client_id) = &alb.client_id {
        issuer = issuer.client_id(client_id).map_err(refusal)?;
    }
    if let Some(url) = &alb.key_url {
        issuer = issuer.key_url(url).map_err(refusal)?;
    }
    match inputs.issuers {
        [] => {}
        [iss] => issuer = issuer.expected_issuer(iss).map_err(refusal)?,
        _ => return Err(one_issuer("aws-alb")),
    }
    Ok(issuer.into())
}

fn one_issuer(gateway: &str) -> ConfigError {
    ConfigError::new(
        "AUTH_ISSUER",
        format!("must name one issuer with AUTH_GATEWAY={gateway}, not a list"),
    )
}

/// A gateway constructor's refusal, naming the variable of the setting at fault.
fn refusal(error: BuildError) -> ConfigError {
    let var = match &error {
        BuildError::InvalidGatewaySetting { setting, .. } => match *setting {
            "team_domain" | "issuer" => "AUTH_ISSUER",
            "aud_tag" | "audience" => "AUTH_AUDIENCE",
            "alb_arn" => "AUTH_ALB_ARN",
            "client_id" => "AUTH_ALB_CLIENT_ID",
            "key_url" => "AUTH_ALB_KEY_URL",
            _ => "AUTH_GATEWAY",
        },
        _ => "AUTH_GATEWAY",
    };
    ConfigError::new(var, error.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{Config, KeyOrigin};

    const TEAM: &str = "https://acme.cloudflareaccess.com";
    const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
    const IAP_AUD: &str = "/projects/123456789012/global/backendServices/4567890123456789";
    const ARN: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/50dc6c495c0c9188";

    fn config(vars: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(8001, |name| map.get(name).cloned())
    }

    #[test]
    fn each_gateway_from_its_variables() {
        for vars in [
            vec![
                ("AUTH_GATEWAY", "cloudflare-access"),
                ("AUTH_ISSUER", TEAM),
                ("AUTH_AUDIENCE", AUD),
            ],
            vec![("AUTH_GATEWAY", "google-iap"), ("AUTH_AUDIENCE", IAP_AUD)],
            vec![
                ("AUTH_GATEWAY", "google-iap"),
                ("AUTH_ISSUER", "https://cloud.google.com/iap"),
                ("AUTH_AUDIENCE", IAP_AUD),
                ("AUTH_JWKS_URL", "http://127.0.0.1:9/keys"),
            ],
            vec![
                ("AUTH_GATEWAY", "aws-alb"),
                ("AUTH_ALB_ARN", ARN),
                ("AUTH_ALB_CLIENT_ID", "client"),
                ("AUTH_ALB_KEY_URL", "http://127.0.0.1:9/"),
                ("AUTH_ISSUER", "https://login.example.com"),
                ("HOST", "0.0.0.0"),
            ],
        ] {
            let c = config(&vars).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
            assert_eq!(c.key_origin, KeyOrigin::Gateway);
            assert!(!c.is_development() && c.gateway.is_some(), "{vars:?}");
        }
    }

    #[test]
    fn missing_and_contradictory_settings_name_their_variable() {
        let cf = [
            ("AUTH_GATEWAY", "cloudflare-access"),
            ("AUTH_ISSUER", TEAM),
            ("AUTH_AUDIENCE", AUD),
        ];
        let alb = [("AUTH_GATEWAY", "aws-alb"), ("AUTH_ALB_ARN", ARN)];
        let with = |base: &[(&'static str, &'static str)],
                    more: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.retain(|(k, _)| !more.iter().any(|(m, _)| m == k));
            all.extend_from_slice(more);
            all
        };
        for (vars, var) in [
            (vec![("AUTH_GATEWAY", "kong")], "AUTH_GATEWAY"),
            (
                vec![
                    ("AUTH_GATEWAY", "cloudflare-access"),
                    ("AUTH_AUDIENCE", AUD),
                ],
                "AUTH_ISSUER",
            ),
            (
                vec![("AUTH_GATEWAY", "cloudflare-access"), ("AUTH_ISSUER", TEAM)],
                "AUTH_AUDIENCE",
            ),
            (
                with(
                    &cf,
                    &[("AUTH_ISSUER", "https://a.example,https://b.example")],
                ),
                "AUTH_ISSUER",
            ),
            (
                with(&cf, &[("AUTH_ISSUER", "http://acme.cloudflareaccess.com")]),
                "AUTH_ISSUER",
            ),
            (
                with(
                    &cf,
                    &[("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef")],
                ),
                "AUTH_HS256_SECRET",
            ),
            (
                with(&cf, &[("AUTH_TOKEN_HEADER", "x-jwt")]),
                "AUTH_TOKEN_HEADER",
            ),
            (
                with(&cf, &[("AUTH_TOKEN_COOKIE", "jwt")]),
                "AUTH_TOKEN_COOKIE",
            ),
            (with(&cf, &[("AUTH_DPOP", "required")]), "AUTH_DPOP"),
            (
                with(&cf, &[("AUTH_MTLS_CERT_HEADER", "x-client-cert")]),
                "AUTH_MTLS_CERT_HEADER",
            ),
            (
                with(&cf, &[("AUTH_ALGORITHMS", "ES256")]),
                "AUTH_ALGORITHMS",
            ),
            (with(&cf, &[("AUTH_DEV_MODE", "1")]), "AUTH_DEV_MODE"),
            (with(&cf, &[("AUTH_ALB_ARN", ARN)]), "AUTH_ALB_ARN"),
            (vec![("AUTH_GATEWAY", "google-iap")], "AUTH_AUDIENCE"),
            (
                vec![("AUTH_GATEWAY", "google-iap"), ("AUTH_AUDIENCE", "123")],
                "AUTH_AUDIENCE",
            ),
            (
                vec![
                    ("AUTH_GATEWAY", "google-iap"),
                    ("AUTH_AUDIENCE", IAP_AUD),
                    ("AUTH_ISSUER", TEAM),
                ],
                "AUTH_ISSUER",
            ),
            (vec![("AUTH_GATEWAY", "aws-alb")], "AUTH_ALB_ARN"),
            (
                with(&alb, &[("AUTH_ALB_ARN", "arn:aws:s3:::bucket")]),
                "AUTH_ALB_ARN",
            ),
            (with(&alb, &[("AUTH_AUDIENCE", "api")]), "AUTH_AUDIENCE"),
            (
                with(&alb, &[("AUTH_JWKS_URL", "http://127.0.0.1:9/keys")]),
                "AUTH_JWKS_URL",
            ),
            (
                with(&alb, &[("AUTH_ALB_KEY_URL", "ftp://keys")]),
                "AUTH_ALB_KEY_URL",
            ),
            (
                vec![("AUTH_ALB_CLIENT_ID", "id"), ("AUTH_ISSUER", TEAM)],
                "AUTH_ALB_CLIENT_ID",
            ),
        ] {
            let refused = config(&vars)
                .err()
                .unwrap_or_else(|| panic!("{vars:?} accepted"));
            assert_eq!(refused.var, var, "{vars:?}: {refused}");
        }
    }
}
