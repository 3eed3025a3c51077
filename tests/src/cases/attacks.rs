//! Tokens an attacker crafts: `alg: none`, algorithm confusion, `kid` tricks, keys named in
//! the header, `crit` and `b64`, duplicate members at any depth, and structural defects.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::Case;
use super::support::{
    assert_granted, assert_invalid_token, assert_refused, claims, claims_with, remote, remote_with,
};
use crate::idp::{Idp, jwks_of};
use crate::keys::{b64, fresh_p256_jwk, keys, mint, mint_with_header, now, sign_raw};

/// `alg: none` in every spelling, with and without a signature part.
async fn alg_none_is_refused(bin: &str) {
    let r = remote(bin, &[]).await;
    let payload = b64(claims(&r.idp.issuer()).to_string());
    for alg in ["none", "None", "nOnE", "NONE"] {
        let header = b64(json!({ "alg": alg, "kid": "rsa-1" }).to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.c2lnbmF0dXJl"),
        ] {
            assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, alg);
        }
    }
}

/// HS256 signed with public keys, and asymmetric headers on the wrong key type.
async fn algorithm_confusion_is_refused(bin: &str) {
    let secret = "the-real-hs256-secret-32-bytes-long!!";
    let r = remote(bin, &[]).await;
    let r_hs = remote(bin, &[("AUTH_HS256_SECRET", secret)]).await;
    let k = keys();
    let confused = |iss: &str, key: &[u8], kid: &str| {
        mint_with_header(
            &json!({ "alg": "HS256", "kid": kid }),
            &claims(iss),
            &EncodingKey::from_secret(key),
            Algorithm::HS256,
        )
    };
    let n = k.rsa.jwk["n"].as_str().unwrap_or_default().to_owned();
    for target in [&r, &r_hs] {
        let iss = target.idp.issuer();
        for (what, token) in [
            (
                "HS256 with RSA PEM",
                confused(&iss, k.rsa.public_pem.as_bytes(), "rsa-1"),
            ),
            ("HS256 with raw n", confused(&iss, n.as_bytes(), "rsa-1")),
            (
                "HS256 with EC PEM",
                confused(&iss, k.ec256.public_pem.as_bytes(), "ec-256"),
            ),
            (
                "RS256 header on EC key",
                mint_with_header(
                    &json!({"alg":"RS256","kid":"ec-256"}),
                    &claims(&iss),
                    &k.rsa.encoding,
                    Algorithm::RS256,
                ),
            ),
            (
                "ES256 header on RSA key",
                mint_with_header(
                    &json!({"alg":"ES256","kid":"rsa-1"}),
                    &claims(&iss),
                    &k.ec256.encoding,
                    Algorithm::ES256,
                ),
            ),
            (
                "ES384 header on P-256 key",
                mint_with_header(
                    &json!({"alg":"ES384","kid":"ec-256"}),
                    &claims(&iss),
                    &k.ec384.encoding,
                    Algorithm::ES384,
                ),
            ),
        ] {
            assert_invalid_token(&target.sample.get_bearer("/protected", &token).await, what);
        }
    }
}

/// `kid` tricks: unknown, traversal, injection-like, huge, other key's alg, missing.
async fn kid_must_select_exactly_one_fitting_key(bin: &str) {
    let k = keys();
    let mut ec_with_alg = k.ec256.jwk.clone();
    ec_with_alg["alg"] = json!("ES256");
    let mut rsa_with_alg = k.rsa.jwk.clone();
    rsa_with_alg["alg"] = json!("RS256");
    let r = remote_with(bin, jwks_of(&[&rsa_with_alg, &ec_with_alg, &k.ed.jwk]), &[]).await;
    let iss = r.idp.issuer();
    let signed_rsa = |kid: &str| {
        mint_with_header(
            &json!({ "alg": "RS256", "kid": kid }),
            &claims(&iss),
            &k.rsa.encoding,
            Algorithm::RS256,
        )
    };
    let big_kid = "k".repeat(10 * 1024);
    for (what, token) in [
        ("unknown kid", signed_rsa("nope")),
        ("path traversal", signed_rsa("../../dev/null")),
        ("sql-ish", signed_rsa("' OR '1'='1")),
        ("10 KB kid", signed_rsa(&big_kid)),
        ("kid as number", {
            mint_with_header(
                &json!({ "alg": "RS256", "kid": 7 }),
                &claims(&iss),
                &k.rsa.encoding,
                Algorithm::RS256,
            )
        }),
        (
            "PS256 on a key whose JWK says RS256",
            mint_with_header(
                &json!({"alg":"PS256","kid":"rsa-1"}),
                &claims(&iss),
                &k.rsa.encoding,
                Algorithm::PS256,
            ),
        ),
        (
            "kid close to a real one",
            mint_with_header(
                &json!({"alg":"ES256","kid":"ec-256x"}),
                &claims(&iss),
                &k.ec256.encoding,
                Algorithm::ES256,
            ),
        ),
    ] {
        let resp = r.sample.get_bearer("/protected", &token).await;
        if what == "10 KB kid" {
            assert_refused(&resp, what);
        } else {
            assert_invalid_token(&resp, what);
        }
    }
    // Without kid: accepted only when exactly one key fits the algorithm.
    let no_kid = mint_with_header(
        &json!({"alg":"EdDSA"}),
        &claims(&iss),
        &k.ed.encoding,
        Algorithm::EdDSA,
    );
    assert_granted(
        &r.sample.get_bearer("/protected", &no_kid).await,
        "single fitting key, no kid",
    );
    let second_p256 = fresh_p256_jwk("ec-256-b");
    let r2 = remote_with(bin, jwks_of(&[&k.ec256.jwk, &second_p256]), &[]).await;
    let ambiguous = mint_with_header(
        &json!({"alg":"ES256"}),
        &claims(&r2.idp.issuer()),
        &k.ec256.encoding,
        Algorithm::ES256,
    );
    assert_invalid_token(
        &r2.sample.get_bearer("/protected", &ambiguous).await,
        "missing kid, several keys",
    );
}

/// Keys named in the token header are never fetched or trusted.
async fn keys_named_in_the_header_are_never_trusted(bin: &str) {
    let attacker = Idp::start(jwks_of(&[&keys().rsa2.jwk])).await;
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = keys();
    let mut rsa2_jwk = k.rsa2.jwk.clone();
    rsa2_jwk["kid"] = json!("rsa-2");
    let evil_claims = claims(&iss);
    for (what, header) in [
        (
            "jku",
            json!({ "alg": "RS256", "kid": "rsa-2", "jku": attacker.jwks_url() }),
        ),
        (
            "x5u",
            json!({ "alg": "RS256", "kid": "rsa-2", "x5u": attacker.jwks_url() }),
        ),
        (
            "embedded jwk",
            json!({ "alg": "RS256", "kid": "rsa-2", "jwk": rsa2_jwk }),
        ),
        (
            "embedded jwk, no kid",
            json!({ "alg": "RS256", "jwk": rsa2_jwk }),
        ),
        (
            "x5c",
            json!({ "alg": "RS256", "kid": "rsa-2", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"] }),
        ),
    ] {
        let token = mint_with_header(&header, &evil_claims, &k.rsa2.encoding, Algorithm::RS256);
        assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, what);
    }
    // A genuine token carrying a jku still verifies against the configured keys only.
    let token = mint_with_header(
        &json!({ "alg": "RS256", "kid": "rsa-1", "jku": attacker.jwks_url() }),
        &evil_claims,
        &k.rsa.encoding,
        Algorithm::RS256,
    );
    assert_granted(
        &r.sample.get_bearer("/protected", &token).await,
        "jku ignored",
    );
    assert_eq!(attacker.fetches(), 0, "the attacker's key set was fetched");
}

/// `crit` and `b64: false` are refused; so are duplicate members.
async fn crit_b64_and_duplicate_members_are_refused(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    for (what, header) in [
        (
            "crit unknown",
            r#"{"alg":"RS256","kid":"rsa-1","crit":["x-custom"],"x-custom":1}"#.to_owned(),
        ),
        (
            "crit empty",
            r#"{"alg":"RS256","kid":"rsa-1","crit":[]}"#.to_owned(),
        ),
        (
            "b64 false",
            r#"{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}"#.to_owned(),
        ),
        (
            "b64 false without crit",
            r#"{"alg":"RS256","kid":"rsa-1","b64":false}"#.to_owned(),
        ),
        (
            "duplicate alg",
            r#"{"alg":"RS256","alg":"RS256","kid":"rsa-1"}"#.to_owned(),
        ),
    ] {
        let token = sign_raw(
            &header,
            &claims(&iss).to_string(),
            &k.encoding,
            Algorithm::RS256,
        );
        assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, what);
    }
    let payload = format!(
        r#"{{"sub":"alice","sub":"admin","iss":"{iss}","exp":{}}}"#,
        now() + 300
    );
    let token = sign_raw(
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &payload,
        &k.encoding,
        Algorithm::RS256,
    );
    assert_invalid_token(
        &r.sample.get_bearer("/protected", &token).await,
        "duplicate claim",
    );
}

/// A repeated member name is refused at any depth (RFC 7515 §5.2), not resolved to its
/// last value: in a nested claim, in an object inside an array, and in a header member.
/// The same tokens without the repetition are accepted.
async fn duplicate_members_refused_at_any_depth(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let header = r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#;
    let payload = |extra: &str| {
        format!(
            r#"{{"sub":"alice","iss":"{iss}","exp":{},{extra}}}"#,
            now() + 300
        )
    };
    let sign =
        |header: &str, payload: &str| sign_raw(header, payload, &k.encoding, Algorithm::RS256);

    for (what, header, extra) in [
        (
            "nested claim",
            header.to_owned(),
            r#""realm_access":{"roles":["user"]}"#,
        ),
        (
            "object in an array",
            header.to_owned(),
            r#""groups":[{"id":1},{"id":2}]"#,
        ),
        (
            "nested header member",
            r#"{"alg":"RS256","kid":"rsa-1","x-meta":{"v":1,"w":{"v":2}}}"#.to_owned(),
            r#""n":0"#,
        ),
    ] {
        let resp = r
            .sample
            .get_bearer("/protected", &sign(&header, &payload(extra)))
            .await;
        assert_granted(&resp, &format!("{what}, members unique"));
    }

    for (what, header, extra) in [
        (
            "duplicate in a nested claim",
            header.to_owned(),
            r#""realm_access":{"roles":["user"],"roles":["admin"]}"#,
        ),
        (
            "duplicate in an object in an array",
            header.to_owned(),
            r#""groups":[{"id":1},{"id":2,"id":3}]"#,
        ),
        (
            "duplicate three objects deep",
            header.to_owned(),
            r#""a":{"b":{"c":{"d":1,"d":1}}}"#,
        ),
        (
            "duplicate in a nested header member",
            r#"{"alg":"RS256","kid":"rsa-1","x-meta":{"v":1,"v":2}}"#.to_owned(),
            r#""n":0"#,
        ),
    ] {
        let token = sign(&header, &payload(extra));
        for path in ["/protected", "/admin"] {
            let resp = r.sample.get_bearer(path, &token).await;
            assert_invalid_token(&resp, &format!("{what} on {path}"));
        }
    }
}

/// Structural defects: part counts, encodings, sizes, JSON shapes, bad signatures.
async fn malformed_tokens_are_refused(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let good = mint(k, &claims(&iss));
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let flipped = {
        let mut sig: Vec<char> = s.chars().collect();
        sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
        sig.into_iter().collect::<String>()
    };
    let padded_header = format!("{h}==");
    for (what, token) in [
        ("two parts", format!("{h}.{p}")),
        ("four parts", format!("{h}.{p}.{s}.{s}")),
        ("empty header", format!(".{p}.{s}")),
        ("empty payload", format!("{h}..{s}")),
        ("empty signature", format!("{h}.{p}.")),
        (
            "non-base64url characters",
            format!(
                "{h}.{p}.{}",
                s.replacen('A', "*", 1).replacen('-', "*", 1) + "*"
            ),
        ),
        ("padding", format!("{padded_header}.{p}.{s}")),
        (
            "standard base64",
            format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+"),
        ),
        ("bad signature", format!("{h}.{p}.{flipped}")),
        (
            "signature of another token",
            format!(
                "{h}.{}.{s}",
                b64(claims_with(&iss, json!({"roles":["admin"]})).to_string())
            ),
        ),
        (
            "header is null",
            sign_raw(
                "null",
                &claims(&iss).to_string(),
                &k.encoding,
                Algorithm::RS256,
            ),
        ),
        (
            "header is an array",
            sign_raw(
                "[\"RS256\"]",
                &claims(&iss).to_string(),
                &k.encoding,
                Algorithm::RS256,
            ),
        ),
        (
            "header not JSON",
            sign_raw(
                "{alg:RS256}",
                &claims(&iss).to_string(),
                &k.encoding,
                Algorithm::RS256,
            ),
        ),
        (
            "payload is an array",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                "[1]",
                &k.encoding,
                Algorithm::RS256,
            ),
        ),
        ("payload not UTF-8 JSON", {
            let input = format!(
                "{}.{}",
                b64(r#"{"alg":"RS256","kid":"rsa-1"}"#),
                b64([0xff, 0xfe, 0x7b])
            );
            let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &k.encoding, Algorithm::RS256)
                .unwrap_or_default();
            format!("{input}.{sig}")
        }),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, what);
    }
    // Over 8 KiB: refused as a bad token (or by the server's header limit), never accepted.
    let big = mint(
        k,
        &claims_with(&iss, json!({ "pad": "x".repeat(9 * 1024) })),
    );
    assert_refused(
        &r.sample.get_bearer("/protected", &big).await,
        "9 KiB token",
    );
    let huge = mint(
        k,
        &claims_with(&iss, json!({ "pad": "x".repeat(100 * 1024) })),
    );
    let mut huge_request = format!(
        "GET /protected HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {huge}\r\n\r\n",
        r.sample.authority()
    );
    let code = r.sample.raw(huge_request.as_bytes()).await;
    assert!(
        code.is_none_or(|c| (400..500).contains(&c)),
        "100 KB token: {code:?}"
    );
    huge_request.clear();
    // Non-UTF-8 bytes in the header value.
    let resp = r
        .sample
        .send(
            reqwest::Method::GET,
            "/protected",
            {
                let mut map = reqwest::header::HeaderMap::new();
                map.insert(
                    reqwest::header::AUTHORIZATION,
                    reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe.\xfa.\xfb")
                        .expect("obs-text is a valid header value"),
                );
                map
            },
            None,
        )
        .await;
    assert_refused(&resp, "non-UTF-8 token");
    assert!(
        r.sample.get_bearer("/protected", &good).await.status == 200,
        "the good token still works"
    );
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(alg_none_is_refused),
    case!(algorithm_confusion_is_refused),
    case!(kid_must_select_exactly_one_fitting_key),
    case!(keys_named_in_the_header_are_never_trusted),
    case!(crit_b64_and_duplicate_members_are_refused),
    case!(duplicate_members_refused_at_any_depth),
    case!(malformed_tokens_are_refused),
];
