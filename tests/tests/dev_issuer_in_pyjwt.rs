//! Tokens from `api-auth`'s development issuer, with each key type it can generate, verify in
//! PyJWT against the issuer's published JWK set.

use api_auth::{DevIssuer, DevKeyType};
use conformance::idp::Idp;
use conformance::interop::{AUDIENCE, jose_tool};
use serde_json::{Map, Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_issuer_tokens_verify_in_pyjwt() {
    let idp = Idp::start(json!({ "keys": [] })).await;
    let issuer = idp.issuer();
    for kind in [DevKeyType::Rs256, DevKeyType::Es256, DevKeyType::EdDsa] {
        let dev = DevIssuer::generate_with(&issuer, Some(AUDIENCE.to_owned()), kind)
            .expect("development issuer");
        idp.publish(dev.jwks().clone());
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(format!("{kind:?}")));
        let token = dev.mint(claims);
        let (ok, out, err) =
            jose_tool(&["verify", &idp.jwks_url(), &issuer, AUDIENCE], &token).await;
        assert!(ok, "{kind:?}: PyJWT refused the token: {err}");
        let claims: Value = serde_json::from_str(&out).expect("PyJWT claims");
        assert_eq!(claims["sub"], format!("{kind:?}"));
        assert_eq!(claims["iss"], issuer.as_str());

        // And PyJWT is not simply accepting anything: a forged signature is refused.
        let forged = format!("{}AAAA", token.trim_end_matches(|c| c != '.'));
        let (ok, _, _) = jose_tool(&["verify", &idp.jwks_url(), &issuer, AUDIENCE], &forged).await;
        assert!(!ok, "{kind:?}: PyJWT accepted a forged signature");
    }
}
