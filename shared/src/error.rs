//! Every way a request can be refused, and how each maps onto an HTTP response.
//!
//! Bearer-token failures follow RFC 6750 §3: a `WWW-Authenticate: Bearer` challenge with
//! `error` and `error_description`, and the same two fields in the JSON body.

use serde_json::json;

use crate::reply::Reply;
use crate::sender::{Challenged, DpopError};

/// The protection realm named in every challenge.
pub const REALM: &str = "api";

/// Why a bearer token was rejected. Each variant's text is the `error_description`
/// sent to the client, so none of them echo the token or any secret.
///
/// It reaches callers inside [`AuthError::InvalidToken`]; match on it to act on one
/// reason, such as telling an expired token from a forged one:
///
/// ```
/// use api_auth::{Auth, AuthError, DevIssuer, DevKeyType, Issuer, KeySource, TokenError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let idp = DevIssuer::generate_with("https://login.example.com", None, DevKeyType::Es256)?;
/// # let jwks = idp.jwks().to_string();
/// # let expired_token = idp.mint(serde_json::from_value(serde_json::json!({
/// #     "sub": "alice", "exp": 1_700_000_000
/// # }))?);
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .build()?;
///
/// let advice = match auth.verify(&expired_token).await {
///     Ok(_) => "accepted",
///     Err(AuthError::InvalidToken(TokenError::Expired)) => "expired: fetch a new token",
///     Err(AuthError::InvalidToken(TokenError::UnknownKey)) => "signed with a key we do not hold",
///     Err(AuthError::InvalidToken(_)) => "forged or malformed",
///     Err(_) => "not a token problem",
/// };
/// assert_eq!(advice, "expired: fetch a new token");
///
/// // The variant's text is the description the client sees.
/// assert_eq!(TokenError::Expired.to_string(), "Token has expired");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// `exp` is in the past (beyond the leeway).
    #[error("Token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("Token is not valid yet")]
    NotYetValid,
    /// Larger than the configured maximum.
    #[error("Token is too large")]
    TooLarge,
    /// Not three base64url parts of JSON, or otherwise unreadable.
    #[error("Token is malformed: {0}")]
    Malformed(&'static str),
    /// `alg` missing, unknown, `none`, or outside the allow-list.
    #[error("Token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The header carries `crit` (no extension is understood) or `b64: false`.
    #[error("Token uses an unsupported header extension")]
    UnsupportedExtension,
    /// No key in the set has this `kid`, even after the permitted refetch.
    #[error("Token signing key is unknown")]
    UnknownKey,
    /// No `kid`, and the set does not hold exactly one key that fits the algorithm.
    #[error("Token has no key id and no single key fits it")]
    AmbiguousKey,
    /// The key named by `kid` does not fit the token's algorithm.
    #[error("Token algorithm does not match its key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("Token signature is invalid")]
    BadSignature,
    /// A required claim is absent.
    #[error("Token is missing the {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an impossible value.
    #[error("Token has an invalid {0} claim")]
    InvalidClaim(&'static str),
    /// `iss` is not the configured issuer.
    #[error("Token issuer is not accepted")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("Token audience is not accepted")]
    WrongAudience,
    /// The token's `cnf` binding (RFC 7800) does not hold for this request: a DPoP-bound
    /// token without DPoP, a certificate-bound token without its certificate, or a binding
    /// this service does not check. A binding is never ignored.
    #[error("Token {0}")]
    Binding(&'static str),
}

/// A refused request, carrying everything needed to answer it: [`status`](Self::status),
/// [`code`](Self::code), [`description`](Self::description), and the whole response as a
/// [`Reply`] ([`reply`](Self::reply)), which converts into an `http::Response`.
///
/// ```
/// use api_auth::{AuthError, TokenError};
///
/// let refusal = AuthError::from(TokenError::Expired);
/// assert_eq!(refusal.status(), 401);
/// assert_eq!(refusal.code(), "invalid_token");
///
/// let reply = refusal.reply();
/// assert_eq!(
///     reply.headers,
///     [(
///         "www-authenticate",
///         r#"Bearer realm="api", error="invalid_token", error_description="Token has expired""#
///             .to_owned()
///     )]
/// );
/// assert_eq!(
///     reply.body(),
///     br#"{"error":"invalid_token","error_description":"Token has expired"}"#
/// );
///
/// // An unreachable identity provider asks the client to retry.
/// let response: http::Response<Vec<u8>> =
///     AuthError::KeysUnavailable { retry_after_secs: 10 }.reply().into();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "10");
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer credentials at all.
    #[error("no bearer token was sent")]
    MissingToken,
    /// An `Authorization` header that cannot be read: repeated, not text, an empty token
    /// (RFC 6750 §3.1 `invalid_request`, answered with the `Bearer` challenge).
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// A bearer token that failed verification.
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    /// A valid token that lacks the role or scope a route needs.
    #[error("the token lacks the {0} role or scope")]
    InsufficientScope(&'static str),
    /// Missing or unknown `X-API-Key`.
    #[error("missing or invalid API key")]
    InvalidApiKey,
    /// Missing or wrong `X-Shared-Secret`.
    #[error("missing or invalid shared secret")]
    InvalidSharedSecret,
    /// Plain HTTP when HTTPS is required: redirect to this URL.
    #[error("HTTPS is required")]
    HttpsRequired(String),
    /// The signing keys cannot be obtained and none are cached.
    #[error("signing keys are unavailable")]
    KeysUnavailable {
        /// Seconds after which a retry may succeed.
        retry_after_secs: u64,
    },
    /// The token's key is not held and is not fetched now: the budget of fetches for
    /// unknown keys (AWS ALB `kid`s, each fetched from its own URL before any signature can
    /// be checked) is spent for this cooldown. Answered like
    /// [`KeysUnavailable`](Self::KeysUnavailable), `503` with `Retry-After`: the key may
    /// exist, it was not looked at. Not logged per request (the budget logs a summary).
    #[error("signing key not fetched: too many unknown keys requested")]
    KeyFetchDeferred {
        /// Seconds after which a retry may be admitted.
        retry_after_secs: u64,
    },
    /// A request that cannot be served as sent: a request target that is not a path, a host
    /// that is missing, repeated or not allowed.
    /// Answered `400 invalid_request` without a challenge: it is not about credentials.
    #[error("invalid request: {0}")]
    MalformedRequest(&'static str),
    /// A DPoP proof that was refused, or could not be checked (RFC 9449).
    #[error(transparent)]
    Dpop(#[from] DpopError),
    /// A refusal answered with this service's full challenges: the `DPoP` scheme next to
    /// `Bearer` (RFC 9449 §7.1) and where its protected resource metadata is (RFC 9728 §5.1).
    /// [`AuthError::cause`] is the refusal itself.
    #[error(transparent)]
    Challenged(Box<Challenged>),
}

impl AuthError {
    /// The refusal itself, under any [`AuthError::Challenged`] wrapping.
    pub fn cause(&self) -> &AuthError {
        match self {
            Self::Challenged(challenged) => challenged.error.cause(),
            other => other,
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Dpop(error) => error.status(),
            Self::Challenged(challenged) => challenged.error.status(),
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::InvalidApiKey
            | Self::InvalidSharedSecret => 401,
            Self::MalformedAuthorization(_) | Self::MalformedRequest(_) => 400,
            Self::InsufficientScope(_) => 403,
            Self::HttpsRequired(_) => 308,
            Self::KeysUnavailable { .. } | Self::KeyFetchDeferred { .. } => 503,
        }
    }

    /// The machine-readable `error` code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Dpop(error) => error.code(),
            Self::Challenged(challenged) => challenged.error.code(),
            Self::MissingToken => "missing_token",
            Self::MalformedAuthorization(_) | Self::MalformedRequest(_) => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InvalidSharedSecret => "invalid_shared_secret",
            Self::HttpsRequired(_) => "https_required",
            Self::KeysUnavailable { .. } | Self::KeyFetchDeferred { .. } => {
                "temporarily_unavailable"
            }
        }
    }

    /// The human-readable `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::MissingToken => "Bearer token required".to_owned(),
            Self::InvalidToken(e) => e.to_string(),
            Self::InsufficientScope(role) => format!("The {role} role or scope is required"),
            Self::KeysUnavailable { .. } | Self::KeyFetchDeferred { .. } => {
                "Signing keys are temporarily unavailable; retry later".to_owned()
            }
            Self::Dpop(error) => error.description(),
            Self::Challenged(challenged) => challenged.error.description(),
            other => capitalise(&other.to_string()),
        }
    }

    /// The complete response: status, challenge or redirect headers, and JSON body.
    pub fn reply(&self) -> Reply {
        if let Self::Challenged(challenged) = self {
            return challenged.reply();
        }
        let description = self.description();
        let mut reply = Reply::json(
            self.status(),
            &json!({ "error": self.code(), "error_description": description }),
        );
        let challenge = match self {
            Self::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            Self::MalformedAuthorization(_) | Self::InvalidToken(_) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                self.code(),
                quoted_string_safe(&description)
            )),
            Self::InsufficientScope(role) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{}\", scope=\"{role}\"",
                quoted_string_safe(&description)
            )),
            Self::InvalidApiKey => Some(format!("ApiKey realm=\"{REALM}\", header=\"X-API-Key\"")),
            Self::InvalidSharedSecret => Some(format!(
                "SharedSecret realm=\"{REALM}\", header=\"X-Shared-Secret\""
            )),
            // Without the service's algorithms (an unwrapped refusal), the challenge names none.
            Self::Dpop(error) => error.challenge(&[]),
            _ => None,
        };
        if let Some(challenge) = challenge {
            reply = reply.with_header("www-authenticate", challenge);
        }
        match self {
            Self::HttpsRequired(location) => reply.with_header("location", location.clone()),
            Self::KeysUnavailable { retry_after_secs }
            | Self::KeyFetchDeferred { retry_after_secs } => {
                reply.with_header("retry-after", retry_after_secs.max(&1).to_string())
            }
            Self::Dpop(error) => match error.retry_after_secs() {
                Some(secs) => reply.with_header("retry-after", secs.max(1).to_string()),
                None => reply,
            },
            _ => reply,
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Keeps only the characters RFC 6750 §3 allows inside `error_description`.
pub(crate) fn quoted_string_safe(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn missing_token_is_a_bare_challenge() {
        let reply = AuthError::MissingToken.reply();
        assert_eq!(reply.status, 401);
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(reply.body_json()["error"], "missing_token");
    }

    #[test]
    fn expired_token_says_so_in_header_and_body() {
        let reply = AuthError::from(TokenError::Expired).reply();
        assert_eq!(reply.status, 401);
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Token has expired\""
            )
        );
        assert_eq!(reply.body_json()["error_description"], "Token has expired");
    }

    #[test]
    fn insufficient_scope_is_403_with_scope() {
        let reply = AuthError::InsufficientScope("admin").reply();
        assert_eq!(reply.status, 403);
        let challenge = header(&reply, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(challenge.contains("scope=\"admin\""), "{challenge}");
    }

    #[test]
    fn unavailable_keys_ask_for_a_retry() {
        let reply = AuthError::KeysUnavailable {
            retry_after_secs: 0,
        }
        .reply();
        assert_eq!(reply.status, 503);
        assert_eq!(header(&reply, "retry-after"), Some("1"));
        let deferred = AuthError::KeyFetchDeferred {
            retry_after_secs: 7,
        };
        let reply = deferred.reply();
        assert_eq!(reply.status, 503);
        assert_eq!(header(&reply, "retry-after"), Some("7"));
        assert_eq!(reply.body_json()["error"], "temporarily_unavailable");
    }

    #[test]
    fn a_key_over_its_replay_store_share_is_asked_to_retry() {
        let reply = AuthError::from(DpopError::TooManyProofs {
            retry_after_secs: 7,
        })
        .reply();
        assert_eq!(reply.status, 429);
        assert_eq!(header(&reply, "retry-after"), Some("7"));
        assert_eq!(header(&reply, "www-authenticate"), None);
        assert_eq!(reply.body_json()["error"], "too_many_requests");
    }

    #[test]
    fn descriptions_cannot_break_the_challenge() {
        assert_eq!(quoted_string_safe("a\"b\\c\nd"), "abcd");
    }
}
