//! PEM public keys ([`KeySource::Pem`](crate::KeySource::Pem)) as a key set.

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

use crate::algorithm::KeyKind;
use crate::builder::BuildError;
use crate::issuer::PemKey;
use crate::jwk::{KeySet, VerifyingKey, check_ed25519_point, fingerprint};

/// Parses the first PEM block of a fetched document, refusing one with encapsulated headers.
///
/// RFC 7468 §2: unlike legacy PEM (RFC 1421), the textual encoding of a public key does not
/// permit headers. The `pem` crate keeps each line before a blank line inside the block as a
/// header `String`, so 1 MiB of short lines would cost about 28 MiB; a block without them
/// costs a copy of its base64 and the decoded bytes, less than the document. Rather than
/// find the block as the crate does (its boundary search can be led astray, `------END `
/// with an extra dash), any blank line before the document's last `-----END ` is refused:
/// a public key's block has none.
pub(crate) fn parse_fetched(document: &[u8]) -> Result<pem::Pem, &'static str> {
    const NOT_PEM: &str = "not a PEM document";
    let before_end = rfind(document, b"-----END ").map_or(document, |end| &document[..end]);
    if contains(before_end, b"\n\n") || contains(before_end, b"\r\n\r\n") {
        return Err("a PEM public key with headers (RFC 7468 permits none)");
    }
    pem::parse(document).map_err(|_| NOT_PEM)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n";

    #[test]
    fn a_fetched_pem_block_has_no_headers() {
        let parsed = parse_fetched(BLOCK.as_bytes()).unwrap();
        assert_eq!(parsed.contents(), [0, 1, 2]);
        let crlf = BLOCK.replace('\n', "\r\n");
        assert_eq!(
            parse_fetched(crlf.as_bytes()).unwrap().contents(),
            [0, 1, 2]
        );
        let trailing = format!("{BLOCK}\n\n");
        assert_eq!(
            parse_fetched(trailing.as_bytes()).unwrap().contents(),
            [0, 1, 2]
        );
        let text = format!("junk\n{BLOCK}more junk");
        assert_eq!(
            parse_fetched(text.as_bytes()).unwrap().contents(),
            [0, 1, 2]
        );
        for with_headers in [
            "-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAEC\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\r\na:b\r\n\r\nAAEC\r\n-----END PUBLIC KEY-----\r\n",
            "-----BEGIN PUBLIC KEY-----\na\na\n\nAAEC\n-----END PUBLIC KEY-----\n",
            // An extra dash that the `pem` crate's boundary search does not see as an end.
            "-----BEGIN PUBLIC KEY-----\n:\n:\n------END :x\n\nAAEC\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(
                parse_fetched(with_headers.as_bytes()).is_err(),
                "{with_headers}"
            );
            // The `pem` crate reads them as headers, which is what is refused.
            if let Ok(pem) = pem::parse(with_headers) {
                assert!(pem.headers().iter().next().is_some());
            }
        }
        for not_pem in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAEC\n",
            "<html>",
            "-----BEGIN ",
        ] {
            assert!(parse_fetched(not_pem.as_bytes()).is_err(), "{not_pem}");
        }
    }
}
