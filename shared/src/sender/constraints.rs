//! The sender constraints of one service, checked on every request once its token has
//! verified: the token's `cnf` binding (RFC 7800) must hold for the request, and refusals
//! carry the challenges of every scheme the service accepts.
//!
//! - `cnf.jkt` (RFC 9449 §6.1): the token is accepted only as `Authorization: DPoP` with one
//!   `DPoP` proof by that key (§7.1); as `Bearer` it is refused (§7.2).
//! - `cnf["x5t#S256"]` (RFC 8705 §3.1): the client certificate the gateway forwards must have
//!   that thumbprint (§3.2).
//! - Any other member, or a binding the service is not configured to check, refuses the
//!   token: a binding is never ignored, or a stolen bound token would work as a bearer one.

use std::fmt;
use std::sync::Arc;

use super::cert_binding::ForwardedCertificate;
use super::dpop_error::{DpopError, ProofDefect, dpop_challenge};
use super::dpop_proof::DpopVerifier;
use super::public_origin::PublicOrigin;
use super::resource_metadata::{ProtectedResourceMetadata, resource_metadata_parameter};
use crate::algorithm::Algorithm;
use crate::build_error::BuildError;
use crate::claim_fields::Claim;
use crate::confirmation::Confirmation;
use crate::error::{AuthError, REALM, TokenError, quoted_string_safe};
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::shared_secret::SharedSecret;
use crate::token_source::is_token;

/// Which tokens a service that accepts DPoP still takes as bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopMode {
    /// DPoP-bound tokens need their proof; unbound tokens work as `Bearer`.
    Allowed,
    /// Only DPoP-bound tokens with a valid proof are accepted.
    Required,
}

/// The authorization scheme a request presented its token with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750), or a token source of the gateway's choosing.
    #[default]
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// What a service's challenges name besides the error: the schemes it accepts and where its
/// protected resource metadata is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChallengeSet {
    /// Whether bearer tokens are accepted (a `Bearer` challenge is offered).
    pub(crate) bearer: bool,
    /// The DPoP algorithms, when DPoP is accepted (a `DPoP` challenge is offered).
    pub(crate) dpop_algorithms: Option<Vec<Algorithm>>,
    /// The `resource_metadata` parameter of every challenge (RFC 9728 §5.1).
    pub(crate) resource_metadata: Option<String>,
}

/// A refusal with the challenges of the service that refused it (see
/// [`AuthError::Challenged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenged {
    pub(crate) error: AuthError,
    scheme: Scheme,
    challenges: Arc<ChallengeSet>,
    /// A fresh `DPoP-Nonce` for the client (RFC 9449 §9), with `use_dpop_nonce`.
    nonce: Option<String>,
}

impl fmt::Display for Challenged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Challenged {}

impl Challenged {
    /// The refusal.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The scheme the refused request used.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The refusal's reply, with every scheme's challenge in one `WWW-Authenticate` field
    /// (RFC 9110 §11.6.1) and the nonce the client must use next.
    pub(crate) fn reply(&self) -> Reply {
        let mut reply = self.error.reply();
        let challenge = self.challenge();
        if challenge.is_some() {
            reply
                .headers
                .retain(|(name, _)| *name != "www-authenticate");
        }
        if let Some(challenge) = challenge {
            reply = reply.with_header("www-authenticate", challenge);
        }
        match &self.nonce {
            Some(nonce) => reply.with_header("dpop-nonce", nonce.clone()),
            None => reply,
        }
    }

    /// The `WWW-Authenticate` value, for the refusals that challenge the token's schemes.
    fn challenge(&self) -> Option<String> {
        let error = self.error.cause();
        let (status, code) = (error.status(), error.code());
        let about_the_token = matches!(status, 401 | 403) || code == "invalid_request";
        if !about_the_token
            || matches!(
                error,
                AuthError::InvalidApiKey | AuthError::InvalidSharedSecret
            )
        {
            return None;
        }
        let description = quoted_string_safe(&error.description());
        // RFC 6750 §3.1: a request without credentials gets no error code.
        let mut params = match error {
            AuthError::MissingToken => String::new(),
            _ => format!(", error=\"{code}\", error_description=\"{description}\""),
        };
        if let AuthError::InsufficientScope(role) = error {
            params.push_str(&format!(", scope=\"{role}\""));
        }
        let metadata = match &self.challenges.resource_metadata {
            Some(parameter) => format!(", {parameter}"),
            None => String::new(),
        };
        let sets = &*self.challenges;
        // The error goes with the scheme the client used, or with DPoP when that is the only
        // scheme left.
        let error_on_dpop = self.scheme == Scheme::Dpop || !sets.bearer;
        let mut challenges = Vec::with_capacity(2);
        if let Some(algorithms) = &sets.dpop_algorithms {
            let mut dpop = dpop_challenge(algorithms, None);
            if error_on_dpop {
                dpop.push_str(&params);
            }
            dpop.push_str(&metadata);
            challenges.push(dpop);
        }
        if sets.bearer {
            let own = if error_on_dpop && sets.dpop_algorithms.is_some() {
                ""
            } else {
                &params
            };
            challenges.push(format!("Bearer realm=\"{REALM}\"{own}{metadata}"));
        }
        Some(challenges.join(", "))
    }
}

/// The sender constraints of one service.
pub(crate) struct SenderConstraints {
    /// DPoP proofs, when accepted.
    pub(crate) dpop: Option<(DpopVerifier, DpopMode)>,
    /// The header the gateway forwards the client certificate in (lower case).
    pub(crate) certificate_header: Option<String>,
    /// The gateway's secret: the certificate header is read only from a request that
    /// carries it, whether or not the request went through [`crate::Auth::gate`].
    pub(crate) shared_secret: Option<SharedSecret>,
    pub(crate) challenges: Arc<ChallengeSet>,
}

impl fmt::Debug for SenderConstraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderConstraints")
            .field("dpop", &self.dpop.as_ref().map(|(_, mode)| mode))
            .field("certificate_header", &self.certificate_header)
            .finish_non_exhaustive()
    }
}

impl SenderConstraints {
    /// Whether `Authorization: DPoP` is read.
    pub(crate) fn accepts_dpop(&self) -> bool {
        self.dpop.is_some()
    }

    /// `error` with this service's challenges, for a request that used `scheme`. A
    /// `use_dpop_nonce` refusal carries a fresh nonce.
    pub(crate) fn challenged(&self, error: AuthError, scheme: Scheme) -> AuthError {
        if let AuthError::Challenged(_) = error {
            return error;
        }
        let nonce = match (&error, &self.dpop) {
            (AuthError::Dpop(DpopError::UseNonce), Some((verifier, _))) => {
                verifier.nonces().map(|nonces| nonces.issue())
            }
            _ => None,
        };
        AuthError::Challenged(Box::new(Challenged {
            error,
            scheme,
            challenges: Arc::clone(&self.challenges),
            nonce,
        }))
    }

    /// Checks that the binding of a verified token holds for `request`, which presented
    /// `token` with `scheme`.
    pub(crate) async fn check(
        &self,
        request: &impl RequestHead,
        token: &str,
        scheme: Scheme,
        cnf: Confirmation<&str>,
    ) -> Result<(), AuthError> {
        let (jkt, x5t_s256) = binding_members(cnf)?;
        // The certificate first: it is stateless, so a token presented without its
        // certificate never reaches the replay store.
        if let Some(x5t_s256) = x5t_s256 {
            self.check_certificate(request, x5t_s256)?;
        }
        match (&self.dpop, scheme, jkt) {
            (Some((verifier, _)), Scheme::Dpop, Some(jkt)) => {
                let proof = single_proof(request)?;
                let method = request
                    .method()
                    .ok_or(DpopError::InvalidProof(ProofDefect::Method))?;
                verifier
                    .verify_for_token(proof, method, request.path_and_query(), token, jkt)
                    .await?;
                Ok(())
            }
            (Some(_), Scheme::Dpop, None) => Err(binding("sent as DPoP is not DPoP-bound")),
            (Some(_), Scheme::Bearer, Some(_)) => Err(binding(
                "is DPoP-bound and must be sent with the DPoP scheme",
            )),
            (Some((_, DpopMode::Required)), Scheme::Bearer, None) => {
                Err(binding("must be DPoP-bound"))
            }
            (None, _, Some(_)) => Err(binding(
                "is DPoP-bound, and this service does not accept DPoP",
            )),
            (Some((_, DpopMode::Allowed)), Scheme::Bearer, None) | (None, _, None) => Ok(()),
        }
    }

    fn check_certificate(
        &self,
        request: &impl RequestHead,
        x5t_s256: &str,
    ) -> Result<(), AuthError> {
        let Some(header) = &self.certificate_header else {
            return Err(binding(
                "is bound to a client certificate, which this service does not check",
            ));
        };
        // Only the gateway may speak for the client's TLS session (RFC 8705 §3 binds to the
        // certificate of the TLS connection, which here ends at the gateway).
        if !self
            .shared_secret
            .as_ref()
            .is_some_and(|secret| secret.is_presented_in(request))
        {
            return Err(binding(
                "is bound to a client certificate, and the request did not come through the gateway",
            ));
        }
        let value = request
            .single_header(header)
            .map_err(|_| binding("client certificate header appears more than once"))?
            .ok_or_else(|| binding("is bound to a client certificate, and none was forwarded"))?;
        let certificate = std::str::from_utf8(value)
            .ok()
            .and_then(|text| ForwardedCertificate::from_header(text).ok())
            .ok_or_else(|| binding("client certificate header is unreadable"))?;
        if !certificate.is_bound_to(x5t_s256) {
            return Err(binding("is bound to another client certificate"));
        }
        Ok(())
    }
}

/// The refusal of a token whose binding does not hold for bearer use, in any configuration.
pub(crate) fn unchecked_binding(cnf: Confirmation<&str>) -> Result<(), AuthError> {
    match cnf {
        Confirmation::Absent => Ok(()),
        _ => Err(binding("is bound to a key this service does not check")),
    }
}

/// The `jkt` and `x5t#S256` of a `cnf` claim; any other member, or one of the wrong type,
/// refuses the token.
fn binding_members(cnf: Confirmation<&str>) -> Result<(Option<&str>, Option<&str>), AuthError> {
    fn member(claim: Claim<&str>) -> Result<Option<&str>, AuthError> {
        match claim {
            Claim::Absent => Ok(None),
            Claim::Valid(value) => Ok(Some(value)),
            Claim::Invalid => Err(binding("has an invalid cnf claim")),
        }
    }
    match cnf {
        Confirmation::Absent => Ok((None, None)),
        Confirmation::Invalid => Err(binding("has an invalid cnf claim")),
        Confirmation::Bound { other: true, .. } => Err(binding(
            "is bound by a cnf member this service does not check",
        )),
        Confirmation::Bound { jkt, x5t_s256, .. } => {
            let (jkt, x5t_s256) = (member(jkt)?, member(x5t_s256)?);
            if jkt.is_none() && x5t_s256.is_none() {
                return Err(binding("has an empty cnf claim"));
            }
            Ok((jkt, x5t_s256))
        }
    }
}

/// The request's one `DPoP` header (RFC 9449 §4.3 check 1).
fn single_proof(request: &impl RequestHead) -> Result<&str, DpopError> {
    let proof = request
        .single_header("dpop")
        .map_err(|_| ProofDefect::Repeated)?
        .ok_or(ProofDefect::Missing)?;
    std::str::from_utf8(proof).map_err(|_| ProofDefect::Malformed.into())
}

fn binding(reason: &'static str) -> AuthError {
    AuthError::InvalidToken(TokenError::Binding(reason))
}

/// The builder's sender options, checked.
pub(crate) struct SenderOptions {
    pub(crate) public_origin: Option<PublicOrigin>,
    pub(crate) dpop: Option<(DpopVerifier, DpopMode)>,
    pub(crate) certificate_header: Option<String>,
    /// The secret that proves that a request came through the gateway.
    pub(crate) shared_secret: Option<SharedSecret>,
    /// Whether the token is read from somewhere else than `Authorization`.
    pub(crate) custom_token_source: bool,
}

impl SenderOptions {
    /// The constraints to check (`None` when nothing is configured: only unbound tokens are
    /// accepted, with plain `Bearer` challenges), and the protected resource metadata of the
    /// issuers `issuers` when a public origin is set.
    pub(crate) fn build(
        self,
        issuers: Vec<String>,
    ) -> Result<(Option<SenderConstraints>, Option<ProtectedResourceMetadata>), BuildError> {
        if let Some((verifier, _)) = &self.dpop {
            if self.custom_token_source {
                return Err(BuildError::DpopWithTokenSource);
            }
            if self
                .public_origin
                .as_ref()
                .is_some_and(|origin| origin != verifier.origin())
            {
                return Err(BuildError::PublicOriginMismatch);
            }
        }
        let certificate_header = match self.certificate_header {
            Some(name) if !is_token(&name) => {
                return Err(BuildError::InvalidCertificateHeader(name));
            }
            Some(_) if self.shared_secret.is_none() => {
                return Err(BuildError::CertificateHeaderWithoutSharedSecret);
            }
            name => name.map(|name| name.to_ascii_lowercase()),
        };
        let metadata = self.public_origin.as_ref().map(|origin| {
            let metadata = ProtectedResourceMetadata::new(origin, issuers);
            match &self.dpop {
                Some((verifier, mode)) => {
                    metadata.with_dpop(verifier.algorithms(), *mode == DpopMode::Required)
                }
                None => metadata,
            }
        });
        if self.public_origin.is_none() && self.dpop.is_none() && certificate_header.is_none() {
            return Ok((None, metadata));
        }
        let challenges = ChallengeSet {
            bearer: !matches!(self.dpop, Some((_, DpopMode::Required))),
            dpop_algorithms: self
                .dpop
                .as_ref()
                .map(|(verifier, _)| verifier.algorithms().to_vec()),
            resource_metadata: self.public_origin.as_ref().map(resource_metadata_parameter),
        };
        let constraints = SenderConstraints {
            dpop: self.dpop,
            shared_secret: certificate_header.as_ref().and(self.shared_secret),
            certificate_header,
            challenges: Arc::new(challenges),
        };
        Ok((Some(constraints), metadata))
    }
}
