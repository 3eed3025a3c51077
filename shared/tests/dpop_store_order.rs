//! A DPoP proof's `jti` is stored only once every other check of the request has passed,
//! through `Auth::authenticate`: the token's own verification, its `cnf` binding, the proof's
//! key, `ath`, `htm`, `htu`, `iat` and the nonce. A request refused for any of them leaves the
//! replay store empty, and the same proof is then accepted once with a request that passes.

use std::sync::Arc;

use api_auth::{
    Auth, AuthError, DevIssuer, DevKeyType, DpopMode, DpopNonces, DpopVerifier, HttpRequestHead,
    MemoryReplayStore, PublicOrigin, jwk_thumbprint,
};
use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Map, Value, json};
use test_keys::{TestKey, b64, now, sign_raw};

const ORIGIN: &str = "https://api.example.com";
const HTU: &str = "https://api.example.com/protected";

/// A verifier of DPoP-bound tokens from `issuer`, and the replay store it remembers in.
fn service(issuer: &DevIssuer, nonces: Option<DpopNonces>) -> (Auth, Arc<MemoryReplayStore>) {
    let store = Arc::new(MemoryReplayStore::new(1000));
    let mut verifier = DpopVerifier::builder(
        PublicOrigin::parse(ORIGIN).expect("an origin"),
        Arc::clone(&store) as Arc<dyn api_auth::ReplayStore>,
    );
    if let Some(nonces) = nonces {
        verifier = verifier.nonces(nonces);
    }
    let auth = Auth::builder()
        .issuer(issuer.as_issuer().expect("the issuer's URL"))
        .dpop(verifier.build().expect("a verifier"), DpopMode::Allowed)
        .build()
        .expect("the service");
    (auth, store)
}

fn token(issuer: &DevIssuer, cnf: Option<Value>, extra: &[(&str, Value)]) -> String {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("alice"));
    if let Some(cnf) = cnf {
        claims.insert("cnf".into(), cnf);
    }
    for (name, value) in extra {
        claims.insert((*name).into(), value.clone());
    }
    issuer.mint(claims)
}

/// A proof by `key` for `GET /protected` with `access_token`.
fn proof(key: &TestKey, access_token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
    let mut claims = json!({
        "jti": format!("jti-{}", fastrand::u64(..)),
        "htm": "GET",
        "htu": HTU,
        "iat": now(),
        "ath": b64(digest(&SHA256, access_token.as_bytes())),
    });
    edit(&mut claims);
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        &key.encoding,
        key.alg,
    )
}

async fn authenticate(auth: &Auth, authorization: &str, proof: &str) -> Result<(), AuthError> {
    let request = http::Request::get("/protected")
        .header("authorization", authorization)
        .header("dpop", proof)
        .body(())
        .expect("a request");
    auth.authenticate(&HttpRequestHead::of(&request))
        .await
        .map(drop)
}

fn status_and_code(result: Result<(), AuthError>) -> (u16, &'static str) {
    let refusal = result.expect_err("refused");
    (refusal.status(), refusal.code())
}

#[tokio::test]
async fn a_request_refused_for_any_reason_leaves_no_jti_behind() {
    let issuer = DevIssuer::generate_with("https://login.example.com", None, DevKeyType::Es256)
        .expect("a development key");
    let (auth, store) = service(&issuer, None);
    let key = TestKey::p256("client");
    let other = TestKey::p256("other");
    let jkt = jwk_thumbprint(&key.jwk).expect("a thumbprint");
    let other_jkt = jwk_thumbprint(&other.jwk).expect("a thumbprint");
    let bound = token(&issuer, Some(json!({ "jkt": jkt })), &[]);
    let dpop = |token: &str| format!("DPoP {token}");

    // Each refused request carries a proof that is valid for it in every other respect.
    let expired = token(
        &issuer,
        Some(json!({ "jkt": jkt })),
        &[("exp", json!(now() - 3600)), ("iat", json!(now() - 7200))],
    );
    let bound_to_other = token(&issuer, Some(json!({ "jkt": other_jkt })), &[]);
    let unbound = token(&issuer, None, &[]);
    let also_certificate_bound = token(
        &issuer,
        Some(json!({ "jkt": jkt, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" })),
        &[],
    );
    let refusals: [(&str, String, String, (u16, &str)); 9] = [
        (
            "an expired token",
            dpop(&expired),
            proof(&key, &expired, |_| {}),
            (401, "invalid_token"),
        ),
        (
            "a token bound to another key",
            dpop(&bound_to_other),
            proof(&key, &bound_to_other, |_| {}),
            (401, "invalid_dpop_proof"),
        ),
        (
            "an unbound token sent as DPoP",
            dpop(&unbound),
            proof(&key, &unbound, |_| {}),
            (401, "invalid_token"),
        ),
        (
            "a bound token sent as Bearer",
            format!("Bearer {bound}"),
            proof(&key, &bound, |_| {}),
            (401, "invalid_token"),
        ),
        (
            "a token also bound to a certificate this service does not check",
            dpop(&also_certificate_bound),
            proof(&key, &also_certificate_bound, |_| {}),
            (401, "invalid_token"),
        ),
        (
            "an ath of another token",
            dpop(&bound),
            proof(&key, &unbound, |_| {}),
            (401, "invalid_dpop_proof"),
        ),
        (
            "another method",
            dpop(&bound),
            proof(&key, &bound, |claims| claims["htm"] = json!("POST")),
            (401, "invalid_dpop_proof"),
        ),
        (
            "another URI",
            dpop(&bound),
            proof(&key, &bound, |claims| {
                claims["htu"] = json!("https://api.example.com/admin");
            }),
            (401, "invalid_dpop_proof"),
        ),
        (
            "a stale proof",
            dpop(&bound),
            proof(&key, &bound, |claims| claims["iat"] = json!(now() - 3600)),
            (401, "invalid_dpop_proof"),
        ),
    ];
    for (case, authorization, proof, expected) in &refusals {
        let result = authenticate(&auth, authorization, proof).await;
        assert_eq!(status_and_code(result), *expected, "{case}");
        assert_eq!(store.live(), 0, "{case} left its jti in the store");
    }

    // In `allowed` mode an unbound bearer token is served, its proof unread.
    let ignored = proof(&key, &unbound, |_| {});
    assert_eq!(
        authenticate(&auth, &format!("Bearer {unbound}"), &ignored).await,
        Ok(())
    );
    assert_eq!(store.live(), 0);

    // A proof refused with its token sent as Bearer is then accepted as it is, once.
    let bound_proof = proof(&key, &bound, |_| {});
    let wrong_scheme = authenticate(&auth, &format!("Bearer {bound}"), &bound_proof).await;
    assert_eq!(status_and_code(wrong_scheme), (401, "invalid_token"));
    assert_eq!(store.live(), 0);
    assert_eq!(
        authenticate(&auth, &dpop(&bound), &bound_proof).await,
        Ok(())
    );
    assert_eq!(store.live(), 1);
    let replayed = authenticate(&auth, &dpop(&bound), &bound_proof).await;
    assert_eq!(status_and_code(replayed), (401, "invalid_dpop_proof"));
    assert_eq!(store.live(), 1);
}

#[tokio::test]
async fn a_proof_without_the_required_nonce_leaves_no_jti_behind() {
    let issuer = DevIssuer::generate_with("https://login.example.com", None, DevKeyType::Es256)
        .expect("a development key");
    let nonces = DpopNonces::from_secret(&[7u8; 32]).expect("a secret");
    let issued = nonces.issue();
    let (auth, store) = service(&issuer, Some(nonces));
    let key = TestKey::p256("client");
    let jkt = jwk_thumbprint(&key.jwk).expect("a thumbprint");
    let bound = token(&issuer, Some(json!({ "jkt": jkt })), &[]);
    let without = proof(&key, &bound, |_| {});
    let refused = authenticate(&auth, &format!("DPoP {bound}"), &without).await;
    assert_eq!(status_and_code(refused), (401, "use_dpop_nonce"));
    assert_eq!(store.live(), 0);
    let with = proof(&key, &bound, |claims| claims["nonce"] = json!(issued));
    assert_eq!(
        authenticate(&auth, &format!("DPoP {bound}"), &with).await,
        Ok(())
    );
    assert_eq!(store.live(), 1);
}

#[tokio::test]
async fn a_flooding_key_is_answered_429_with_retry_after_and_others_are_served() {
    let issuer = DevIssuer::generate_with("https://login.example.com", None, DevKeyType::Es256)
        .expect("a development key");
    // Capacity 1000: over half full past 500 live entries, a key's share 10.
    let (auth, store) = service(&issuer, None);
    let (flood, other) = (TestKey::p256("flood"), TestKey::p256("other"));
    let bound_to = |key: &TestKey| {
        let jkt = jwk_thumbprint(&key.jwk).expect("a thumbprint");
        format!("DPoP {}", token(&issuer, Some(json!({ "jkt": jkt })), &[]))
    };
    let (flood_token, other_token) = (bound_to(&flood), bound_to(&other));
    let access = |authorization: &str| authorization.trim_start_matches("DPoP ").to_owned();
    for n in 0..501 {
        let proof = proof(&flood, &access(&flood_token), |_| {});
        assert_eq!(
            authenticate(&auth, &flood_token, &proof).await,
            Ok(()),
            "proof {n}"
        );
    }
    let proof_of_flood = proof(&flood, &access(&flood_token), |_| {});
    let refusal = authenticate(&auth, &flood_token, &proof_of_flood)
        .await
        .expect_err("over its share");
    let response: http::Response<Vec<u8>> = refusal.reply().into();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|secs| secs.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=92).contains(&retry_after), "{retry_after}");
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(store.live(), 501);

    let proof_of_other = proof(&other, &access(&other_token), |_| {});
    assert_eq!(
        authenticate(&auth, &other_token, &proof_of_other).await,
        Ok(())
    );
}
