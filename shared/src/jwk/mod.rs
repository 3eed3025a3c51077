//! RFC 7517 key sets, parsed once per fetch into ready verifying keys.
//!
//! # Which key checks are made where
//!
//! Signatures are verified by `jsonwebtoken` on its aws-lc-rs backend
//! (`jsonwebtoken::crypto::verify` in `auth.rs`). Relied on from aws-lc:
//! - ECDSA, at verification: `r` and `s` must lie in `1..n-1` (FIPS 186-5 §6.4.2 step 1,
//!   RFC 7518 §3.4), so an all-zero signature, or one with `r` or `s` = 0 or >= n, never
//!   verifies. `shared/tests/signature_edges.rs` proves it on this crate's own path.
//! - EC keys, at import (`ParsedPublicKey::new`): both coordinates below p and the point on
//!   its curve (FIPS 186-5 / SP 800-186 public key validation, SEC 1 §2.3.4). P-256 and P-384
//!   have cofactor 1, so every point that passes has prime order, and the uncompressed form
//!   cannot encode the point at infinity.
//! - Ed25519, at verification (RFC 8032 §5.1.7): `S` < L, and `A` and `R` decode.
//! - RSA, at verification: modulus of 2048 to 8192 bits (the `RSA_*_2048_8192_*` parameters),
//!   padding (RFC 8017 §8.1.2, §8.2.2).
//!
//! Added here, when a key set is parsed, so that such a key never enters a set (where it
//! would answer for its `kid`):
//! - Ed25519 (RFC 8032 §5.1.3; Chalkias et al., "Taming the many EdDSAs", and the
//!   ed25519-speccheck vectors): the point must decode, be canonically encoded (y < p, no sign
//!   bit when x = 0) and not have small order. aws-lc imports any 32 bytes and verifies
//!   cofactorless against any point that decodes: with a small-order `A`, the signature
//!   `R` = identity, `S` = 0 verifies every message whose hash is a multiple of the point's
//!   order (every message, for the identity). The curve arithmetic is curve25519-dalek's.
//! - RSA (RFC 8017 §3.1, RFC 7518 §3.3): modulus of 2048 to 8192 bits and odd; exponent odd,
//!   at least 3 and at most 32 bits. aws-lc would refuse an even modulus or exponent only
//!   when verifying.
//! - Any key: `use` is `sig`, `key_ops` has `verify`, no private members, an `alg` (if any)
//!   that fits the key type and is not `HS256`.
//!
//! A key that fails a check is skipped; one fetch logs a single summary of what was skipped,
//! by fixed reasons that never quote the document.

mod checks;
mod unusable;

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;

use crate::algorithm::{Algorithm, KeyKind};

pub(crate) use checks::check_ed25519_point;
use checks::{check_rsa, strip_leading_zeros};
use unusable::Skipped;
pub(crate) use unusable::Unusable;

/// Base64url as found in the wild: RFC 7517 says unpadded, some providers pad.
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a fetched document cannot serve as a key set. The previous set, if any, stays.
///
/// The description is fixed: it never repeats content of the document, which may be
/// anything a misconfigured or hostile server answers and ends up in `/healthz` and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The document is not JSON.
    #[error("the key set document is not JSON")]
    NotJson,
    /// JSON, but not an object with a `keys` array.
    #[error("the key set document is not a JSON object with a `keys` array")]
    NotAKeySet,
    /// Parsed, but no key in it can be used.
    #[error("the key set holds no usable signing key")]
    NoUsableKey,
}

/// One public key, ready to verify signatures.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) kind: KeyKind,
    /// The JWK's own `alg`, which then is the only algorithm it verifies.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
    /// SHA-256 of the public key material: identifies the key across refetches.
    pub(crate) fingerprint: Fingerprint,
}

/// A digest identifying one public key.
pub(crate) type Fingerprint = [u8; 32];

/// The fingerprint of a key of `kind` made of these parts.
pub(crate) fn fingerprint(kind: KeyKind, material: &[&[u8]]) -> Fingerprint {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&[kind as u8]);
    for part in material {
        // A length always fits in 64 bits on the platforms this builds for; saturate otherwise.
        ctx.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl VerifyingKey {
    /// Whether a token with header `alg` may be verified with this key.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.kind == alg.key_kind() && self.alg.is_none_or(|own| own.same_as(alg))
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The outcome of looking a token's key up in a set.
#[derive(Debug)]
pub(crate) enum Selection<'a> {
    Found(&'a Arc<VerifyingKey>),
    /// The `kid` is not in the set (a refetch may help).
    UnknownKid,
    /// The `kid` is there but its key does not fit the algorithm.
    Mismatch,
    /// No `kid`, and not exactly one key fits.
    Ambiguous,
}

/// A parsed key set: only usable signature keys, in document order.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// A set of keys read elsewhere (PEM keys).
    pub(crate) fn from_keys(keys: Vec<Arc<VerifyingKey>>) -> Self {
        Self { keys }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// The fingerprints of the keys in the set.
    pub(crate) fn fingerprints(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        self.keys.iter().map(|k| k.fingerprint)
    }

    /// Whether the key with this fingerprint is in the set.
    pub(crate) fn contains_key(&self, fingerprint: &Fingerprint) -> bool {
        self.keys.iter().any(|k| &k.fingerprint == fingerprint)
    }

    /// Whether a key with this id is in the set.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Selection::UnknownKid;
                }
                named
                    .find(|k| k.fits(alg))
                    .map_or(Selection::Mismatch, Selection::Found)
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Selection::Found(only),
                    _ => Selection::Ambiguous,
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    d: Option<Value>,
}

/// Parses a JWK set document, keeping at most `max_keys` usable keys.
///
/// Keys that cannot be used (unknown type, weak RSA, an EC point off its curve, an Ed25519
/// point of small order or not canonically encoded, `use` other than `sig`, private
/// material, duplicate `kid`) are skipped; one warning counts them by reason, without
/// repeating anything of the document. The document is refused only when nothing usable
/// remains.
pub fn parse_jwks(document: &[u8], max_keys: usize) -> Result<KeySet, JwksError> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let doc: Document = serde_json::from_slice(document).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => JwksError::NotAKeySet,
        _ => JwksError::NotJson,
    })?;
    let entries = doc.keys.len();
    let mut set = KeySet::default();
    let mut skipped = Skipped::default();
    for (index, raw) in doc.keys.iter().enumerate() {
        if set.keys.len() >= max_keys {
            skipped.add(Unusable::OverLimit, entries.saturating_sub(index));
            break;
        }
        match parse_jwk(raw) {
            Ok(key) if key.kid.as_deref().is_some_and(|kid| set.contains_kid(kid)) => {
                skipped.add(Unusable::DuplicateKid, 1);
            }
            Ok(key) => set.keys.push(Arc::new(key)),
            Err(reason) => skipped.add(reason, 1),
        }
    }
    if skipped.total() > 0 {
        tracing::warn!(
            entries,
            kept = set.keys.len(),
            skipped = skipped.total(),
            reasons = %skipped,
            "key set entries skipped"
        );
    }
    if set.keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(set)
}

/// Reads one JWK into a verifying key, with every check a key set entry gets. A DPoP proof's
/// `jwk` header (RFC 9449 §4.3) goes through here too, so it is held to the same standard.
pub(crate) fn parse_jwk(raw: &Value) -> Result<VerifyingKey, Unusable> {
    RawJwk::deserialize(raw)
        .map_err(|_| Unusable::NotAJwk)
        .and_then(|jwk| parse_key(&jwk))
}

fn b64(field: &Option<String>) -> Result<Vec<u8>, Unusable> {
    let text = field.as_deref().ok_or(Unusable::BadMember)?;
    JWK_B64.decode(text).map_err(|_| Unusable::BadMember)
}

fn parse_key(jwk: &RawJwk) -> Result<VerifyingKey, Unusable> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig")
        || jwk
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err(Unusable::NotForSignatures);
    }
    if jwk.d.is_some() {
        return Err(Unusable::PrivateMaterial);
    }
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(Algorithm::HS256) | None => return Err(Unusable::UnsupportedAlgorithm),
            some => some,
        },
    };
    let (kind, fingerprint, key) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let n = b64(&jwk.n)?;
            let e = b64(&jwk.e)?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            check_rsa(n, e)?;
            (
                KeyKind::Rsa,
                fingerprint(KeyKind::Rsa, &[n, e]),
                DecodingKey::from_rsa_raw_components(n, e),
            )
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let (kind, size, verify_alg) = if curve == "P-256" {
                (KeyKind::EcP256, 32, &ECDSA_P256_SHA256_FIXED)
            } else {
                (KeyKind::EcP384, 48, &ECDSA_P384_SHA384_FIXED)
            };
            let x = b64(&jwk.x)?;
            let y = b64(&jwk.y)?;
            if x.len() != size || y.len() != size {
                return Err(Unusable::BadMember);
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // aws-lc checks the coordinates and that the point is on the curve.
            ParsedPublicKey::new(verify_alg, &point).map_err(|_| Unusable::PointNotOnCurve)?;
            (
                kind,
                fingerprint(kind, &[&point]),
                DecodingKey::from_ec_der(&point),
            )
        }
        ("OKP", Some("Ed25519")) => {
            let x: [u8; 32] = b64(&jwk.x)?.try_into().map_err(|_| Unusable::BadMember)?;
            check_ed25519_point(&x)?;
            ParsedPublicKey::new(&ED25519, x).map_err(|_| Unusable::PointNotOnCurve)?;
            (
                KeyKind::Ed25519,
                fingerprint(KeyKind::Ed25519, &[&x]),
                DecodingKey::from_ed_der(&x),
            )
        }
        _ => return Err(Unusable::UnsupportedKeyType),
    };
    if alg.is_some_and(|a| a.key_kind() != kind) {
        return Err(Unusable::UnsupportedAlgorithm);
    }
    Ok(VerifyingKey {
        kid: jwk.kid.clone(),
        kind,
        alg,
        key,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    use super::*;

    pub(super) fn enc(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(super) fn rsa_jwk(kid: &str) -> Value {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        json!({"kty":"RSA","kid":kid,"n":enc(public.modulus().big_endian_without_leading_zero()),
               "e":enc(public.exponent().big_endian_without_leading_zero())})
    }

    pub(super) fn ec_jwk(kid: &str) -> Value {
        let key =
            EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = key.public_key().as_ref();
        json!({"kty":"EC","crv":"P-256","kid":kid,"x":enc(&point[1..33]),"y":enc(&point[33..])})
    }

    pub(super) fn ed_jwk(kid: &str) -> Value {
        let key = Ed25519KeyPair::generate().unwrap();
        json!({"kty":"OKP","crv":"Ed25519","kid":kid,"x":enc(key.public_key().as_ref())})
    }

    pub(super) fn parse(keys: Vec<Value>) -> Result<KeySet, JwksError> {
        parse_jwks(&serde_json::to_vec(&json!({ "keys": keys })).unwrap(), 100)
    }

    #[test]
    fn parses_rsa_ec_and_okp_keys() {
        let set = parse(vec![rsa_jwk("r"), ec_jwk("e"), ed_jwk("o")]).unwrap();
        assert_eq!(set.len(), 3);
        assert!(matches!(
            set.select(Some("r"), Algorithm::PS256),
            Selection::Found(_)
        ));
        assert!(matches!(
            set.select(Some("e"), Algorithm::ES256),
            Selection::Found(_)
        ));
        assert!(matches!(
            set.select(Some("o"), Algorithm::Ed25519),
            Selection::Found(_)
        ));
        assert!(matches!(
            set.select(Some("r"), Algorithm::ES256),
            Selection::Mismatch
        ));
        assert!(matches!(
            set.select(Some("zz"), Algorithm::RS256),
            Selection::UnknownKid
        ));
        assert!(matches!(
            set.select(None, Algorithm::ES256),
            Selection::Found(_)
        ));
    }

    #[test]
    fn skips_unusable_keys_and_keeps_the_rest() {
        let mut weak = rsa_jwk("weak");
        weak["n"] = json!(enc(&[0xC5; 128]));
        let mut enc_use = rsa_jwk("enc");
        enc_use["use"] = json!("enc");
        let mut private = ec_jwk("private");
        private["d"] = json!("AAAA");
        let mut off_curve = ec_jwk("off");
        off_curve["y"] = json!(enc(&[1; 32]));
        let mut wrong_alg = ed_jwk("wrong-alg");
        wrong_alg["alg"] = json!("RS256");
        let set = parse(vec![
            weak,
            enc_use,
            private,
            off_curve,
            wrong_alg,
            json!({"kty":"oct","k":"c2VjcmV0"}),
            json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"}),
            json!("not an object"),
            ec_jwk("good"),
            ec_jwk("good"),
        ])
        .unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["good"]);
    }

    #[test]
    fn malformed_members_are_skipped_without_panicking() {
        let rsa = rsa_jwk("rsa");
        let with = |base: &Value, kid: &str, member: &str, value: Value| {
            let mut key = base.clone();
            key["kid"] = json!(kid);
            key[member] = value;
            key
        };
        let ec = ec_jwk("ec");
        let ed = ed_jwk("ed");
        let unusable = vec![
            with(&rsa, "n-empty", "n", json!("")),
            with(&rsa, "n-zero", "n", json!(enc(&[0]))),
            with(&rsa, "n-long", "n", json!(enc(&[0xC5; 1025]))),
            with(&rsa, "e-empty", "e", json!("")),
            with(&rsa, "e-long", "e", json!(enc(&[1, 0, 0, 0, 1]))),
            with(&rsa, "e-one", "e", json!(enc(&[1]))),
            with(&rsa, "e-even", "e", json!(enc(&[1, 0, 0]))),
            with(&ec, "x-short", "x", json!(enc(&[7; 31]))),
            with(&ec, "y-long", "y", json!(enc(&[7; 33]))),
            with(&ec, "x-empty", "x", json!("")),
            with(&ec, "crv-p384", "crv", json!("P-384")),
            with(&ec, "crv-missing", "crv", Value::Null),
            with(&ed, "ed-short", "x", json!(enc(&[7; 31]))),
            with(&ed, "ed448", "crv", json!("Ed448")),
            json!({"kty":"OKP","crv":"Ed448","kid":"ed448-57","x":enc(&[7; 57])}),
            json!({"kty":"AKP","alg":"ML-DSA-44","kid":"akp","pub":enc(&[7; 1312])}),
            json!({"kty":"RSA","kid":"rsa-members-missing"}),
        ];
        let mut keys = unusable;
        keys.push(ec_jwk("good"));
        let set = parse(keys).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["good"]);
    }

    #[test]
    fn a_set_with_nothing_usable_is_refused() {
        assert_eq!(
            parse(vec![json!({"kty":"oct","k":"AA"})]).unwrap_err(),
            JwksError::NoUsableKey
        );
        assert_eq!(parse_jwks(b"<html>", 100).unwrap_err(), JwksError::NotJson);
        assert_eq!(
            parse_jwks(b"{\"keys\":[", 100).unwrap_err(),
            JwksError::NotJson
        );
        assert_eq!(
            parse_jwks(b"{\"keys\":5}", 100).unwrap_err(),
            JwksError::NotAKeySet
        );
        assert_eq!(parse_jwks(b"[]", 100).unwrap_err(), JwksError::NotAKeySet);
    }

    #[test]
    fn key_count_is_capped() {
        let key = ed_jwk("x");
        let many: Vec<Value> = (0..50)
            .map(|i| {
                let mut k = key.clone();
                k["kid"] = json!(format!("k{i}"));
                k
            })
            .collect();
        let set = parse_jwks(&serde_json::to_vec(&json!({ "keys": many })).unwrap(), 10).unwrap();
        assert_eq!(set.len(), 10);
    }

    #[test]
    fn without_kid_only_a_single_fitting_key_is_chosen() {
        let set = parse(vec![ec_jwk("a"), ec_jwk("b"), ed_jwk("c")]).unwrap();
        assert!(matches!(
            set.select(None, Algorithm::ES256),
            Selection::Ambiguous
        ));
        assert!(matches!(
            set.select(None, Algorithm::EdDSA),
            Selection::Found(_)
        ));
        assert!(matches!(
            set.select(None, Algorithm::RS256),
            Selection::Ambiguous
        ));
    }
}
