//! RFC 7638 JWK thumbprints (the `jkt` of RFC 9449 §6.1) and the constant-time comparison of
//! a presented binding with the one a token carries.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use subtle::ConstantTimeEq;

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded: the value a DPoP-bound
/// token carries in `cnf.jkt` (RFC 9449 §6.1).
///
/// Only the members RFC 7638 §3.2 requires for the key type are hashed, in lexicographic
/// order, without whitespace: `e`, `kty`, `n` for RSA; `crv`, `kty`, `x`, `y` for EC; `crv`,
/// `kty`, `x` for OKP (RFC 8037 §2). Any other member (`kid`, `alg`, `use`) leaves the
/// thumbprint unchanged. `None` when `jwk` is not an object of one of these types with each
/// required member a string.
///
/// ```
/// // The example of RFC 7638 §3.1.
/// let jwk = serde_json::json!({
///     "kty": "RSA",
///     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
///     "e": "AQAB",
///     "alg": "RS256",
///     "kid": "2011-04-29"
/// });
/// assert_eq!(
///     api_auth::jwk_thumbprint(&jwk).as_deref(),
///     Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
/// );
/// ```
pub fn jwk_thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (index, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if index > 0 {
            canonical.push(',');
        }
        // Names and values are JSON strings; serde_json escapes exactly what JSON requires
        // (RFC 7638 §3.3: none of these members ever needs escaping).
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())))
}

/// Whether a presented thumbprint or hash equals the expected one, in time independent of
/// where they differ (a token's `cnf.jkt` or `cnf.x5t#S256`, a proof's `ath`).
///
/// ```
/// assert!(api_auth::thumbprints_match("NzbLsXh8", "NzbLsXh8"));
/// assert!(!api_auth::thumbprints_match("NzbLsXh8", "NzbLsXh9"));
/// ```
pub fn thumbprints_match(expected: &str, presented: &str) -> bool {
    // Lengths are public (a SHA-256 value always has the same one); `ct_eq` of slices of
    // different lengths is false at once.
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The RSA key of RFC 7638 §3.1 and the thumbprint the RFC publishes for it.
    const RFC_7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const RFC_7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

    #[test]
    fn the_rfc_7638_example_gives_the_published_thumbprint() {
        let jwk = json!({"kty":"RSA","n":RFC_7638_N,"e":"AQAB","alg":"RS256","kid":"2011-04-29"});
        assert_eq!(jwk_thumbprint(&jwk).as_deref(), Some(RFC_7638_THUMBPRINT));
        // Optional members and their order do not change it.
        let bare = json!({"e":"AQAB","n":RFC_7638_N,"kty":"RSA"});
        assert_eq!(jwk_thumbprint(&bare).as_deref(), Some(RFC_7638_THUMBPRINT));
    }

    #[test]
    fn ec_and_okp_thumbprints_hash_their_required_members_in_order() {
        let ec = json!({"kty":"EC","crv":"P-256","x":"xx","y":"yy","kid":"k","use":"sig"});
        let expected = URL_SAFE_NO_PAD.encode(digest(
            &SHA256,
            br#"{"crv":"P-256","kty":"EC","x":"xx","y":"yy"}"#,
        ));
        assert_eq!(jwk_thumbprint(&ec), Some(expected));
        let okp = json!({"x":"xx","kty":"OKP","crv":"Ed25519"});
        let expected = URL_SAFE_NO_PAD.encode(digest(
            &SHA256,
            br#"{"crv":"Ed25519","kty":"OKP","x":"xx"}"#,
        ));
        assert_eq!(jwk_thumbprint(&okp), Some(expected));
    }

    #[test]
    fn incomplete_or_unknown_keys_have_no_thumbprint() {
        for jwk in [
            json!({"kty":"RSA","n":"AQAB"}),
            json!({"kty":"EC","crv":"P-256","x":"xx"}),
            json!({"kty":"OKP","crv":"Ed25519","x":5}),
            json!({"kty":"oct","k":"c2VjcmV0"}),
            json!({"n":"AQAB","e":"AQAB"}),
            json!("RSA"),
        ] {
            assert_eq!(jwk_thumbprint(&jwk), None, "{jwk}");
        }
    }

    #[test]
    fn thumbprints_are_compared_exactly() {
        assert!(thumbprints_match(RFC_7638_THUMBPRINT, RFC_7638_THUMBPRINT));
        assert!(!thumbprints_match(
            RFC_7638_THUMBPRINT,
            &RFC_7638_THUMBPRINT[1..]
        ));
        assert!(!thumbprints_match(RFC_7638_THUMBPRINT, ""));
        assert!(!thumbprints_match(
            RFC_7638_THUMBPRINT,
            &RFC_7638_THUMBPRINT.to_lowercase()
        ));
    }
}
