//! Compact JWS parsing (RFC 7515) and claim checks (RFC 7519, RFC 8725).
//!
//! The signature itself is checked by `jsonwebtoken`'s crypto layer. The header is read
//! here rather than by `jsonwebtoken::decode`, because that decoder knows neither RFC 9864's
//! `Ed25519` algorithm name nor `crit`, refuses duplicate members only for the fields it
//! knows, and would parse the claims a second time; the claim checks below run once over the
//! claims that are handed to the route. Neither part is ever built as a `serde_json::Value`
//! tree, which can cost a hundred times the part's size (see `canonical_json`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::algorithm::Algorithm;
use crate::canonical_json::canonical_object;
use crate::claim_fields::{Audience, Claim};
use crate::claims::ClaimsData;
use crate::error::TokenError;

/// A token split into its parts, header read, signature not yet checked.
#[derive(Debug)]
pub(crate) struct UnverifiedToken<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
}

/// Splits and reads a compact JWS. Refuses oversized tokens, anything but three non-empty
/// base64url parts, non-object JSON or duplicate members at any depth, `alg: none` and unknown
/// algorithms, and any `crit` or `b64` extension.
pub(crate) fn parse(token: &str, max_len: usize) -> Result<UnverifiedToken<'_>, TokenError> {
    if token.len() > max_len {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("expected three dot-separated parts"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(TokenError::Malformed("empty part"));
    }
    if !is_base64url(payload) || !is_base64url(signature) {
        return Err(TokenError::Malformed("not base64url"));
    }
    let Header { alg, kid, .. } = read_header(header)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(UnverifiedToken {
        alg,
        kid,
        signing_input,
        payload,
        signature,
    })
}

/// A JOSE header, read and checked.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    /// The whole header as canonical JSON text, for the header fields of a gateway's own
    /// format.
    pub(crate) text: String,
}

/// Reads a header segment (unpadded base64url): a JSON object without duplicate members,
/// with a known `alg`, no `crit` or `b64` extension, and a `kid` that is a string if any.
pub(crate) fn read_header(segment: &str) -> Result<Header, TokenError> {
    let text = canonical_object(&decode_part(segment, Part::Header)?)
        .map_err(|_| Part::Header.malformed())?;
    let members: JoseHeader<'_> =
        serde_json::from_str(&text).map_err(|_| Part::Header.malformed())?;
    let alg = members
        .alg
        .and_then(|alg| serde_json::from_str::<&str>(alg.get()).ok())
        .and_then(Algorithm::from_name)
        .ok_or(TokenError::AlgorithmNotAllowed)?;
    if members.crit.is_some() || members.b64.is_some_and(|b64| b64.get() != "true") {
        return Err(TokenError::UnsupportedExtension);
    }
    let kid = match members.kid {
        None => None,
        Some(kid) => Some(
            serde_json::from_str::<String>(kid.get())
                .map_err(|_| TokenError::Malformed("kid is not a string"))?,
        ),
    };
    Ok(Header { alg, kid, text })
}

/// The header members this crate reads, each as its JSON text when present (`null`
/// included: a `crit` of `null` is still a `crit`).
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    alg: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    kid: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    crit: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    b64: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// Decodes the payload into its claims (read before the signature check only to choose the
/// issuer).
pub(crate) fn decode_claims(payload: &str) -> Result<ClaimsData, TokenError> {
    ClaimsData::from_payload(&decode_part(payload, Part::Payload)?)
        .map_err(|_| Part::Payload.malformed())
}

pub(crate) fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Clone, Copy)]
enum Part {
    Header,
    Payload,
}

impl Part {
    fn malformed(self) -> TokenError {
        TokenError::Malformed(match self {
            Part::Header => "header is not base64url-encoded JSON object",
            Part::Payload => "payload is not base64url-encoded JSON object",
        })
    }
}

fn decode_part(part: &str, which: Part) -> Result<Vec<u8>, TokenError> {
    if !is_base64url(part) {
        return Err(which.malformed());
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| which.malformed())
}

/// The claim rules of one deployment.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) audience: Option<String>,
    pub(crate) leeway_secs: i64,
}

/// Reads a NumericDate. Only integers are accepted: every mainstream issuer writes them,
/// and a fraction or an out-of-range number is a sign of a forged or broken token.
pub(crate) fn numeric_date(
    claim: Claim<i64>,
    name: &'static str,
) -> Result<Option<i64>, TokenError> {
    match claim {
        Claim::Absent => Ok(None),
        Claim::Valid(value) => Ok(Some(value)),
        Claim::Invalid => Err(TokenError::InvalidClaim(name)),
    }
}

/// Checks `exp` (required), `nbf` and `aud` at time `now` (Unix seconds). `iss` is checked
/// before the signature, when it picks the issuer (`Auth::issuer_of`).
pub(crate) fn validate_claims(
    claims: &ClaimsData,
    rules: &ClaimRules,
    now: i64,
) -> Result<(), TokenError> {
    let fields = claims.fields();
    let exp = numeric_date(fields.exp, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    check_time(
        exp,
        numeric_date(fields.nbf, "nbf")?,
        rules.leeway_secs,
        now,
    )?;
    if let Some(audience) = &rules.audience {
        let matches = match fields.aud() {
            Audience::Absent => return Err(TokenError::MissingClaim("aud")),
            Audience::One(aud) => aud == audience,
            Audience::Many(auds) => fields.audiences(auds).any(|aud| aud == audience),
            Audience::Invalid => return Err(TokenError::InvalidClaim("aud")),
        };
        if !matches {
            return Err(TokenError::WrongAudience);
        }
    }
    Ok(())
}

/// The time-window part of the claim checks, also re-run on every token-cache hit.
pub(crate) fn check_time(
    exp: i64,
    nbf: Option<i64>,
    leeway: i64,
    now: i64,
) -> Result<(), TokenError> {
    if now.saturating_sub(leeway) >= exp {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn b64(value: &str) -> String {
        URL_SAFE_NO_PAD.encode(value)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    #[test]
    fn reads_alg_and_kid() {
        let t = token(r#"{"alg":"Ed25519","kid":"k1","typ":"JWT"}"#, "{}");
        let parsed = parse(&t, 8192).unwrap();
        assert_eq!(parsed.alg, Algorithm::Ed25519);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert!(t.starts_with(parsed.signing_input));
    }

    #[test]
    fn structural_defects_are_malformed() {
        let good_header = b64(r#"{"alg":"RS256"}"#);
        for bad in [
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            format!("{good_header}..c2ln"),
            format!("{good_header}.e30."),
            format!("{good_header}.e30=.c2ln"),
            format!("{good_header}.e30.c2ln="),
            format!("{good_header}.e3*.c2ln"),
            format!("{}.e30.c2ln", b64("null")),
            format!("{}.e30.c2ln", b64("[1]")),
            format!("{}.e30.c2ln", b64(r#"{"alg":"RS256","alg":"RS256"}"#)),
            format!(
                "{}.e30.c2ln",
                b64(r#"{"alg":"RS256","jwk":{"kty":"RSA","kty":"EC"}}"#)
            ),
            format!("{}.e30.c2ln", b64(r#"{"alg":"RS256","kid":5}"#)),
        ] {
            assert!(
                matches!(parse(&bad, 8192), Err(TokenError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse(&"a".repeat(9000), 8192).unwrap_err(),
            TokenError::TooLarge
        );
    }

    #[test]
    fn none_and_unknown_algorithms_are_refused() {
        for alg in [
            r#""none""#,
            r#""None""#,
            r#""nOnE""#,
            r#""HS512""#,
            "null",
            "5",
        ] {
            let t = token(&format!(r#"{{"alg":{alg}}}"#), "{}");
            assert_eq!(
                parse(&t, 8192).unwrap_err(),
                TokenError::AlgorithmNotAllowed,
                "{alg}"
            );
        }
        assert_eq!(
            parse(&token("{}", "{}"), 8192).unwrap_err(),
            TokenError::AlgorithmNotAllowed
        );
    }

    #[test]
    fn extensions_are_refused() {
        for header in [
            r#"{"alg":"RS256","crit":["exp"]}"#,
            r#"{"alg":"RS256","crit":[]}"#,
            r#"{"alg":"RS256","b64":false}"#,
        ] {
            assert_eq!(
                parse(&token(header, "{}"), 8192).unwrap_err(),
                TokenError::UnsupportedExtension
            );
        }
    }

    fn rules() -> ClaimRules {
        ClaimRules {
            audience: Some("api".into()),
            leeway_secs: 30,
        }
    }

    fn check(claims: Value) -> Result<(), TokenError> {
        let claims = ClaimsData::from_payload(claims.to_string().as_bytes()).unwrap();
        validate_claims(&claims, &rules(), 1_000_000)
    }

    #[test]
    fn claim_rules() {
        let ok = json!({"iss":"https://issuer.example","aud":"api","exp":1_000_100});
        assert_eq!(check(ok.clone()), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = ok.clone();
            c[k] = v;
            check(c)
        };
        assert_eq!(with("aud", json!(["x", "api"])), Ok(()));
        assert_eq!(
            with("exp", json!(1_000_000 - 29)),
            Ok(()),
            "inside the leeway"
        );
        assert_eq!(with("exp", json!(1_000_000 - 30)), Err(TokenError::Expired));
        assert_eq!(
            with("exp", json!("1000100")),
            Err(TokenError::InvalidClaim("exp"))
        );
        assert_eq!(
            with("exp", json!(1_000_100.5)),
            Err(TokenError::InvalidClaim("exp"))
        );
        assert_eq!(
            with("exp", json!(1e300)),
            Err(TokenError::InvalidClaim("exp"))
        );
        assert_eq!(with("nbf", json!(1_000_031)), Err(TokenError::NotYetValid));
        assert_eq!(with("nbf", json!(1_000_030)), Ok(()));
        assert_eq!(
            with("aud", json!(["x", "y"])),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(with("aud", json!(5)), Err(TokenError::InvalidClaim("aud")));
        assert_eq!(
            check(json!({"iss":"https://issuer.example","aud":"api"})),
            Err(TokenError::MissingClaim("exp"))
        );
    }

    #[test]
    fn duplicate_claims_are_refused() {
        for payload in [
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"realm_access":{"roles":["user"],"roles":["admin"]}}"#,
            r#"{"groups":[{"id":1,"id":2}]}"#,
        ] {
            assert!(
                matches!(decode_claims(&b64(payload)), Err(TokenError::Malformed(_))),
                "{payload}"
            );
        }
    }
}
