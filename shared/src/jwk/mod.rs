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

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use crate::algorithm::{Algorithm, KeyKind};
use crate::fetched_json::{Present, Text, skip_elements, skip_members};

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

/// Parses a JWK set document, keeping at most `max_keys` usable keys.
///
/// Keys that cannot be used (unknown type, weak RSA, an EC point off its curve, an Ed25519
/// point of small order or not canonically encoded, `use` other than `sig`, private
/// material, duplicate `kid`) are skipped; one warning counts them by reason, without
/// repeating anything of the document. The document is refused only when nothing usable
/// remains.
///
/// The document is read as it streams by (see the crate's `fetched_json` module): each entry of `keys`
/// is read into a key, or skipped, before the next one is parsed, and members other than
/// `keys` are skipped unread. What the parse holds beyond the document is the keys it keeps
/// and the text of one entry's members at a time.
pub fn parse_jwks(document: &[u8], max_keys: usize) -> Result<KeySet, JwksError> {
    let mut reading = Reading {
        max_keys,
        entries: 0,
        set: KeySet::default(),
        skipped: Skipped::default(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(document);
    deserializer
        .deserialize_map(DocumentVisitor(&mut reading))
        .and_then(|()| deserializer.end())
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => JwksError::NotAKeySet,
            _ => JwksError::NotJson,
        })?;
    let Reading {
        entries,
        set,
        skipped,
        ..
    } = reading;
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

/// What a key set parse has read so far.
struct Reading {
    max_keys: usize,
    /// Entries of `keys` seen, usable or not.
    entries: usize,
    set: KeySet,
    skipped: Skipped,
}

/// The document: an object whose `keys` (RFC 7517 §5.1) is read entry by entry; every other
/// member is skipped unread.
struct DocumentVisitor<'r>(&'r mut Reading);

impl<'de> Visitor<'de> for DocumentVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with a `keys` array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_keys = false;
        while let Some(name) = map.next_key::<DocumentMember>()? {
            match name {
                DocumentMember::Keys if seen_keys => {
                    return Err(A::Error::duplicate_field("keys"));
                }
                DocumentMember::Keys => {
                    seen_keys = true;
                    map.next_value_seed(KeysSeed(&mut *self.0))?;
                }
                DocumentMember::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if seen_keys {
            Ok(())
        } else {
            Err(A::Error::missing_field("keys"))
        }
    }
}

/// A member name of the key set document (serde's field identifier: the name is compared as
/// it streams by, never kept).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DocumentMember {
    Keys,
    #[serde(other)]
    Other,
}

/// The `keys` array: each entry is read and checked as it comes, and kept only when usable.
struct KeysSeed<'r>(&'r mut Reading);

impl<'de> DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of JWKs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let reading = self.0;
        loop {
            if reading.set.keys.len() >= reading.max_keys {
                // Beyond the limit an entry is not even read: skipped, and counted.
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                reading.skipped.add(Unusable::OverLimit, 1);
            } else {
                let Some(JwkEntry(entry)) = seq.next_element()? else {
                    break;
                };
                match entry {
                    Ok(key)
                        if key
                            .kid
                            .as_deref()
                            .is_some_and(|kid| reading.set.contains_kid(kid)) =>
                    {
                        reading.skipped.add(Unusable::DuplicateKid, 1);
                    }
                    Ok(key) => reading.set.keys.push(Arc::new(key)),
                    Err(reason) => reading.skipped.add(reason, 1),
                }
            }
            reading.entries = reading.entries.saturating_add(1);
        }
        Ok(())
    }
}

/// Reads one JWK into a verifying key, with every check a key set entry gets. A DPoP proof's
/// `jwk` header (RFC 9449 §4.3) goes through here too, so it is held to the same standard.
pub(crate) fn parse_jwk(raw: &Value) -> Result<VerifyingKey, Unusable> {
    JwkEntry::deserialize(raw).map_or(Err(Unusable::NotAJwk), |JwkEntry(entry)| entry)
}

/// One entry of a key set, read: a key, or why it cannot be used. Reading it fails only on
/// what spoils the whole document (a JSON syntax error); an entry that is not a JWK, or has
/// a member of the wrong type, is [`Unusable::NotAJwk`] and the next entry is read.
struct JwkEntry(Result<VerifyingKey, Unusable>);

impl<'de> Deserialize<'de> for JwkEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JwkVisitor)
    }
}

struct JwkVisitor;

impl JwkVisitor {
    fn not_a_jwk<E>(self) -> Result<JwkEntry, E> {
        Ok(JwkEntry(Err(Unusable::NotAJwk)))
    }
}

impl<'de> Visitor<'de> for JwkVisitor {
    type Value = JwkEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWK object")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_i64<E>(self, _: i64) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_u64<E>(self, _: u64) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_f64<E>(self, _: f64) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_str<E>(self, _: &str) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_unit<E>(self) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_none<E>(self) -> Result<JwkEntry, E> {
        self.not_a_jwk()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<JwkEntry, A::Error> {
        skip_elements(seq)?;
        self.not_a_jwk()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JwkEntry, A::Error> {
        let mut jwk = RawJwk::default();
        let mut seen = 0u16;
        // Set once the entry cannot be a JWK: its other members are then skipped unread.
        let mut spoilt = false;
        while let Some(member) = map.next_key::<JwkMember>()? {
            let bit = 1u16 << (member as u16);
            if spoilt || member == JwkMember::Other {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if seen & bit != 0 {
                // RFC 7517 §4: member names within a JWK MUST be unique, and a parser must
                // reject a JWK that repeats one or take the last. Refused here, as tokens are
                // (`canonical_json`): the issuer may have meant the first.
                spoilt = true;
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            seen |= bit;
            let slot = match member {
                JwkMember::KeyOps => {
                    match map.next_value::<KeyOps>()? {
                        KeyOps::Listed { verify } => jwk.verify_op = Some(verify),
                        KeyOps::Null => {}
                        KeyOps::Other => spoilt = true,
                    }
                    continue;
                }
                JwkMember::D => {
                    jwk.private = map.next_value::<Present>()?.0;
                    continue;
                }
                JwkMember::Kty => &mut jwk.kty,
                JwkMember::Kid => &mut jwk.kid,
                JwkMember::Use => &mut jwk.use_,
                JwkMember::Alg => &mut jwk.alg,
                JwkMember::Crv => &mut jwk.crv,
                JwkMember::N => &mut jwk.n,
                JwkMember::E => &mut jwk.e,
                JwkMember::X => &mut jwk.x,
                JwkMember::Y => &mut jwk.y,
                JwkMember::Other => continue,
            };
            match map.next_value::<Text<'de>>()? {
                Text::Str(text) => *slot = Some(text),
                Text::Null => {}
                Text::Other => spoilt = true,
            }
        }
        if spoilt || jwk.kty.is_none() {
            return self.not_a_jwk();
        }
        Ok(JwkEntry(parse_key(&jwk)))
    }
}

/// The JWK members read (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2); any other is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum JwkMember {
    Kty,
    Kid,
    Use,
    KeyOps,
    Alg,
    Crv,
    N,
    E,
    X,
    Y,
    D,
    #[serde(other)]
    Other,
}

/// A JWK's `key_ops` (RFC 7517 §4.3), read for the one operation that matters here: whether
/// it lists `verify`. Its strings are compared as they stream by, none kept.
enum KeyOps {
    Listed {
        verify: bool,
    },
    Null,
    /// Not an array of strings.
    Other,
}

impl<'de> Deserialize<'de> for KeyOps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyOpsVisitor)
    }
}

struct KeyOpsVisitor;

impl<'de> Visitor<'de> for KeyOpsVisitor {
    type Value = KeyOps;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_unit<E>(self) -> Result<KeyOps, E> {
        Ok(KeyOps::Null)
    }

    fn visit_none<E>(self) -> Result<KeyOps, E> {
        Ok(KeyOps::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<KeyOps, E> {
        Ok(KeyOps::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<KeyOps, E> {
        Ok(KeyOps::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<KeyOps, E> {
        Ok(KeyOps::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<KeyOps, E> {
        Ok(KeyOps::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<KeyOps, E> {
        Ok(KeyOps::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KeyOps, A::Error> {
        skip_members(map)?;
        Ok(KeyOps::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyOps, A::Error> {
        let mut verify = false;
        while let Some(op) = seq.next_element::<Text<'de>>()? {
            match op {
                Text::Str(op) => verify |= op == "verify",
                Text::Null | Text::Other => {
                    skip_elements(seq)?;
                    return Ok(KeyOps::Other);
                }
            }
        }
        Ok(KeyOps::Listed { verify })
    }
}

/// The members of one JWK that the checks read, as text of the document.
#[derive(Default)]
struct RawJwk<'a> {
    kty: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    use_: Option<Cow<'a, str>>,
    /// Whether `key_ops`, when present, lists `verify`.
    verify_op: Option<bool>,
    alg: Option<Cow<'a, str>>,
    crv: Option<Cow<'a, str>>,
    n: Option<Cow<'a, str>>,
    e: Option<Cow<'a, str>>,
    x: Option<Cow<'a, str>>,
    y: Option<Cow<'a, str>>,
    /// Whether `d` (a private key member, RFC 7518 §6.2.2.1, §6.3.2.1; RFC 8037 §2) is there.
    private: bool,
}

fn b64(field: &Option<Cow<'_, str>>) -> Result<Vec<u8>, Unusable> {
    let text = field.as_deref().ok_or(Unusable::BadMember)?;
    JWK_B64.decode(text).map_err(|_| Unusable::BadMember)
}

fn parse_key(jwk: &RawJwk<'_>) -> Result<VerifyingKey, Unusable> {
    // RFC 7517 §4.2, §4.3: a key for signature verification only.
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") || jwk.verify_op == Some(false) {
        return Err(Unusable::NotForSignatures);
    }
    if jwk.private {
        return Err(Unusable::PrivateMaterial);
    }
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(Algorithm::HS256) | None => return Err(Unusable::UnsupportedAlgorithm),
            some => some,
        },
    };
    let (kind, fingerprint, key) = match (jwk.kty.as_deref(), jwk.crv.as_deref()) {
        (Some("RSA"), _) => {
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
        (Some("EC"), Some(curve @ ("P-256" | "P-384"))) => {
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
        (Some("OKP"), Some("Ed25519")) => {
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
        kid: jwk.kid.as_deref().map(str::to_owned),
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

    /// A document of `keys` as JSON text.
    fn document(keys: &[String]) -> Vec<u8> {
        format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes()
    }

    #[test]
    fn members_of_the_wrong_type_spoil_only_their_entry() {
        let good = ed_jwk("good").to_string();
        let ed = ed_jwk("k");
        let with = |member: &str, value: &str| {
            let mut key = ed.clone();
            key.as_object_mut().unwrap().remove(member);
            let text = key.to_string();
            format!(r#"{},"{member}":{value}}}"#, text.trim_end_matches('}'))
        };
        let mut entries = vec![
            with("kid", "5"),
            with("kty", "null"),
            with("x", "[\"AAAA\"]"),
            with("use", "{}"),
            with("key_ops", "\"verify\""),
            with("key_ops", "[\"verify\",1]"),
            with("key_ops", "[null]"),
            with("alg", "true"),
            "[1,2,{}]".to_owned(),
            "\"text\"".to_owned(),
            "null".to_owned(),
            "1.5".to_owned(),
        ];
        entries.push(good);
        let set = parse_jwks(&document(&entries), 100).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["good"]);
    }

    #[test]
    fn null_members_count_as_absent() {
        let mut key = ed_jwk("k");
        key["kid"] = Value::Null;
        key["use"] = Value::Null;
        key["key_ops"] = Value::Null;
        key["alg"] = Value::Null;
        key["d"] = Value::Null;
        let set = parse(vec![key]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.kids().count(), 0);
    }

    #[test]
    fn key_ops_must_list_verify() {
        let mut sign_only = ed_jwk("sign-only");
        sign_only["key_ops"] = json!(["sign"]);
        let mut empty = ed_jwk("empty");
        empty["key_ops"] = json!([]);
        let mut verify = ed_jwk("verify");
        verify["key_ops"] = json!(["sign", "verify"]);
        let set = parse(vec![sign_only, empty, verify]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["verify"]);
        // An escaped spelling is the same string.
        let escaped = ed_jwk("escaped").to_string();
        let escaped = format!(
            r#"{},"key_ops":["\u0076erify"]}}"#,
            escaped.trim_end_matches('}')
        );
        assert_eq!(parse_jwks(&document(&[escaped]), 100).unwrap().len(), 1);
    }

    #[test]
    fn private_material_of_any_type_is_refused() {
        for d in [json!("AAAA"), json!(0), json!([]), json!({}), json!(false)] {
            let mut key = ed_jwk("private");
            key["d"] = d.clone();
            assert_eq!(
                parse_jwk(&key).unwrap_err(),
                Unusable::PrivateMaterial,
                "{d}"
            );
            assert_eq!(parse(vec![key]).unwrap_err(), JwksError::NoUsableKey, "{d}");
        }
    }

    #[test]
    fn a_jwk_that_repeats_a_member_it_is_read_by_is_refused() {
        let good = ed_jwk("good");
        let x = good["x"].as_str().unwrap().to_owned();
        let small_order = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let entries = [
            // Whichever of two `x` a parser took, one of them is not the key checked.
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"{x}","x":"{small_order}"}}"#),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"b","x":"{small_order}","x":"{x}"}}"#),
            // Private material hidden by a later `null`.
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"c","x":"{x}","d":"AAAA","d":null}}"#),
            format!(r#"{{"kty":"OKP","kty":"OKP","crv":"Ed25519","kid":"d","x":"{x}"}}"#),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"e","kid":"good","x":"{x}"}}"#),
            format!(
                r#"{{"kty":"OKP","crv":"Ed25519","use":"sig","use":"enc","kid":"f","x":"{x}"}}"#
            ),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","\u006bid":"g","kid":"g","x":"{x}"}}"#),
            // Members that are not read may repeat.
            format!(
                r#"{{"kty":"OKP","crv":"Ed25519","kid":"good","x":"{x}","x5t":"a","x5t":"b"}}"#
            ),
        ];
        let set = parse_jwks(&document(&entries), 100).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["good"]);
        assert_eq!(
            parse_jwks(
                format!(r#"{{"keys":[{}],"keys":[]}}"#, entries[7]).as_bytes(),
                100
            )
            .unwrap_err(),
            JwksError::NotAKeySet
        );
    }

    #[test]
    fn the_document_is_an_object_with_a_keys_array() {
        let good = ed_jwk("good").to_string();
        for refused in [
            "{}".to_owned(),
            r#"{"keys":null}"#.to_owned(),
            r#"{"keys":{}}"#.to_owned(),
            r#"{"keys":"[]"}"#.to_owned(),
            format!(r#"[{{"keys":[{good}]}}]"#),
            "null".to_owned(),
        ] {
            assert_eq!(
                parse_jwks(refused.as_bytes(), 100).unwrap_err(),
                JwksError::NotAKeySet,
                "{refused}"
            );
        }
        for not_json in [
            format!(r#"{{"keys":[{good}]}}x"#),
            format!(r#"{{"keys":[{good}],}}"#),
            format!(r#"{{"keys":[{good}],"x":[1,]}}"#),
            format!(r#"{{"keys":[{good},]}}"#),
            String::new(),
        ] {
            assert_eq!(
                parse_jwks(not_json.as_bytes(), 100).unwrap_err(),
                JwksError::NotJson,
                "{not_json}"
            );
        }
        let with_others = format!(
            r#"{{"public_cert":{{"kid":"x"}},"keys":[{good}],"public_certs":[{{"a":[1]}}]}}"#
        );
        assert_eq!(parse_jwks(with_others.as_bytes(), 100).unwrap().len(), 1);
    }

    #[test]
    fn deep_nesting_never_overflows_the_stack() {
        let good = ed_jwk("good").to_string();
        let in_key = |junk: &str| format!(r#"{},"junk":{junk}}}"#, good.trim_end_matches('}'));
        let mib = 1024 * 1024;
        let open_arrays = "[".repeat(mib);
        let open_objects = r#"{"a":"#.repeat(mib / 5);
        let balanced = format!("{}{}", "[".repeat(mib / 2), "]".repeat(mib / 2));
        let balanced_objects = format!("{}0{}", r#"{"a":"#.repeat(mib / 6), "}".repeat(mib / 6));
        for junk in [&open_arrays, &open_objects] {
            // Unterminated: the document is not JSON, wherever the nesting sits.
            for text in [
                format!(r#"{{"x":{junk}"#),
                format!(r#"{{"keys":[{}"#, in_key(junk)),
                format!(r#"{{"keys":[{junk}"#),
                format!(r#"{{"keys":[{{"kty":"RSA","kid":{junk}"#),
                format!(r#"{{"keys":[{{"kty":"RSA","key_ops":[{junk}"#),
            ] {
                assert_eq!(
                    parse_jwks(text.as_bytes(), 100).unwrap_err(),
                    JwksError::NotJson
                );
            }
        }
        for junk in [&balanced, &balanced_objects] {
            // Skipped members are walked without recursion, however deep.
            let ignored = format!(r#"{{"x":{junk},"keys":[{good}]}}"#);
            assert_eq!(parse_jwks(ignored.as_bytes(), 100).unwrap().len(), 1);
            let in_a_key = format!(r#"{{"keys":[{}]}}"#, in_key(junk));
            assert_eq!(parse_jwks(in_a_key.as_bytes(), 100).unwrap().len(), 1);
            // An entry, or a member read, of the wrong type: that entry is skipped.
            let entry = format!(r#"{{"keys":[{junk},{good}]}}"#);
            assert_eq!(parse_jwks(entry.as_bytes(), 100).unwrap().len(), 1);
            let kid = format!(r#"{{"keys":[{{"kty":"OKP","kid":{junk}}},{good}]}}"#);
            assert_eq!(parse_jwks(kid.as_bytes(), 100).unwrap().len(), 1);
            let ops = format!(r#"{{"keys":[{{"kty":"OKP","key_ops":[{junk}]}},{good}]}}"#);
            assert_eq!(parse_jwks(ops.as_bytes(), 100).unwrap().len(), 1);
        }
    }

    #[test]
    fn entries_beyond_the_limit_are_counted_unread() {
        // After the limit, even an entry that is not JSON a JWK could be made of is skipped.
        let keys: Vec<String> = (0..3)
            .map(|i| ed_jwk(&format!("k{i}")).to_string())
            .collect();
        let text = format!(
            r#"{{"keys":[{},{{"kty":5}},[[[]]],"x",{}]}}"#,
            keys[0],
            keys[1..].join(",")
        );
        let set = parse_jwks(text.as_bytes(), 1).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["k0"]);
        assert_eq!(
            parse_jwks(text.as_bytes(), 0).unwrap_err(),
            JwksError::NoUsableKey
        );
    }

    #[test]
    fn escaped_members_read_as_the_strings_they_stand_for() {
        let good = ed_jwk("good");
        let x = good["x"].as_str().unwrap();
        let escaped_x: String = x.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        let text = format!(
            r#"{{"k\u0065ys":[{{"\u006bty":"O\u004bP","crv":"Ed\u0032\u0035\u0035\u0031\u0039","kid":"\u00e9","x":"{escaped_x}"}}]}}"#
        );
        let set = parse_jwks(text.as_bytes(), 100).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["\u{e9}"]);
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
