//! The checks that keep a key that would let a forger through out of a key set (see the
//! module above for which checks are made where, and why).

use curve25519_dalek::edwards::CompressedEdwardsY;

use super::Unusable;

/// RSA moduli below this are refused (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;
/// RSA moduli above this cost too much to verify against to be worth trusting.
const MAX_RSA_BITS: usize = 8192;

/// Checks an RSA public key's modulus `n` and exponent `e` (big-endian, leading zeros
/// stripped): 2048 to 8192 bits (RFC 7518 §3.3), an odd modulus (a product of odd primes,
/// RFC 8017 §3.1), and an exponent that RSA verification accepts.
pub(super) fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), Unusable> {
    let bits = bit_length(n).ok_or(Unusable::RsaModulusSize)?;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(Unusable::RsaModulusSize);
    }
    if n.last().is_none_or(|low| low % 2 == 0) {
        return Err(Unusable::RsaEvenModulus);
    }
    if !is_usable_rsa_exponent(e) {
        return Err(Unusable::RsaExponent);
    }
    Ok(())
}

/// Checks an Ed25519 public key `A` as RFC 8032 §5.1.3 decodes it, and refuses the eight
/// points of small order, which verify forged signatures (see the module documentation).
pub(crate) fn check_ed25519_point(encoded: &[u8; 32]) -> Result<(), Unusable> {
    let encoded = CompressedEdwardsY(*encoded);
    // `decompress` is lenient: it reduces y modulo p and takes the sign bit of x = 0. The
    // encoding is canonical exactly when compressing the point gives the same bytes back.
    let point = encoded.decompress().ok_or(Unusable::PointNotOnCurve)?;
    if point.compress() != encoded {
        return Err(Unusable::NonCanonicalPoint);
    }
    if point.is_small_order() {
        return Err(Unusable::SmallOrderPoint);
    }
    Ok(())
}

/// The bit length of a big-endian unsigned integer without leading zero bytes; `None` for an
/// empty one (no number at all) or one too long to count in a `usize`.
fn bit_length(magnitude: &[u8]) -> Option<usize> {
    let first = *magnitude.first()?;
    let unused = usize::try_from(first.leading_zeros()).ok()?;
    magnitude.len().checked_mul(8)?.checked_sub(unused)
}

/// Whether a big-endian exponent (leading zeros stripped) is odd, at least 3 and fits in
/// 32 bits, as RSA verification requires (RFC 8017 §3.1).
fn is_usable_rsa_exponent(exponent: &[u8]) -> bool {
    if exponent.is_empty() || exponent.len() > 4 {
        return false;
    }
    let value = exponent
        .iter()
        .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
    value >= 3 && value % 2 == 1
}

pub(super) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine;
    use serde_json::json;

    use super::super::tests::{ec_jwk, ed_jwk, enc, parse};
    use super::*;

    #[test]
    fn bit_length_is_checked() {
        assert_eq!(bit_length(&[]), None);
        assert_eq!(bit_length(&[1]), Some(1));
        assert_eq!(bit_length(&[0x80, 0]), Some(16));
        assert!(is_usable_rsa_exponent(&[1, 0, 1]));
        assert!(is_usable_rsa_exponent(&[3]));
        assert!(!is_usable_rsa_exponent(&[1]));
        assert!(!is_usable_rsa_exponent(&[]));
        assert!(!is_usable_rsa_exponent(&[1, 0, 0, 0, 1]));
    }

    /// A JWK `x` (base64url) as the 32 bytes of an Ed25519 point encoding.
    fn point(x: &str) -> [u8; 32] {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// Asserts that the Ed25519 key `x` is refused for `reason`, both by the point check and
    /// when it sits in a key set beside a good key.
    #[track_caller]
    fn assert_ed25519_refused(x: &str, reason: Unusable) {
        assert_eq!(check_ed25519_point(&point(x)), Err(reason), "{x}");
        let bad = json!({"kty":"OKP","crv":"Ed25519","kid":"bad","x":x});
        let set = parse(vec![bad, ed_jwk("good")]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["good"], "{x}");
    }

    // The eight points of small order (the torsion subgroup), canonically encoded. With any
    // of them as `A`, `R` = identity and `S` = 0 verify a message whose hash is a multiple of
    // the point's order (RFC 8032 §5.1.7; ed25519-speccheck).

    #[test]
    fn the_identity_is_refused() {
        assert_ed25519_refused(
            "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Unusable::SmallOrderPoint,
        );
    }

    #[test]
    fn the_point_of_order_2_is_refused() {
        assert_ed25519_refused(
            "7P_______________________________________38",
            Unusable::SmallOrderPoint,
        );
    }

    #[test]
    fn the_points_of_order_4_are_refused() {
        // y = 0 (all-zero bytes), x positive and negative.
        assert_ed25519_refused(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Unusable::SmallOrderPoint,
        );
        assert_ed25519_refused(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA",
            Unusable::SmallOrderPoint,
        );
    }

    #[test]
    fn the_points_of_order_8_are_refused() {
        for x in [
            "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU",
            "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_IU",
            "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o",
            "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA_o",
        ] {
            assert_ed25519_refused(x, Unusable::SmallOrderPoint);
        }
    }

    #[test]
    fn the_vectors_are_exactly_the_eight_torsion_points() {
        let vectors: std::collections::HashSet<[u8; 32]> = [
            "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "7P_______________________________________38",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA",
            "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU",
            "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_IU",
            "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o",
            "xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA_o",
        ]
        .into_iter()
        .map(point)
        .collect();
        let torsion: std::collections::HashSet<[u8; 32]> =
            curve25519_dalek::constants::EIGHT_TORSION
                .iter()
                .map(|p| p.compress().to_bytes())
                .collect();
        assert_eq!(vectors, torsion);
    }

    // The second encodings of small-order points (RFC 8032 §5.1.3: decoding fails when
    // y >= p, or when x = 0 and its sign bit is set).

    #[test]
    fn the_identity_with_the_sign_bit_of_x_is_refused() {
        assert_ed25519_refused(
            "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA",
            Unusable::NonCanonicalPoint,
        );
    }

    #[test]
    fn the_point_of_order_2_with_the_sign_bit_of_x_is_refused() {
        assert_ed25519_refused(
            "7P________________________________________8",
            Unusable::NonCanonicalPoint,
        );
    }

    #[test]
    fn the_points_of_order_4_with_y_over_p_are_refused() {
        // y = p encodes y = 0.
        assert_ed25519_refused(
            "7f_______________________________________38",
            Unusable::NonCanonicalPoint,
        );
        assert_ed25519_refused(
            "7f________________________________________8",
            Unusable::NonCanonicalPoint,
        );
    }

    #[test]
    fn the_identity_with_y_over_p_is_refused() {
        // y = p + 1 encodes y = 1; with the sign bit, x = 0 is negated too.
        assert_ed25519_refused(
            "7v_______________________________________38",
            Unusable::NonCanonicalPoint,
        );
        assert_ed25519_refused(
            "7v________________________________________8",
            Unusable::NonCanonicalPoint,
        );
    }

    #[test]
    fn a_large_order_point_with_y_over_p_is_refused() {
        // y = 3 is on the curve and not of small order; y = p + 3 encodes the same point.
        assert_eq!(
            check_ed25519_point(&point("AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
            Ok(())
        );
        assert_ed25519_refused(
            "8P_______________________________________38",
            Unusable::NonCanonicalPoint,
        );
    }

    #[test]
    fn an_ed25519_point_off_the_curve_is_refused() {
        // No x satisfies the curve equation for y = 2.
        assert_ed25519_refused(
            "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Unusable::PointNotOnCurve,
        );
    }

    #[test]
    fn generated_ed25519_keys_pass() {
        for _ in 0..32 {
            let key = Ed25519KeyPair::generate().unwrap();
            let x: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
            assert_eq!(check_ed25519_point(&x), Ok(()));
        }
    }

    /// A real RSA-2048 public key: (modulus, exponent).
    fn rsa_parts() -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        (
            public.modulus().big_endian_without_leading_zero().to_vec(),
            public.exponent().big_endian_without_leading_zero().to_vec(),
        )
    }

    /// Asserts that an RSA key with these parts is refused for `reason`, by the check and
    /// in a key set beside a good key.
    #[track_caller]
    fn assert_rsa_refused(n: &[u8], e: &[u8], reason: Unusable) {
        assert_eq!(check_rsa(n, e), Err(reason));
        let bad = json!({"kty":"RSA","kid":"bad","n":enc(n),"e":enc(e)});
        let set = parse(vec![bad, ec_jwk("good")]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["good"]);
    }

    #[test]
    fn an_even_rsa_modulus_is_refused() {
        let (mut n, e) = rsa_parts();
        assert_eq!(check_rsa(&n, &e), Ok(()));
        if let Some(low) = n.last_mut() {
            *low &= 0xFE;
        }
        assert_rsa_refused(&n, &e, Unusable::RsaEvenModulus);
    }

    #[test]
    fn an_even_rsa_exponent_is_refused() {
        let (n, _) = rsa_parts();
        assert_rsa_refused(&n, &[1, 0, 0], Unusable::RsaExponent);
        assert_rsa_refused(&n, &[2], Unusable::RsaExponent);
    }

    #[test]
    fn an_rsa_exponent_of_one_is_refused() {
        let (n, _) = rsa_parts();
        assert_rsa_refused(&n, &[1], Unusable::RsaExponent);
        assert_rsa_refused(&n, &[], Unusable::RsaExponent);
        assert_eq!(check_rsa(&n, &[3]), Ok(()));
    }

    #[test]
    fn rsa_modulus_size_is_bounded() {
        assert_rsa_refused(&[0xC5; 255], &[1, 0, 1], Unusable::RsaModulusSize);
        assert_rsa_refused(&[0xC5; 1025], &[1, 0, 1], Unusable::RsaModulusSize);
        assert_rsa_refused(&[], &[1, 0, 1], Unusable::RsaModulusSize);
    }
}
