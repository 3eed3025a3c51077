//! Interoperability with implementations nobody here wrote: a certified OpenID provider
//! (`oidc-provider`, Node.js) issuing real access tokens, and PyJWT minting and verifying
//! tokens with RSA, EC and Ed25519 keys. The tools and how they are installed:
//! [`crate::interop`].

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Case;
use crate::idp::Idp;
use crate::interop::{AUDIENCE, KeysFile, OTHER_AUDIENCE, Provider, jose_tool};
use crate::keys::{b64, now};
use crate::sample::{Resp, Sample};

#[track_caller]
fn assert_granted_to(resp: &Resp, sub: &str, issuer: &str, what: &str) {
    assert_eq!(resp.status, 200, "{what}: {}", resp.text);
    assert_eq!(resp.json["message"], "Access granted", "{what}");
    assert_eq!(resp.json["user"]["sub"], sub, "{what}: {}", resp.text);
    assert_eq!(resp.json["user"]["iss"], issuer, "{what}: {}", resp.text);
}

#[track_caller]
fn assert_401(resp: &Resp, description: Option<&str>, what: &str) {
    assert_eq!(resp.status, 401, "{what}: {}", resp.text);
    assert_eq!(resp.error(), "invalid_token", "{what}: {}", resp.text);
    if let Some(description) = description {
        assert_eq!(
            resp.json["error_description"], description,
            "{what}: {}",
            resp.text
        );
    }
}

/// One member of a token's header (`part` 0) or payload (`part` 1).
fn member_of(token: &str, part: usize, name: &str) -> Value {
    use base64::Engine;
    let encoded = token.split('.').nth(part).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .expect("base64url part");
    let object: Value = serde_json::from_slice(&bytes).expect("JSON part");
    object[name].clone()
}

fn kid(token: &str) -> String {
    member_of(token, 0, "kid")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn claim_of(token: &str, name: &str) -> Value {
    member_of(token, 1, name)
}

/// The provider's access tokens (RS256, ES256, EdDSA, `typ: at+jwt`), found through its
/// discovery document with nothing configured but the issuer and audience; another
/// audience's token and an expired one are refused.
async fn oidc_provider_tokens_are_accepted(bin: &str) {
    let keys = KeysFile::new();
    let provider = Provider::start(&keys).await;
    let issuer = provider.issuer.clone();
    let sample = Sample::start(
        bin,
        &[("AUTH_ISSUER", &issuer), ("AUTH_AUDIENCE", AUDIENCE)],
    )
    .await;
    for client_id in ["rs256", "es256", "eddsa"] {
        let token = provider.token(client_id, AUDIENCE).await;
        let resp = sample.get_bearer("/protected", &token).await;
        assert_granted_to(&resp, client_id, &issuer, client_id);
        assert_eq!(resp.json["user"]["aud"], AUDIENCE);
        assert_eq!(resp.json["user"]["client_id"], client_id);
        assert_eq!(resp.json["user"]["scope"], "api:read");
        let admin = sample.get_bearer("/admin", &token).await;
        assert_eq!(admin.status, 403, "{client_id} on /admin: {}", admin.text);
    }
    let other = provider.token("rs256", OTHER_AUDIENCE).await;
    assert_401(
        &sample.get_bearer("/protected", &other).await,
        None,
        "token for another audience",
    );

    // Expiry, without waiting out the default 30 s leeway.
    let strict = Sample::start(
        bin,
        &[
            ("AUTH_ISSUER", &issuer),
            ("AUTH_AUDIENCE", AUDIENCE),
            ("AUTH_LEEWAY_SECS", "0"),
        ],
    )
    .await;
    let short = provider.token("short-lived", AUDIENCE).await;
    assert_granted_to(
        &strict.get_bearer("/protected", &short).await,
        "short-lived",
        &issuer,
        "fresh short-lived token",
    );
    // `exp` is whole seconds: wait until it is safely past, whatever the minting instant.
    let exp = claim_of(&short, "exp").as_i64().expect("integer exp");
    let wait = (exp + 1 - now()).max(0);
    tokio::time::sleep(Duration::from_secs(wait.unsigned_abs())).await;
    assert_401(
        &strict.get_bearer("/protected", &short).await,
        Some("Token has expired"),
        "expired token",
    );
}

/// The provider rotates to a new signing key, first in its set: the running sample
/// accepts the new tokens after one refetch, and old tokens while the old key is published.
async fn oidc_provider_rotation_is_followed(bin: &str) {
    let keys = KeysFile::new();
    let provider = Provider::start(&keys).await;
    let issuer = provider.issuer.clone();
    let sample = Sample::start(
        bin,
        &[
            ("AUTH_ISSUER", &issuer),
            ("AUTH_AUDIENCE", AUDIENCE),
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
        ],
    )
    .await;
    let before = provider.token("rs256", AUDIENCE).await;
    assert_granted_to(
        &sample.get_bearer("/protected", &before).await,
        "rs256",
        &issuer,
        "before rotation",
    );
    provider.rotate().await;
    let after = provider.token("rs256", AUDIENCE).await;
    assert_ne!(
        kid(&after),
        kid(&before),
        "the rotated provider signs with its new key"
    );
    // The unknown kid triggers a refetch once the 1 s cooldown since the last fetch is over.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = sample.get_bearer("/protected", &after).await;
        if resp.status == 200 {
            assert_granted_to(&resp, "rs256", &issuer, "after rotation");
            break;
        }
        assert_401(&resp, None, "rotated token before the refetch");
        assert!(
            Instant::now() < deadline,
            "the rotated key was never picked up: {}",
            resp.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_granted_to(
        &sample.get_bearer("/protected", &before).await,
        "rs256",
        &issuer,
        "old token, old key still published",
    );
}

/// Tokens minted by PyJWT with RSA, EC P-256 and Ed25519 keys verify; a token altered after
/// signing does not.
async fn pyjwt_tokens_are_accepted(bin: &str) {
    let idp = Idp::start(json!({ "keys": [] })).await;
    let issuer = idp.issuer();
    let (ok, out, err) = jose_tool(&["mint", &issuer, AUDIENCE], "").await;
    assert!(ok, "PyJWT mint failed: {err}");
    let minted: Value = serde_json::from_str(&out).expect("PyJWT mint output");
    idp.publish(minted["jwks"].clone());
    let sample = Sample::start(
        bin,
        &[("AUTH_ISSUER", &issuer), ("AUTH_AUDIENCE", AUDIENCE)],
    )
    .await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        let token = minted["tokens"][alg].as_str().expect("token per algorithm");
        let sub = format!("pyjwt-{}", alg.to_lowercase());
        assert_granted_to(
            &sample.get_bearer("/protected", token).await,
            &sub,
            &issuer,
            alg,
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = b64(
            json!({ "sub": "mallory", "iss": issuer, "aud": AUDIENCE, "exp": now() + 300 })
                .to_string(),
        );
        assert_401(
            &sample.get_bearer("/protected", &parts.join(".")).await,
            None,
            &format!("{alg} token with a replaced payload"),
        );
    }
}

/// A token from the sample's own development issuer verifies in PyJWT, against the JWKS the
/// sample publishes.
async fn dev_token_verifies_in_pyjwt(bin: &str) {
    let sample = Sample::start(bin, &[]).await;
    let resp = sample
        .request(
            reqwest::Method::POST,
            "/dev/token",
            &[("content-type", "application/json")],
            Some(br#"{"sub":"alice","roles":["admin"]}"#.to_vec()),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let token = resp.json["token"].as_str().expect("token");
    let jwks_url = format!("{}/.well-known/jwks.json", sample.base);
    let (ok, out, err) = jose_tool(&["verify", &jwks_url, &sample.base, "-"], token).await;
    assert!(ok, "PyJWT refused the dev token: {err}");
    let claims: Value = serde_json::from_str(&out).expect("PyJWT claims");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], json!(["admin"]));
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(oidc_provider_tokens_are_accepted),
    case!(oidc_provider_rotation_is_followed),
    case!(pyjwt_tokens_are_accepted),
    case!(dev_token_verifies_in_pyjwt),
];
