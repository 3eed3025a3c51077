//! DPoP proof verification (RFC 9449 §4.3), every check in one place.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::dpop_config::DpopVerifierBuilder;
use super::dpop_error::{DpopError, ProofDefect, dpop_challenge};
use super::htu;
use super::nonce::DpopNonces;
use super::public_origin::PublicOrigin;
use super::replay::{Freshness, ReplayKey, ReplayStore};
use super::thumbprint::{jwk_thumbprint, thumbprints_match};
use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::canonical_json::canonical_object;
use crate::error::TokenError;
use crate::jwk::{Unusable, VerifyingKey, parse_jwk};
use crate::token::{self, UnverifiedToken};
use crate::token_cache::unix_now;

/// The largest proof accepted, in bytes: room for an RSA-8192 key in the header and an
/// RSA-8192 signature (about 4 KiB together), and the same bound as tokens.
pub const MAX_DPOP_PROOF_BYTES: usize = 8 * 1024;

/// The longest `jti` accepted, in bytes. RFC 9449 §4.2 asks for at least 96 bits of
/// randomness; a UUID is 36 characters, 32 random bytes in base64url 43.
pub const MAX_DPOP_JTI_BYTES: usize = 256;

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2): a proof's `jwk` holding any of them is refused (RFC 9449 §4.3 check 7).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The members of a public JWK whose values are base64url (RFC 7518 §6.2.1, §6.3.1; RFC 8037
/// §2): held to unpadded base64url here, as RFC 7515 §2 defines it, so that one key has one
/// written form and one thumbprint.
const KEY_MEMBERS: [&str; 4] = ["n", "e", "x", "y"];

/// Verifies the DPoP proofs (RFC 9449) sent with DPoP-bound access tokens.
///
/// One verifier serves the whole service; share it (`Arc`) between requests. For each
/// request, pass the `DPoP` header's value (exactly one such header: RFC 9449 §4.3 check 1
/// is the caller's), the request's method and origin-form target, and the access token of
/// its `Authorization: DPoP` header, and the token's verified `cnf.jkt` to
/// [`verify_for_token`](Self::verify_for_token). Verify the token first: the proof's `jti`
/// is remembered only once every check of the proof and its binding has passed, so a
/// request that is refused anyway takes no room in the replay store.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use api_auth::{Algorithm, DpopError, DpopVerifier, MemoryReplayStore, ProofDefect, PublicOrigin};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = DpopVerifier::builder(
///     PublicOrigin::parse("https://api.example.com")?,
///     Arc::new(MemoryReplayStore::default()),
/// )
/// .algorithms([Algorithm::ES256, Algorithm::EdDSA])
/// .max_age(Duration::from_secs(60))
/// .build()?;
///
/// # let (proof, access_token, cnf_jkt) = ("not.a.proof", "token", "jkt");
/// // `proof` is the `DPoP` header, `access_token` the token of `Authorization: DPoP ...`,
/// // `cnf_jkt` the token's verified `cnf.jkt` claim.
/// match verifier
///     .verify_for_token(proof, "GET", "/protected?page=2", access_token, cnf_jkt)
///     .await
/// {
///     Ok(_) => { /* serve the request */ }
///     Err(refusal) => {
///         // 401 with `refusal.challenge(verifier.algorithms())` as `WWW-Authenticate`
///         // (a proof of another key than the token's is `invalid_dpop_proof`), 503 with
///         // `Retry-After` when the replay store is unavailable, 429 with `Retry-After`
///         // when this proof key holds more than its share of the store.
///         assert_eq!(refusal, DpopError::InvalidProof(ProofDefect::Malformed));
///         assert_eq!(refusal.status(), 401);
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct DpopVerifier {
    pub(super) origin: PublicOrigin,
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) allowed: AlgorithmSet,
    pub(super) max_age_secs: i64,
    pub(super) leeway_secs: i64,
    pub(super) nonces: Option<DpopNonces>,
    pub(super) replay: Arc<dyn ReplayStore>,
}

/// An accepted proof: the thumbprint of the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofOutcome {
    jkt: String,
}

impl ProofOutcome {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what a bound token
    /// carries in `cnf.jkt` (RFC 9449 §6.1).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// Whether the proof key is the one a token's `cnf.jkt` names, compared in constant time.
    pub fn is_bound_to(&self, cnf_jkt: &str) -> bool {
        thumbprints_match(cnf_jkt, &self.jkt)
    }
}

/// The header members a proof needs (RFC 9449 §4.2), each as its JSON text; `alg`, `crit`
/// and the rest of the JOSE checks are `token::parse`'s.
#[derive(Deserialize)]
struct ProofHeader<'a> {
    #[serde(default, borrow)]
    typ: Option<&'a RawValue>,
    #[serde(default)]
    jwk: Option<Value>,
}

/// The claims a proof carries (RFC 9449 §4.2), each as its JSON text.
#[derive(Deserialize)]
struct ProofClaims<'a> {
    #[serde(default, borrow)]
    jti: Option<&'a RawValue>,
    #[serde(default, borrow)]
    htm: Option<&'a RawValue>,
    #[serde(default, borrow)]
    htu: Option<&'a RawValue>,
    #[serde(default, borrow)]
    iat: Option<&'a RawValue>,
    #[serde(default, borrow)]
    ath: Option<&'a RawValue>,
    #[serde(default, borrow)]
    nonce: Option<&'a RawValue>,
}

/// Reads a claim that must be present and of type `T`.
fn required<'a, T: Deserialize<'a>>(
    claim: Option<&'a RawValue>,
    name: &'static str,
) -> Result<T, ProofDefect> {
    let claim = claim.ok_or(ProofDefect::MissingClaim(name))?;
    serde_json::from_str(claim.get()).map_err(|_| ProofDefect::InvalidClaim(name))
}

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The JOSE parser's refusals, in the proof vocabulary.
fn defect_of(error: TokenError) -> ProofDefect {
    match error {
        TokenError::TooLarge => ProofDefect::TooLarge,
        TokenError::AlgorithmNotAllowed => ProofDefect::Algorithm,
        TokenError::UnsupportedExtension => ProofDefect::Extension,
        _ => ProofDefect::Malformed,
    }
}

/// The request a proof is checked against.
struct Request<'a> {
    method: &'a str,
    path_and_query: &'a str,
    access_token: &'a str,
    /// The token's `cnf.jkt`, when the caller has it: checked before the signature and the
    /// replay store, so a proof for another key costs neither.
    bound_to: Option<&'a str>,
}

impl DpopVerifier {
    /// Starts a configuration: proofs must name `origin` in `htu` (with the request's path),
    /// and their `jti`s are remembered in `replay`.
    pub fn builder(origin: PublicOrigin, replay: Arc<dyn ReplayStore>) -> DpopVerifierBuilder {
        DpopVerifierBuilder::new(origin, replay)
    }

    /// Verifies `proof` (the `DPoP` header's value) for a request with this `method`,
    /// origin-form target `path_and_query` and `access_token`, and remembers its `jti`.
    ///
    /// Every check of RFC 9449 §4.3 but the first (one `DPoP` header) and the last (the
    /// token's `cnf.jkt`, compared by the caller with [`ProofOutcome::is_bound_to`]).
    ///
    /// The `jti` is remembered before the caller compares the binding, so a proof of
    /// another key than the token's takes room in the replay store (and counts against its
    /// key's share) although the request is refused: with a bound token, use
    /// [`verify_for_token`](Self::verify_for_token), which checks the binding first.
    pub async fn verify(
        &self,
        proof: &str,
        method: &str,
        path_and_query: &str,
        access_token: &str,
    ) -> Result<ProofOutcome, DpopError> {
        let request = Request {
            method,
            path_and_query,
            access_token,
            bound_to: None,
        };
        self.verify_at(proof, &request, unix_now()).await
    }

    /// [`verify`](Self::verify), and the proof's key must be the one the token is bound to:
    /// `cnf_jkt` is the token's verified `cnf.jkt` claim (RFC 9449 §4.3 check 12, §6.1).
    /// A proof of another key is refused before its signature is checked or its `jti`
    /// remembered; the `jti` is remembered only once every other check has passed.
    pub async fn verify_for_token(
        &self,
        proof: &str,
        method: &str,
        path_and_query: &str,
        access_token: &str,
        cnf_jkt: &str,
    ) -> Result<ProofOutcome, DpopError> {
        let request = Request {
            method,
            path_and_query,
            access_token,
            bound_to: Some(cnf_jkt),
        };
        self.verify_at(proof, &request, unix_now()).await
    }

    /// The algorithms proofs may use, in configuration order (for the challenge's `algs` and
    /// the metadata's `dpop_signing_alg_values_supported`).
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The public origin proofs must name.
    pub fn origin(&self) -> &PublicOrigin {
        &self.origin
    }

    /// The nonces proofs must carry, when they are required: [`DpopNonces::issue`] gives
    /// the `DPoP-Nonce` header of a `use_dpop_nonce` refusal (and of any other response).
    pub fn nonces(&self) -> Option<&DpopNonces> {
        self.nonces.as_ref()
    }

    /// The `WWW-Authenticate: DPoP` challenge for this verifier's algorithms, with the error
    /// when there is one and it is a `401` (see [`dpop_challenge`]).
    pub fn challenge(&self, error: Option<&DpopError>) -> String {
        error
            .and_then(|error| error.challenge(&self.algorithms))
            .unwrap_or_else(|| dpop_challenge(&self.algorithms, None))
    }

    async fn verify_at(
        &self,
        proof: &str,
        request: &Request<'_>,
        now: i64,
    ) -> Result<ProofOutcome, DpopError> {
        // Every other check first, the replay store last: a proof that is refused anyway
        // must take no room in it (nor count against its key's share).
        let checked = self.check(proof, request, now)?;
        // RFC 9449 §11.1: a `jti` is accepted once while its proof could be accepted, that
        // is until `iat` + maximum age + leeway (a proof dated in the future is remembered
        // until it could no longer be used, not merely for the maximum age). A second more
        // covers the rounding of `now` to whole seconds.
        let remaining = checked
            .iat
            .saturating_add(self.max_age_secs)
            .saturating_add(self.leeway_secs)
            .saturating_sub(now)
            .saturating_add(1)
            .max(1);
        let ttl = Duration::from_secs(remaining.unsigned_abs());
        let key = ReplayKey::for_proof(&checked.jkt, &checked.jti);
        match self.replay.check_and_remember(&key, ttl).await {
            Ok(Freshness::Fresh) => Ok(ProofOutcome { jkt: checked.jkt }),
            Ok(Freshness::Replayed) => Err(DpopError::InvalidProof(ProofDefect::Replayed)),
            // `503` for the store's reasons, `429` when this key is over its share.
            Err(error) => Err(error.into()),
        }
    }

    /// Every check that needs no store, in the order of RFC 9449 §4.3, the nonce last (so a
    /// client told to use a nonce has nothing else to fix).
    fn check(&self, proof: &str, request: &Request<'_>, now: i64) -> Result<Checked, DpopError> {
        let SignedBy { key, jkt, parsed } = self.check_header(proof, request)?;

        // Check 6: the signature verifies with the `jwk` of the header.
        let valid = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            &key.key,
            parsed.alg.jwt(),
        )
        .unwrap_or(false);
        if !valid {
            return Err(DpopError::InvalidProof(ProofDefect::Signature));
        }

        let payload = URL_SAFE_NO_PAD
            .decode(parsed.payload)
            .map_err(|_| ProofDefect::Malformed)?;
        // Duplicate claims are refused at any depth, as in tokens (RFC 7519 §4).
        let text = canonical_object(&payload).map_err(|_| ProofDefect::Malformed)?;
        let claims: ProofClaims<'_> =
            serde_json::from_str(&text).map_err(|_| ProofDefect::Malformed)?;
        let checked = self.check_claims(&claims, request, now, jkt)?;

        // Check 10: the nonce, when this server requires one (RFC 9449 §9); a missing or
        // stale one gets `use_dpop_nonce` and a fresh nonce.
        if let Some(nonces) = &self.nonces {
            let nonce: Option<String> = claims
                .nonce
                .and_then(|raw| serde_json::from_str(raw.get()).ok());
            if !nonce.is_some_and(|nonce| nonces.check_at(&nonce, now)) {
                return Err(DpopError::UseNonce);
            }
        }
        Ok(checked)
    }

    /// Checks 2 to 5 and 7 of RFC 9449 §4.3 (everything the header decides), and the key
    /// binding when the caller gave the token's `cnf.jkt`.
    fn check_header<'p>(
        &self,
        proof: &'p str,
        request: &Request<'_>,
    ) -> Result<SignedBy<'p>, ProofDefect> {
        // Check 2: one well-formed JWS (three base64url parts of JSON objects, no duplicate
        // members, no `crit`, a registered `alg` that is not `none`), bounded in size.
        let parsed = token::parse(proof, MAX_DPOP_PROOF_BYTES).map_err(defect_of)?;
        let header_part = parsed
            .signing_input
            .split('.')
            .next()
            .ok_or(ProofDefect::Malformed)?;
        if !is_base64url(header_part) {
            return Err(ProofDefect::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header_part)
            .map_err(|_| ProofDefect::Malformed)?;
        let header_text = canonical_object(&header_bytes).map_err(|_| ProofDefect::Malformed)?;
        let header: ProofHeader<'_> =
            serde_json::from_str(&header_text).map_err(|_| ProofDefect::Malformed)?;

        // Check 4: `typ` is exactly `dpop+jwt` (explicit typing, RFC 8725 §3.11).
        let typ: Option<String> = header
            .typ
            .and_then(|raw| serde_json::from_str(raw.get()).ok());
        if typ.as_deref() != Some("dpop+jwt") {
            return Err(ProofDefect::Type);
        }

        // Check 5: an asymmetric algorithm of the allow-list. HS256 is never in it (the
        // builder refuses it), and `none` never parses as an algorithm.
        if !self.allowed.contains(parsed.alg) {
            return Err(ProofDefect::Algorithm);
        }

        // Checks 3 and 7: a `jwk` header holding a public key, and no private member.
        let jwk = header.jwk.ok_or(ProofDefect::MissingKey)?;
        let members = jwk.as_object().ok_or(ProofDefect::UnusableKey)?;
        if PRIVATE_MEMBERS
            .iter()
            .any(|name| members.contains_key(*name))
        {
            return Err(ProofDefect::PrivateKey);
        }
        if KEY_MEMBERS.iter().any(|name| {
            members
                .get(*name)
                .is_some_and(|value| value.as_str().is_none_or(|text| !is_base64url(text)))
        }) {
            return Err(ProofDefect::UnusableKey);
        }
        // The checks every key of a key set gets: type and curve, RSA size and exponent,
        // points on their curves, no Ed25519 point of small order, `use` and `key_ops`.
        let key = parse_jwk(&jwk).map_err(|reason| match reason {
            Unusable::PrivateMaterial => ProofDefect::PrivateKey,
            _ => ProofDefect::UnusableKey,
        })?;
        // Check 5 again: the algorithm fits the key (and the key's own `alg`, if any).
        if !key.fits(parsed.alg) {
            return Err(ProofDefect::KeyAlgorithmMismatch);
        }
        let jkt = jwk_thumbprint(&jwk).ok_or(ProofDefect::UnusableKey)?;

        // Check 12's key binding (RFC 9449 §6.1), when the token's `cnf.jkt` is known.
        if request
            .bound_to
            .is_some_and(|cnf_jkt| !thumbprints_match(cnf_jkt, &jkt))
        {
            return Err(ProofDefect::KeyBinding);
        }
        Ok(SignedBy { key, jkt, parsed })
    }

    /// Checks 3, 8, 9, 11 and 12 of RFC 9449 §4.3: the claims.
    fn check_claims(
        &self,
        claims: &ProofClaims<'_>,
        request: &Request<'_>,
        now: i64,
        jkt: String,
    ) -> Result<Checked, ProofDefect> {
        // Check 3: `jti`, bounded; the replay check comes once everything else passed.
        let jti: String = required(claims.jti, "jti")?;
        if jti.is_empty() || jti.len() > MAX_DPOP_JTI_BYTES {
            return Err(ProofDefect::InvalidClaim("jti"));
        }

        // Check 8: `htm` is the request's method (methods are case-sensitive, RFC 9110 §9.1).
        let htm: String = required(claims.htm, "htm")?;
        if htm != request.method {
            return Err(ProofDefect::Method);
        }

        // Check 9: `htu` is the request's URI, query and fragment ignored, after RFC 3986
        // normalisation; scheme and authority are the configured public origin's.
        let claimed_htu: String = required(claims.htu, "htu")?;
        let matches = htu::claimed(&claimed_htu).is_some_and(|claimed| {
            htu::requested(&self.origin, request.path_and_query) == Some(claimed)
        });
        if !matches {
            return Err(ProofDefect::Uri);
        }

        // Check 11: `iat` (an integer NumericDate) within the maximum age in the past and
        // the leeway in the future; the leeway also extends the age.
        let iat: i64 = required(claims.iat, "iat")?;
        if iat > now.saturating_add(self.leeway_secs) {
            return Err(ProofDefect::IssuedInFuture);
        }
        if now
            > iat
                .saturating_add(self.max_age_secs)
                .saturating_add(self.leeway_secs)
        {
            return Err(ProofDefect::Stale);
        }

        // Check 12: `ath` is the base64url SHA-256 of the access token (RFC 9449 §4.2),
        // required since a token is always presented with the proof here.
        let ath: String = required(claims.ath, "ath")?;
        let expected = URL_SAFE_NO_PAD.encode(digest(&SHA256, request.access_token.as_bytes()));
        if !thumbprints_match(&expected, &ath) {
            return Err(ProofDefect::AccessTokenHash);
        }
        Ok(Checked { jkt, jti, iat })
    }
}

/// A proof whose header passed, with the key it claims to be signed by.
struct SignedBy<'p> {
    key: VerifyingKey,
    /// The key's RFC 7638 thumbprint.
    jkt: String,
    parsed: UnverifiedToken<'p>,
}

/// What the stateless checks leave for the replay check.
struct Checked {
    jkt: String,
    jti: String,
    iat: i64,
}

impl From<ProofDefect> for DpopError {
    fn from(defect: ProofDefect) -> Self {
        Self::InvalidProof(defect)
    }
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("origin", &self.origin)
            .field("algorithms", &self.algorithms)
            .field("max_age_secs", &self.max_age_secs)
            .field("leeway_secs", &self.leeway_secs)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
