//! [`BuildError`]: why a configuration was refused, when the service starts.

use std::path::PathBuf;

use crate::algorithm::Algorithm;
use crate::builder::MAX_LEEWAY;
use crate::jwk::JwksError;
use crate::policy::PolicyOutOfRange;

/// Why [`AuthBuilder::build`](crate::AuthBuilder::build) (or a key source or issuer constructor) refused a configuration.
///
/// A configuration that cannot work is refused when the service starts, never discovered
/// on the first request:
///
/// ```
/// use std::time::Duration;
/// use api_auth::{Auth, BuildError, Issuer};
///
/// assert!(matches!(Auth::builder().build(), Err(BuildError::NoKeySource)));
/// assert!(matches!(
///     Auth::builder().hs256_secret("too short").build(),
///     Err(BuildError::WeakHs256Secret)
/// ));
/// assert!(matches!(
///     Issuer::discover("login.example.com"),
///     Err(BuildError::InvalidUrl { .. })
/// ));
///
/// let refused = Auth::builder()
///     .issuer(Issuer::discover("https://login.example.com")?)
///     .leeway(Duration::from_secs(600))
///     .build()
///     .unwrap_err();
/// assert_eq!(refused.to_string(), "the leeway must be at most 300 seconds");
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No issuer, key source or HS256 secret: no token could ever verify.
    #[error("no issuer, key source or HS256 secret is configured")]
    NoKeySource,
    /// A URL that is not an `http` or `https` URL with a host.
    #[error("{url:?} is {reason}")]
    InvalidUrl {
        /// The value given, without any credentials it carried.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An issuer value that cannot be matched against tokens.
    #[error("issuer {issuer:?} is {reason}")]
    InvalidIssuer {
        /// The value given, without any credentials it carried.
        issuer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same issuer configured twice.
    #[error("issuer {0:?} is configured more than once")]
    DuplicateIssuer(String),
    /// Keys without an issuer together with listed issuers: which keys a token uses would
    /// not depend on its `iss` alone.
    #[error("keys without an issuer cannot be combined with listed issuers")]
    MixedIssuers,
    /// An empty algorithm allow-list.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithm,
    /// `HS256` allowed without a secret to verify it with.
    #[error("HS256 is allowed but no HS256 secret is configured")]
    Hs256WithoutSecret,
    /// An HS256 secret shorter than 32 bytes.
    #[error("the HS256 secret must be at least 32 bytes (RFC 7518 section 3.2)")]
    WeakHs256Secret,
    /// A clock-skew allowance over [`MAX_LEEWAY`].
    #[error("the leeway must be at most {} seconds", MAX_LEEWAY.as_secs())]
    LeewayTooLarge,
    /// A local key set document that holds no usable key.
    #[error("key set of issuer {issuer:?}: {source}")]
    KeySet {
        /// The issuer (empty for keys without an issuer).
        issuer: String,
        /// Why the document cannot be used.
        source: JwksError,
    },
    /// A PEM key that cannot be used.
    #[error("PEM key {index} of issuer {issuer:?}: {reason}")]
    Pem {
        /// The issuer (empty for keys without an issuer).
        issuer: String,
        /// The key's position in the list, from 0.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key set file that cannot be read.
    #[error("key set file {path:?}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An [`allowed_hosts`](crate::AuthBuilder::allowed_hosts) entry that is not `host[:port]`.
    #[error("allowed host {host:?} {reason}")]
    InvalidAllowedHost {
        /// The entry given.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`allowed_hosts`](crate::AuthBuilder::allowed_hosts) with no entry, which would refuse every
    /// request.
    #[error("the list of allowed hosts is empty")]
    NoAllowedHost,
    /// The HTTP client for remote key sets could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// A [`KeySetPolicy`](crate::KeySetPolicy) timing outside its range.
    #[error(transparent)]
    KeySetPolicy(#[from] PolicyOutOfRange),
    /// Remote key sets need a Tokio runtime to fetch in the background, and none is running.
    #[error("remote key sets must be built inside a Tokio runtime")]
    NoRuntime,
    /// A header or cookie name for the token that no request could carry.
    #[error("token {kind} name {name:?} is {reason}")]
    InvalidTokenSource {
        /// `header` or `cookie`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A gateway setting that no assertion of that gateway could match.
    #[error("{gateway} {setting}: {reason}")]
    InvalidGatewaySetting {
        /// The gateway (`Cloudflare Access`, `Google Cloud IAP`, `AWS ALB`).
        gateway: &'static str,
        /// The setting, as its constructor or option names it (`team_domain`, `aud_tag`,
        /// `audience`, `alb_arn`, `client_id`, `issuer`, `key_url`).
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// DPoP together with a token source other than `Authorization`: a DPoP-bound token
    /// travels as `Authorization: DPoP` (RFC 9449 §7.1).
    #[error("DPoP needs the token in the Authorization header, not in another token source")]
    DpopWithTokenSource,
    /// A public origin that differs from the one the DPoP verifier checks `htu` against.
    #[error("the public origin differs from the DPoP verifier's")]
    PublicOriginMismatch,
    /// A certificate header name that no request could carry.
    #[error("certificate header name {0:?} is not a header name")]
    InvalidCertificateHeader(String),
    /// A forwarded client certificate without a shared secret: anyone who reaches the
    /// service directly could forward any certificate (RFC 8705 §3 trusts the TLS peer).
    #[error(
        "a forwarded client certificate is trusted only behind a gateway that proves itself with a shared secret"
    )]
    CertificateHeaderWithoutSharedSecret,
    /// A gateway issuer together with another issuer or keys without an issuer: the token
    /// is read only where the gateway puts it.
    #[error("the {gateway} issuer must be the only issuer")]
    GatewayNotAlone {
        /// The gateway.
        gateway: &'static str,
    },
    /// A builder option that a gateway issuer sets itself.
    #[error("{option} cannot be set with the {gateway} issuer, which sets it itself")]
    GatewayConflict {
        /// The gateway.
        gateway: &'static str,
        /// The option (`an audience`, `an HS256 secret`, `a token source`).
        option: &'static str,
    },
    /// An algorithm allow-list without the algorithm the gateway signs with.
    #[error("the algorithm allow-list does not contain {algorithm}, which {gateway} signs with")]
    GatewayAlgorithm {
        /// The gateway.
        gateway: &'static str,
        /// Its algorithm.
        algorithm: Algorithm,
    },
}
