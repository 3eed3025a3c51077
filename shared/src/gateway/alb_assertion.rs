//! The AWS ALB's assertion as the load balancer writes it: base64url segments with `=`
//! padding, and the header fields `signer`, `exp`, `client` and `iss` that bind the token to
//! one load balancer, checked before any key is fetched.
//!
//! AWS, "User claims encoding and signature verification"
//! (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#user-claims-encoding>):
//! the header holds `alg` (ES256), `kid`, `signer` (the load balancer's ARN), `iss`,
//! `client` and `exp`; "standard libraries are not compatible with the padding", so the
//! segments are read here, and the signature is checked over them exactly as sent.

use serde_json::{Map, Value};

use crate::claim_fields::{Claim, ClaimFields};
use crate::error::TokenError;
use crate::token::{self, UnverifiedToken};

/// What binds an assertion to one load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlbRules {
    /// The load balancer's ARN: the header's `signer` must equal it.
    pub(crate) signer: String,
    /// The expected `client` header field, when configured.
    pub(crate) client: Option<String>,
    /// The expected `iss` (header, and payload when present), when configured.
    pub(crate) iss: Option<String>,
}

impl AlbRules {
    /// Splits and reads an assertion, and checks its header fields: the `signer`, the
    /// header's `exp`, and the `client` and `iss` when configured. Returns the token with
    /// its padding removed from the payload and signature (the signing input stays as sent)
    /// and the header's `exp`.
    pub(crate) fn parse<'t>(
        &self,
        token: &'t str,
        max_len: usize,
        leeway: i64,
        now: i64,
    ) -> Result<(UnverifiedToken<'t>, i64), TokenError> {
        if token.len() > max_len {
            return Err(TokenError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };
        let signing_input = &token[..header.len() + 1 + payload.len()];
        let read = token::read_header(unpadded(header)?)?;
        // The header is small (bounded by the token's size) and already checked for
        // duplicate members; its fields are read from a map.
        let members: Map<String, Value> = serde_json::from_str(&read.text)
            .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
        let exp = self.check_header(&members, leeway, now)?;
        Ok((
            UnverifiedToken {
                alg: read.alg,
                kid: read.kid,
                signing_input,
                payload: unpadded(payload)?,
                signature: unpadded(signature)?,
            },
            exp,
        ))
    }

    /// The header fields that bind the assertion to this load balancer; returns `exp`.
    fn check_header(
        &self,
        header: &Map<String, Value>,
        leeway: i64,
        now: i64,
    ) -> Result<i64, TokenError> {
        // Every load balancer of a region signs with the same keys: the signer is the only
        // thing that tells this one's assertions from anyone else's.
        if require_string(header, "signer")? != self.signer {
            return Err(TokenError::WrongIssuer);
        }
        let exp = match header.get("exp") {
            None => return Err(TokenError::MissingClaim("exp")),
            Some(exp) => exp.as_i64().ok_or(TokenError::InvalidClaim("exp"))?,
        };
        token::check_time(exp, None, leeway, now)?;
        if let Some(client) = &self.client
            && require_string(header, "client")? != client
        {
            return Err(TokenError::WrongAudience);
        }
        if let Some(iss) = &self.iss
            && require_string(header, "iss")? != iss
        {
            return Err(TokenError::WrongIssuer);
        }
        Ok(exp)
    }

    /// Checks the payload once the signature has verified: `exp` and `nbf` when present
    /// (the header's `exp` is already checked), and `iss` when present and configured.
    /// Returns when the assertion expires: the earlier of the two `exp`s.
    pub(crate) fn check_claims(
        &self,
        claims: &ClaimFields,
        header_exp: i64,
        leeway: i64,
        now: i64,
    ) -> Result<i64, TokenError> {
        let exp =
            token::numeric_date(claims.exp, "exp")?.map_or(header_exp, |exp| exp.min(header_exp));
        token::check_time(exp, token::numeric_date(claims.nbf, "nbf")?, leeway, now)?;
        match claims.iss() {
            Claim::Valid(iss) if self.iss.as_ref().is_some_and(|expected| expected != iss) => {
                return Err(TokenError::WrongIssuer);
            }
            Claim::Absent | Claim::Valid(_) => {}
            Claim::Invalid => return Err(TokenError::InvalidClaim("iss")),
        }
        Ok(exp)
    }
}

fn require_string<'m>(
    members: &'m Map<String, Value>,
    name: &'static str,
) -> Result<&'m str, TokenError> {
    match members.get(name) {
        None => Err(TokenError::MissingClaim(name)),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// A base64url segment without its `=` padding. The padding, when present, must be exactly
/// what RFC 4648 §5 prescribes for the length (`==` after 2 characters of the last quantum,
/// `=` after 3); an unpadded segment is taken as is.
fn unpadded(segment: &str) -> Result<&str, TokenError> {
    let data = segment.trim_end_matches('=');
    let padding = segment.len() - data.len();
    let padding_fits = data.len() % 4 != 1
        && (padding == 0 || matches!(data.len() % 4, 2 | 3) && padding == 4 - data.len() % 4);
    if data.is_empty() || !padding_fits || !token::is_base64url(data) {
        return Err(TokenError::Malformed("not base64url"));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE;
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a/1";
    const NOW: i64 = 1_700_000_000;

    fn rules() -> AlbRules {
        AlbRules {
            signer: ARN.to_owned(),
            client: Some("client-1".to_owned()),
            iss: Some("https://idp.example".to_owned()),
        }
    }

    fn header() -> Value {
        json!({"alg": "ES256", "kid": "k-1", "signer": ARN, "iss": "https://idp.example",
               "client": "client-1", "exp": NOW + 60})
    }

    fn assertion(header: &Value, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE.encode(header.to_string()),
            URL_SAFE.encode(payload),
            URL_SAFE.encode([7u8; 64])
        )
    }

    #[test]
    fn padded_segments_are_read_and_signed_as_sent() {
        let token = assertion(&header(), r#"{"sub":"a"}"#);
        assert!(token.contains('='), "{token}");
        let (parsed, exp) = rules().parse(&token, 8192, 0, NOW).unwrap();
        assert_eq!(exp, NOW + 60);
        assert_eq!(parsed.kid.as_deref(), Some("k-1"));
        assert_eq!(parsed.signing_input, &token[..token.rfind('.').unwrap()]);
        assert!(!parsed.payload.ends_with('=') && !parsed.signature.ends_with('='));
    }

    #[test]
    fn wrong_padding_is_malformed() {
        for segment in ["e30", "e30=", "YWI=", "YWI", "YQ==", "YQ"] {
            assert!(unpadded(segment).is_ok(), "{segment}");
        }
        for segment in ["e30==", "YWI==", "YQ=", "YQ===", "=", "e=30", "Y", "YWJj="] {
            assert!(unpadded(segment).is_err(), "{segment}");
        }
    }

    #[test]
    fn header_fields_bind_the_token_to_one_load_balancer() {
        let with = |name: &str, value: Value| {
            let mut h = header();
            h[name] = value;
            rules()
                .parse(&assertion(&h, "{}"), 8192, 0, NOW)
                .map(|(_, exp)| exp)
        };
        let without = |name: &str| {
            let mut h = header();
            h.as_object_mut().unwrap().remove(name);
            rules()
                .parse(&assertion(&h, "{}"), 8192, 0, NOW)
                .map(|(_, exp)| exp)
        };
        assert_eq!(
            with("signer", json!(format!("{ARN}0"))),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            with("signer", json!([ARN])),
            Err(TokenError::InvalidClaim("signer"))
        );
        assert_eq!(without("signer"), Err(TokenError::MissingClaim("signer")));
        assert_eq!(
            with("client", json!("client-2")),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(without("client"), Err(TokenError::MissingClaim("client")));
        assert_eq!(
            with("iss", json!("https://other.example")),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(with("exp", json!(NOW - 1)), Err(TokenError::Expired));
        assert_eq!(
            with("exp", json!("4102444800")),
            Err(TokenError::InvalidClaim("exp"))
        );
        assert_eq!(without("exp"), Err(TokenError::MissingClaim("exp")));
        let open = AlbRules {
            client: None,
            iss: None,
            ..rules()
        };
        let mut h = header();
        h["client"] = json!("anyone");
        h["iss"] = json!("https://anywhere.example");
        assert!(open.parse(&assertion(&h, "{}"), 8192, 0, NOW).is_ok());
    }

    #[test]
    fn payload_exp_and_iss_are_checked_when_present() {
        let check = |claims: Value| {
            let fields = ClaimFields::read(&claims.to_string()).unwrap();
            rules().check_claims(&fields, NOW + 60, 0, NOW)
        };
        assert_eq!(check(json!({})), Ok(NOW + 60));
        assert_eq!(check(json!({"exp": NOW + 30})), Ok(NOW + 30));
        assert_eq!(check(json!({"exp": NOW - 1})), Err(TokenError::Expired));
        assert_eq!(check(json!({"iss": "https://idp.example"})), Ok(NOW + 60));
        assert_eq!(
            check(json!({"iss": "https://x.example"})),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            check(json!({"iss": 5})),
            Err(TokenError::InvalidClaim("iss"))
        );
    }
}
