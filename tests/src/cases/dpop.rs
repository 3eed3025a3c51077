//! DPoP (RFC 9449): tokens bound to a client's key (`cnf.jkt`) are accepted only with a
//! valid proof of that key, as the contract's "Sender-constrained tokens" says. Every check
//! of RFC 9449 §4.3 has its case, numbered as the RFC lists them:
//!
//! 1. not more than one `DPoP` header; 2. a single well-formed JWT; 3. every required claim;
//! 4. `typ` `dpop+jwt`; 5. an asymmetric `alg` the server accepts, not `none`;
//! 6. a signature the `jwk` header verifies; 7. no private key in `jwk`; 8. `htm`; 9. `htu`;
//! 10. the server's nonce; 11. `iat` within the window; 12. `ath` and the key binding.
//!
//! Proofs are built by [`crate::dpop_proof`] with the clients' own keys. The samples run with
//! `AUTH_PUBLIC_URL` (clients reach them through an imagined gateway at that origin).
//! What `AUTH_DPOP`'s settings, nonces and start-up checks decide: `dpop_settings`; replays
//! across processes and the replay store's outages: `dpop_replay`.

use serde_json::{Value, json};

use super::Case;
use super::support::{
    PUBLIC_URL, Remote, assert_granted, assert_invalid_proof, assert_refused_as, claims_with,
    dpop_algs, public_url, remote,
};
use crate::dpop_proof::{Proof, client_keys, private_jwk, thumbprint};
use crate::keys::{TestKey, b64, keys, mint, now};
use crate::sample::{Resp, Sample};

/// A sample trusting the standard provider, reached at [`PUBLIC_URL`], with `AUTH_DPOP=mode`.
pub(super) async fn dpop_remote(bin: &str, mode: &str, extra: &[(&str, &str)]) -> Remote {
    let mut env = vec![("AUTH_PUBLIC_URL", PUBLIC_URL), ("AUTH_DPOP", mode)];
    env.extend_from_slice(extra);
    remote(bin, &env).await
}

/// A token of `issuer` bound to `client`'s key (RFC 9449 §6.1: `cnf.jkt` is its RFC 7638
/// thumbprint), with `extra` claims.
pub(super) fn bound_token(issuer: &str, client: &TestKey, extra: Value) -> String {
    let mut claims = claims_with(issuer, extra);
    claims["cnf"] = json!({ "jkt": thumbprint(&client.jwk) });
    mint(&keys().ec256, &claims)
}

/// A valid proof by `client` for `GET path` with `token`.
pub(super) fn proof_for<'k>(client: &'k TestKey, path: &str, token: &str) -> Proof<'k> {
    Proof::new(client, "GET", &public_url(path)).for_token(token)
}

/// `GET path` with `Authorization: DPoP <token>` and one `DPoP` header per proof.
pub(super) async fn get_dpop(s: &Sample, path: &str, token: &str, proofs: &[&str]) -> Resp {
    let authorization = format!("DPoP {token}");
    let mut headers = vec![("authorization", authorization.as_str())];
    headers.extend(proofs.iter().map(|proof| ("dpop", *proof)));
    s.get(path, &headers).await
}

/// A sample with `AUTH_DPOP=required`, a token bound to the client's P-256 key, and that key.
async fn required_with_bound_token(bin: &str) -> (Remote, String, &'static TestKey) {
    let r = dpop_remote(bin, "required", &[]).await;
    let client = &client_keys().ec;
    let token = bound_token(&r.idp.issuer(), client, json!({}));
    (r, token, client)
}

/// RFC 9449 §7.1: a DPoP-bound token sent as `Authorization: DPoP` with a valid proof of
/// the key it is bound to is accepted, with `AUTH_DPOP` `allowed` or `required`, for ES256,
/// EdDSA and RS256 proofs (§4.3 check 5: any asymmetric algorithm of `AUTH_ALGORITHMS`).
async fn bound_token_with_a_valid_proof_is_accepted(bin: &str) {
    let c = client_keys();
    for mode in ["allowed", "required"] {
        let r = dpop_remote(bin, mode, &[]).await;
        let issuer = r.idp.issuer();
        for client in [&c.ec, &c.ed, &c.rsa] {
            let what = format!("AUTH_DPOP={mode}, {:?} proof", client.alg);
            let token = bound_token(&issuer, client, json!({}));
            let proof = proof_for(client, "/protected", &token).sign();
            let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
            assert_granted(&resp, &what);
            assert_eq!(
                resp.json["user"]["cnf"]["jkt"],
                thumbprint(&client.jwk),
                "{what}: {}",
                resp.text
            );
        }
    }
}

/// Contract ("`/admin` works the same with a bound token"), RFC 6750 §3.1: with a valid
/// proof, a bound token with the admin role gets `/admin`, one without it `403
/// insufficient_scope`, carried by the `DPoP` challenge (the scheme the client used).
async fn bound_token_on_admin_needs_the_admin_role(bin: &str) {
    let r = dpop_remote(bin, "required", &[]).await;
    let issuer = r.idp.issuer();
    let client = &client_keys().ec;
    let admin = bound_token(&issuer, client, json!({ "roles": ["admin"] }));
    let proof = proof_for(client, "/admin", &admin).sign();
    let resp = get_dpop(&r.sample, "/admin", &admin, &[&proof]).await;
    assert_eq!(resp.status, 200, "bound admin token: {}", resp.text);
    assert_eq!(resp.json["message"], "Admin access", "{}", resp.text);

    let reader = bound_token(&issuer, client, json!({ "roles": ["reader"] }));
    let proof = proof_for(client, "/admin", &reader).sign();
    let resp = get_dpop(&r.sample, "/admin", &reader, &[&proof]).await;
    assert_refused_as(
        &resp,
        403,
        "DPoP",
        "insufficient_scope",
        "bound token without the admin role",
    );
}

/// RFC 9449 §4.3 check 8: `htm` must be the request's method. A proof for `POST`, or for
/// `get` (methods are case-sensitive, RFC 9110 §9.1), is refused on a `GET`.
async fn proof_for_another_method_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    for htm in ["POST", "get"] {
        let proof = proof_for(client, "/protected", &token)
            .claim("htm", json!(htm))
            .sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_invalid_proof(&resp, &format!("htm {htm}"));
    }
}

/// RFC 9449 §4.3 check 9, contract: `htu` must be the request's URL, whose scheme and
/// authority come from `AUTH_PUBLIC_URL`. A proof for another path, host, scheme or port,
/// or for the loopback address the sample really listens on, is refused.
async fn proof_for_another_url_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let seen_by_the_sample = format!("{}/protected", r.sample.base);
    for htu in [
        "https://api.example.test/admin",
        "https://api.example.test/protected/",
        "https://api.example.test/",
        "https://other.example.test/protected",
        "http://api.example.test/protected",
        "https://api.example.test:8443/protected",
        "https://api.example.test.evil.example/protected",
        seen_by_the_sample.as_str(),
    ] {
        let proof = Proof::new(client, "GET", htu).for_token(&token).sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_invalid_proof(&resp, &format!("htu {htu}"));
    }
}

/// RFC 9449 §4.3 check 9 with RFC 3986 §6.2.2.1 and §6.2.3 (the contract: "compared after
/// RFC 3986 normalisation"): scheme and host are case-insensitive and the scheme's default
/// port is the same as none, so these spellings of the URL are accepted.
async fn htu_equal_after_case_and_port_normalisation_is_accepted(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    for htu in [
        "HTTPS://API.example.test:443/protected",
        "https://API.EXAMPLE.TEST/protected",
        "https://api.example.test:443/protected",
    ] {
        let proof = Proof::new(client, "GET", htu).for_token(&token).sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_granted(&resp, &format!("htu {htu}"));
    }
}

/// RFC 9449 §4.3 check 9 with RFC 3986 §6.2.2.2 and §6.2.2.3 (the rest of syntax-based
/// normalisation): a percent-encoded unreserved character (`%70` is `p`) and dot segments
/// do not change the URL, so these spellings are accepted.
async fn htu_equal_after_path_normalisation_is_accepted(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    for htu in [
        "https://api.example.test/%70rotected",
        "https://api.example.test/./protected",
        "https://api.example.test/public/../protected",
    ] {
        let proof = Proof::new(client, "GET", htu).for_token(&token).sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_granted(&resp, &format!("htu {htu}"));
    }
}

/// RFC 9449 §4.2 (`htu` is the target URI "without query and fragment parts") and §4.3
/// check 9 ("ignoring any query and fragment parts"), contract ("the request's URL without
/// query and fragment"): a request with a query is matched by a proof without one, and a
/// query or fragment a client left in `htu` is ignored.
async fn query_and_fragment_are_not_part_of_htu(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    for (path, htu) in [
        ("/protected?page=2", "https://api.example.test/protected"),
        (
            "/protected?page=2",
            "https://api.example.test/protected?page=2#top",
        ),
        ("/protected", "https://api.example.test/protected?page=3"),
        ("/protected", "https://api.example.test/protected#top"),
    ] {
        let proof = Proof::new(client, "GET", htu).for_token(&token).sign();
        let resp = get_dpop(&r.sample, path, &token, &[&proof]).await;
        assert_granted(&resp, &format!("request {path}, htu {htu}"));
    }
}

/// Sends a proof dated `age` seconds ago (negative: in the future) and returns the answer.
async fn with_proof_aged(r: &Remote, client: &TestKey, token: &str, age: i64) -> Resp {
    let proof = proof_for(client, "/protected", token)
        .claim("iat", json!(now() - age))
        .sign();
    get_dpop(&r.sample, "/protected", token, &[&proof]).await
}

/// RFC 9449 §4.3 check 11 and §11.1, contract: `iat` must be within
/// `AUTH_DPOP_MAX_AGE_SECS` (default 60) of now, the leeway (`AUTH_LEEWAY_SECS`, default 30)
/// applied. By default a proof 40 s or 75 s old is accepted and one 110 s old refused; with
/// no leeway, 75 s is too old; with a maximum age of 300 s, 250 s is accepted and 400 s not.
async fn proof_older_than_the_maximum_age_is_refused(bin: &str) {
    let client = &client_keys().ec;
    for (extra, accepted, refused) in [
        (vec![], vec![40, 75], vec![110, 3600]),
        (vec![("AUTH_LEEWAY_SECS", "0")], vec![40], vec![75]),
        (
            vec![("AUTH_DPOP_MAX_AGE_SECS", "300")],
            vec![250],
            vec![400],
        ),
    ] {
        let r = dpop_remote(bin, "required", &extra).await;
        let token = bound_token(&r.idp.issuer(), client, json!({}));
        for age in accepted {
            let resp = with_proof_aged(&r, client, &token, age).await;
            assert_granted(&resp, &format!("{extra:?}: proof {age} s old"));
        }
        for age in refused {
            let resp = with_proof_aged(&r, client, &token, age).await;
            assert_invalid_proof(&resp, &format!("{extra:?}: proof {age} s old"));
        }
    }
}

/// RFC 9449 §4.3 check 11 and §11.1: a proof dated beyond the window in the future is
/// refused (300 s ahead, with the default 60 s and 30 s of leeway); one 10 s ahead, a clock
/// skew within the leeway, is accepted.
async fn proof_dated_in_the_future_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let resp = with_proof_aged(&r, client, &token, -10).await;
    assert_granted(&resp, "proof 10 s in the future");
    for ahead in [300, 86_400] {
        let resp = with_proof_aged(&r, client, &token, -ahead).await;
        assert_invalid_proof(&resp, &format!("proof {ahead} s in the future"));
    }
}

/// RFC 9449 §11.1, contract ("`jti` has not been seen in that window"): the same proof sent
/// twice is accepted once, and so is a new proof that reuses an accepted proof's `jti`.
async fn replayed_proof_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let proof = proof_for(client, "/protected", &token);
    let signed = proof.sign();
    assert_granted(
        &get_dpop(&r.sample, "/protected", &token, &[&signed]).await,
        "first use",
    );
    assert_invalid_proof(
        &get_dpop(&r.sample, "/protected", &token, &[&signed]).await,
        "the same proof again",
    );
    let same_jti = proof.claim("iat", json!(now() - 1)).sign();
    assert_ne!(same_jti, signed);
    assert_invalid_proof(
        &get_dpop(&r.sample, "/protected", &token, &[&same_jti]).await,
        "a new proof with a used jti",
    );
    let fresh = proof_for(client, "/protected", &token).sign();
    assert_granted(
        &get_dpop(&r.sample, "/protected", &token, &[&fresh]).await,
        "a fresh proof",
    );
}

/// RFC 9449 §4.3 check 12 and §7: `ath` must be the hash of the access token sent with the
/// proof. A proof made for another token, or without `ath`, is refused.
async fn proof_for_another_token_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let other = bound_token(&r.idp.issuer(), client, json!({ "sub": "bob" }));
    let for_other = proof_for(client, "/protected", &other).sign();
    assert_invalid_proof(
        &get_dpop(&r.sample, "/protected", &token, &[&for_other]).await,
        "ath of another token",
    );
    let without_ath = proof_for(client, "/protected", &token)
        .without_claim("ath")
        .sign();
    assert_invalid_proof(
        &get_dpop(&r.sample, "/protected", &token, &[&without_ath]).await,
        "no ath",
    );
}

/// RFC 9449 §4.3 check 12: the token's `cnf.jkt` must be the thumbprint of the proof's key.
/// A proof valid in itself but by another key is refused with `invalid_dpop_proof`: the
/// contract lists this match among the conditions of a valid *proof* ("and the token's
/// `cnf.jkt` is the RFC 7638 SHA-256 thumbprint of the proof's key"), keeping
/// `invalid_token` for a token that is bad in itself, and RFC 9449 §4.3 places it among the
/// proof checks (its §7.1 example answering `invalid_token` for a key binding mismatch is an
/// example, not a rule).
async fn proof_by_a_key_the_token_is_not_bound_to_is_refused(bin: &str) {
    let (r, token, _client) = required_with_bound_token(bin).await;
    let c = client_keys();
    for other in [&c.other, &c.ed] {
        let proof = proof_for(other, "/protected", &token).sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_invalid_proof(&resp, &format!("proof by {}", other.kid));
    }
}

/// RFC 9449 §4.3 check 7, contract ("a `jwk` header holding a public key (no private
/// members)"): a proof whose `jwk` carries the private key, signed by that very key, is
/// refused.
async fn proof_with_a_private_key_in_its_jwk_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let proof = proof_for(client, "/protected", &token)
        .header("jwk", private_jwk(client))
        .sign();
    let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
    assert_invalid_proof(&resp, "jwk with d");
}

/// RFC 9449 §4.3 check 4: `typ` must be `dpop+jwt`. A proof typed `JWT` or `at+jwt`, or
/// untyped, is refused (an access token or ID token signed by the client's key is not a
/// proof).
async fn proof_not_typed_dpop_jwt_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let untyped = proof_for(client, "/protected", &token)
        .without_header("typ")
        .sign();
    let mut proofs = vec![("no typ".to_owned(), untyped)];
    for typ in ["JWT", "at+jwt", "dpop"] {
        let proof = proof_for(client, "/protected", &token)
            .header("typ", json!(typ))
            .sign();
        proofs.push((format!("typ {typ}"), proof));
    }
    for (what, proof) in proofs {
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_invalid_proof(&resp, &what);
    }
}

/// RFC 9449 §4.3 check 5 and RFC 8725 §3.1: a proof's `alg` must be asymmetric and not
/// `none`. An HS256 proof keyed with the public key's bytes and an unsigned proof are
/// refused.
async fn symmetric_and_unsigned_proofs_are_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let proof = proof_for(client, "/protected", &token);
    let x = client.jwk["x"].as_str().unwrap_or_default().as_bytes();
    for (what, signed) in [
        (
            "HS256 keyed with the public DER",
            proof.hs256(&client.public_der),
        ),
        ("HS256 keyed with the JWK's x", proof.hs256(x)),
        ("alg none", proof.unsigned()),
    ] {
        let resp = get_dpop(&r.sample, "/protected", &token, &[&signed]).await;
        assert_invalid_proof(&resp, what);
    }
}

/// RFC 9449 §4.3 check 6: the signature must verify with the `jwk` header's key. A proof
/// signed by another key than its `jwk`, and one whose claims were changed after signing,
/// are refused.
async fn proof_not_signed_by_its_jwk_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let by_other = proof_for(client, "/protected", &token).signed_by(&client_keys().other);
    let resp = get_dpop(&r.sample, "/protected", &token, &[&by_other]).await;
    assert_invalid_proof(&resp, "signed by another key");

    let signed = proof_for(client, "/protected", &token).sign();
    let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
    let other_claims = proof_for(client, "/protected", &token);
    parts[1] = b64(other_claims.claims().to_string());
    let resp = get_dpop(&r.sample, "/protected", &token, &[&parts.join(".")]).await;
    assert_invalid_proof(&resp, "claims replaced after signing");
}

/// RFC 9449 §4.3 check 5 ("supported by the application and acceptable per local policy"),
/// contract ("an asymmetric `alg` from `AUTH_ALGORITHMS`"): with `AUTH_ALGORITHMS=ES256`, an
/// EdDSA or RS256 proof is refused and the challenge's `algs` is exactly `ES256`.
async fn proof_alg_outside_the_allow_list_is_refused(bin: &str) {
    let r = dpop_remote(bin, "required", &[("AUTH_ALGORITHMS", "ES256")]).await;
    let c = client_keys();
    let token = bound_token(&r.idp.issuer(), &c.ec, json!({}));
    let ok = proof_for(&c.ec, "/protected", &token).sign();
    assert_granted(
        &get_dpop(&r.sample, "/protected", &token, &[&ok]).await,
        "ES256 proof",
    );
    for client in [&c.ed, &c.rsa] {
        let token = bound_token(&r.idp.issuer(), client, json!({}));
        let proof = proof_for(client, "/protected", &token).sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        let what = format!("{:?} proof", client.alg);
        assert_invalid_proof(&resp, &what);
        assert_eq!(dpop_algs(&resp, &what), ["ES256"], "{what}");
    }
}

/// RFC 9449 §4.3 check 3 (§4.2's required claims `jti`, `htm`, `htu`, `iat`) and check 6 (a
/// `jwk` header to verify with): a proof missing any of them is refused.
async fn proof_missing_a_required_member_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let mut proofs = Vec::new();
    for claim in ["jti", "htm", "htu", "iat"] {
        let proof = proof_for(client, "/protected", &token)
            .without_claim(claim)
            .sign();
        proofs.push((format!("no {claim}"), proof));
    }
    let no_jwk = proof_for(client, "/protected", &token)
        .without_header("jwk")
        .sign();
    proofs.push(("no jwk".to_owned(), no_jwk));
    let string_iat = proof_for(client, "/protected", &token)
        .claim("iat", json!(now().to_string()))
        .sign();
    proofs.push(("iat as a string".to_owned(), string_iat));
    for (what, proof) in proofs {
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_invalid_proof(&resp, &what);
    }
}

/// RFC 9449 §4.3 check 2: the `DPoP` header must be a single well-formed JWT. Garbage, an
/// empty value, two parts, and a JWS with an extra part are refused (never a `500`).
async fn malformed_proof_is_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let valid = proof_for(client, "/protected", &token).sign();
    let two_parts = valid.rsplit_once('.').map(|(head, _)| head.to_owned());
    for (what, proof) in [
        ("garbage", "not-a-jwt".to_owned()),
        ("empty", String::new()),
        ("two parts", two_parts.unwrap_or_default()),
        ("four parts", format!("{valid}.{}", b64("x"))),
        ("bad base64", "!!!.!!!.!!!".to_owned()),
        ("two proofs in one value", format!("{valid}, {valid}")),
    ] {
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        assert_invalid_proof(&resp, what);
    }
}

/// RFC 9449 §4.3 check 1, contract ("exactly one `DPoP` header"): two `DPoP` header fields,
/// even both valid, are refused.
async fn two_dpop_headers_are_refused(bin: &str) {
    let (r, token, client) = required_with_bound_token(bin).await;
    let first = proof_for(client, "/protected", &token).sign();
    let second = proof_for(client, "/protected", &token).sign();
    let resp = get_dpop(&r.sample, "/protected", &token, &[&first, &second]).await;
    assert_invalid_proof(&resp, "two DPoP headers");
}

/// RFC 9449 §7.1, contract ("accepted only as `Authorization: DPoP <token>` together with
/// exactly one `DPoP` header holding a valid proof"): a bound token under the `DPoP` scheme
/// without any proof is refused with `invalid_dpop_proof` (the token is fine; the proof is
/// missing).
async fn bound_token_without_a_proof_is_refused(bin: &str) {
    for mode in ["allowed", "required"] {
        let r = dpop_remote(bin, mode, &[]).await;
        let token = bound_token(&r.idp.issuer(), &client_keys().ec, json!({}));
        let resp = get_dpop(&r.sample, "/protected", &token, &[]).await;
        assert_invalid_proof(&resp, &format!("AUTH_DPOP={mode}, no DPoP header"));
    }
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(bound_token_with_a_valid_proof_is_accepted),
    case!(bound_token_on_admin_needs_the_admin_role),
    case!(proof_for_another_method_is_refused),
    case!(proof_for_another_url_is_refused),
    case!(htu_equal_after_case_and_port_normalisation_is_accepted),
    case!(htu_equal_after_path_normalisation_is_accepted),
    case!(query_and_fragment_are_not_part_of_htu),
    case!(proof_older_than_the_maximum_age_is_refused),
    case!(proof_dated_in_the_future_is_refused),
    case!(replayed_proof_is_refused),
    case!(proof_for_another_token_is_refused),
    case!(proof_by_a_key_the_token_is_not_bound_to_is_refused),
    case!(proof_with_a_private_key_in_its_jwk_is_refused),
    case!(proof_not_typed_dpop_jwt_is_refused),
    case!(symmetric_and_unsigned_proofs_are_refused),
    case!(proof_not_signed_by_its_jwk_is_refused),
    case!(proof_alg_outside_the_allow_list_is_refused),
    case!(proof_missing_a_required_member_is_refused),
    case!(malformed_proof_is_refused),
    case!(two_dpop_headers_are_refused),
    case!(bound_token_without_a_proof_is_refused),
];
