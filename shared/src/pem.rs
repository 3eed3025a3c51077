//! PEM public keys ([`KeySource::Pem`](crate::KeySource::Pem)) as a key set.

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

use crate::algorithm::KeyKind;
use crate::builder::BuildError;
use crate::issuer::PemKey;
use crate::jwk::{KeySet, VerifyingKey, check_ed25519_point, fingerprint};

/// Reads every key, refusing the whole list when one cannot be used: PEM keys are
/// configured by hand, so a broken one is a mistake to report, not a key to skip.
pub(crate) fn key_set(keys: &[PemKey], issuer: &str) -> Result<KeySet, BuildError> {
    let mut parsed = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let invalid = |reason| BuildError::Pem {
            issuer: issuer.to_owned(),
            index,
            reason,
        };
        let kind = key.algorithm.key_kind();
        let decoding = match kind {
            KeyKind::Rsa => DecodingKey::from_rsa_pem(key.pem.as_bytes()),
            KeyKind::EcP256 | KeyKind::EcP384 => DecodingKey::from_ec_pem(key.pem.as_bytes()),
            KeyKind::Ed25519 => DecodingKey::from_ed_pem(key.pem.as_bytes()),
            KeyKind::Secret => return Err(invalid("HS256 takes a secret, not a PEM key")),
        }
        .map_err(|_| invalid("not a PEM public key of the algorithm's type"))?;
        if kind == KeyKind::Ed25519 {
            // The same rule as for a key set's Ed25519 keys: a small-order or non-canonical
            // point would let a forger through (RFC 8032 §5.1.3, §5.1.7).
            let point = decoding
                .try_get_as_bytes()
                .ok()
                .and_then(|raw| <&[u8; 32]>::try_from(raw).ok())
                .ok_or(invalid("an Ed25519 key is 32 bytes"))?;
            check_ed25519_point(point).map_err(|_| {
                invalid("an Ed25519 point of small order or not canonically encoded")
            })?;
        }
        parsed.push(Arc::new(VerifyingKey {
            kid: key.kid.clone(),
            kind,
            alg: Some(key.algorithm),
            key: decoding,
            fingerprint: fingerprint(kind, &[key.pem.trim().as_bytes()]),
        }));
    }
    if parsed.is_empty() {
        return Err(BuildError::Pem {
            issuer: issuer.to_owned(),
            index: 0,
            reason: "no key given",
        });
    }
    Ok(KeySet::from_keys(parsed))
}
