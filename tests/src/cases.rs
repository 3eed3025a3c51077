//! Every case of the contract, each a function of the sample binary's path.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::idp::{Idp, Mode, jwks_of};
use crate::keys::{b64, keys, mint, mint_as, mint_with_header, now, sign_raw};
use crate::sample::{Resp, Sample};

mod several_issuers;
pub use several_issuers::*;
mod contract_edges;
pub use contract_edges::*;
mod nested_duplicates;
pub use nested_duplicates::*;
mod key_store_hardening;
pub use key_store_hardening::*;
mod operations;
pub use operations::*;
mod readiness_and_secrets;
pub use readiness_and_secrets::*;
mod forged_keys;
pub use forged_keys::*;
mod gateway_assertions;
pub use gateway_assertions::*;

/// A provider publishing the standard keys, and a sample trusting it through discovery.
pub struct Remote {
    /// The identity provider.
    pub idp: Idp,
    /// The sample under test.
    pub sample: Sample,
}

pub(crate) fn standard_jwks() -> Value {
    let k = keys();
    jwks_of(&[&k.rsa.jwk, &k.ec256.jwk, &k.ec384.jwk, &k.ed.jwk])
}

async fn remote_with(bin: &str, jwks: Value, env: &[(&str, &str)]) -> Remote {
    let idp = Idp::start(jwks).await;
    let issuer = idp.issuer();
    let mut all: Vec<(&str, &str)> = vec![("AUTH_ISSUER", issuer.as_str())];
    all.extend_from_slice(env);
    let sample = Sample::start(bin, &all).await;
    Remote { idp, sample }
}

/// Like [`remote_with`], with the provider's `Cache-Control` set before the first fetch.
pub(crate) async fn remote_cached(
    bin: &str,
    jwks: Value,
    cache_control: &str,
    env: &[(&str, &str)],
) -> Remote {
    let idp = Idp::start(jwks).await;
    idp.set_cache_control(cache_control);
    let issuer = idp.issuer();
    let mut all: Vec<(&str, &str)> = vec![("AUTH_ISSUER", issuer.as_str())];
    all.extend_from_slice(env);
    let sample = Sample::start(bin, &all).await;
    Remote { idp, sample }
}

pub(crate) async fn remote(bin: &str, env: &[(&str, &str)]) -> Remote {
    remote_with(bin, standard_jwks(), env).await
}

/// A sample verifying against `idp`'s key set URL directly (no discovery), with its issuer.
async fn sample_on_jwks_url(bin: &str, idp: &Idp) -> Sample {
    let issuer = idp.issuer();
    let url = idp.jwks_url();
    Sample::start(
        bin,
        &[
            ("AUTH_JWKS_URL", url.as_str()),
            ("AUTH_ISSUER", issuer.as_str()),
        ],
    )
    .await
}

/// Claims that pass every check for `issuer`.
pub(crate) fn claims(issuer: &str) -> Value {
    json!({ "sub": "alice", "iss": issuer, "iat": now(), "exp": now() + 300 })
}

pub(crate) fn claims_with(issuer: &str, extra: Value) -> Value {
    let mut c = claims(issuer);
    if let (Some(base), Value::Object(more)) = (c.as_object_mut(), extra) {
        base.extend(more);
    }
    c
}

pub(crate) fn without(mut value: Value, name: &str) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.remove(name);
    }
    value
}

#[track_caller]
pub(crate) fn assert_granted(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 200, "{what}: {}", resp.text);
    assert_eq!(
        resp.json["message"], "Access granted",
        "{what}: {}",
        resp.text
    );
}

#[track_caller]
pub(crate) fn assert_invalid_token(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 401, "{what}: {}", resp.text);
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge
            .starts_with("Bearer realm=\"api\", error=\"invalid_token\", error_description=\""),
        "{what}: challenge {challenge:?}"
    );
    assert_eq!(resp.error(), "invalid_token", "{what}: {}", resp.text);
    assert!(
        resp.json["error_description"].is_string(),
        "{what}: {}",
        resp.text
    );
    assert!(
        !resp.text.contains("Access granted"),
        "{what}: the handler ran"
    );
}

#[track_caller]
fn assert_refused(resp: &Resp, what: &str) {
    assert!(
        (400..500).contains(&resp.status) && resp.status != 404,
        "{what}: expected a 4xx refusal, got {} {}",
        resp.status,
        resp.text
    );
    assert!(
        !resp.text.contains("Access granted"),
        "{what}: the handler ran"
    );
}

// ---------------------------------------------------------------- routes and dev mode

/// `/healthz` and `/public` answer without credentials.
pub async fn open_routes(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json["status"], "ok");
    assert_eq!(health.header("content-type"), Some("application/json"));
    let public = s.get("/public", &[]).await;
    assert_eq!(public.status, 200);
    assert_eq!(public.json, json!({ "message": "Anyone can see this" }));
}

/// No credentials: 401 with a bare challenge and `missing_token`.
pub async fn missing_token(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    for path in ["/protected", "/admin"] {
        let r = s.get(path, &[]).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"api\""),
            "{path}"
        );
        assert_eq!(r.error(), "missing_token", "{path}");
        assert!(r.json["error_description"].is_string());
    }
}

/// Dev mode: the printed curl commands work, and `/dev/token` mints usable tokens.
pub async fn dev_mode_round_trip(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    let banner = s.wait_stdout("/admin").await;
    assert!(banner.contains("DEVELOPMENT MODE"), "{banner}");
    let token_for = |path: &str| {
        banner
            .lines()
            .find(|l| l.contains("Bearer ") && l.trim_end().ends_with(path))
            .and_then(|l| l.split("Bearer ").nth(1))
            .and_then(|rest| rest.split('\'').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no curl line for {path} in banner:\n{banner}"))
    };
    assert_granted(
        &s.get_bearer("/protected", &token_for("/protected")).await,
        "banner token",
    );
    let admin = s.get_bearer("/admin", &token_for("/admin")).await;
    assert_eq!(admin.status, 200, "{}", admin.text);
    assert_eq!(admin.json["message"], "Admin access");

    let minted = s
        .request(
            reqwest::Method::POST,
            "/dev/token",
            &[("content-type", "application/json")],
            Some(br#"{"sub":"bob","roles":["admin"],"team":"blue"}"#.to_vec()),
        )
        .await;
    assert_eq!(minted.status, 200, "{}", minted.text);
    let token = minted.json["token"].as_str().expect("token").to_owned();
    let r = s.get_bearer("/protected", &token).await;
    assert_granted(&r, "minted token");
    assert_eq!(r.json["user"]["sub"], "bob");
    assert_eq!(r.json["user"]["team"], "blue");
    assert_eq!(r.json["user"]["iss"], s.base.as_str());
    assert_eq!(s.get_bearer("/admin", &token).await.status, 200);

    let discovery = s.get("/.well-known/openid-configuration", &[]).await;
    assert_eq!(discovery.json["issuer"], s.base.as_str());
    let jwks = s.get("/.well-known/jwks.json", &[]).await;
    assert_eq!(jwks.json["keys"].as_array().map(Vec::len), Some(1));

    let bad = s
        .request(
            reqwest::Method::POST,
            "/dev/token",
            &[("content-type", "application/json")],
            Some(b"[1,2".to_vec()),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

/// Dev mode's demo API key is printed and accepted on `/me`.
pub async fn dev_mode_api_key(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    let banner = s.wait_stdout("X-API-Key").await;
    let key = banner
        .lines()
        .find_map(|l| l.split("X-API-Key: ").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .expect("demo key in banner");
    let r = s.get("/me", &[("x-api-key", key)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({ "user": "demo" }));
}

/// Outside dev mode, the dev issuer's routes do not exist.
pub async fn dev_routes_absent_with_real_issuer(bin: &str) {
    let r = remote(bin, &[]).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        assert_eq!(r.sample.get(path, &[]).await.status, 404, "{path}");
    }
    let minted = r
        .sample
        .request(
            reqwest::Method::POST,
            "/dev/token",
            &[],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(minted.status, 404);
    let stdout = r.sample.stdout();
    assert!(!stdout.contains("DEVELOPMENT MODE"), "{stdout}");
}

// ---------------------------------------------------------------- tokens from a real issuer

/// Every asymmetric algorithm verifies, with all claims returned.
pub async fn accepts_every_asymmetric_algorithm(bin: &str) {
    let r = remote(bin, &[]).await;
    let k = keys();
    let iss = r.idp.issuer();
    let c = claims_with(&iss, json!({ "custom": { "nested": [1, 2] } }));
    let tokens = [
        ("RS256", mint(&k.rsa, &c)),
        ("RS384", mint_as(&k.rsa, Algorithm::RS384, &c)),
        ("RS512", mint_as(&k.rsa, Algorithm::RS512, &c)),
        ("PS256", mint_as(&k.rsa, Algorithm::PS256, &c)),
        ("PS384", mint_as(&k.rsa, Algorithm::PS384, &c)),
        ("PS512", mint_as(&k.rsa, Algorithm::PS512, &c)),
        ("ES256", mint(&k.ec256, &c)),
        ("ES384", mint(&k.ec384, &c)),
        ("EdDSA", mint(&k.ed, &c)),
        (
            "Ed25519",
            mint_with_header(
                &json!({"alg":"Ed25519","kid":"ed-1"}),
                &c,
                &k.ed.encoding,
                Algorithm::EdDSA,
            ),
        ),
    ];
    for (name, token) in tokens {
        let resp = r.sample.get_bearer("/protected", &token).await;
        assert_granted(&resp, name);
        assert_eq!(
            resp.json["user"]["custom"],
            json!({ "nested": [1, 2] }),
            "{name}"
        );
        assert_eq!(resp.json["user"]["sub"], "alice", "{name}");
    }
    assert_eq!(r.idp.fetches(), 1, "one key set fetch serves every request");
}

/// An explicit JWKS URL works without discovery; without `AUTH_ISSUER`, `iss` is not checked.
pub async fn explicit_jwks_url(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    let url = idp.jwks_url();
    let s = Sample::start(bin, &[("AUTH_JWKS_URL", url.as_str())]).await;
    let token = mint(&keys().ec256, &claims("https://anyone.example"));
    assert_granted(&s.get_bearer("/protected", &token).await, "jwks url");
}

/// `/admin` needs the admin role or scope: 403 `insufficient_scope` otherwise.
pub async fn admin_role_and_scope(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    for (what, extra) in [
        ("roles", json!({ "roles": ["user", "admin"] })),
        ("scope", json!({ "scope": "read admin" })),
    ] {
        let resp = r
            .sample
            .get_bearer("/admin", &mint(k, &claims_with(&iss, extra)))
            .await;
        assert_eq!(resp.status, 200, "{what}: {}", resp.text);
        assert_eq!(resp.json["message"], "Admin access");
        assert_eq!(resp.json["user"]["sub"], "alice");
    }
    for (what, extra) in [
        ("no roles", json!({})),
        ("other role", json!({ "roles": ["user"] })),
        ("roles as string", json!({ "roles": "admin" })),
        ("scope prefix", json!({ "scope": "administrator" })),
    ] {
        let resp = r
            .sample
            .get_bearer("/admin", &mint(k, &claims_with(&iss, extra)))
            .await;
        assert_eq!(resp.status, 403, "{what}: {}", resp.text);
        assert_eq!(resp.error(), "insufficient_scope", "{what}");
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{what}: {challenge}"
        );
        assert!(!resp.text.contains("Admin access"));
    }
}

/// Expired tokens say so; other time-claim defects are refused.
pub async fn time_claims(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let expired = r
        .sample
        .get_bearer(
            "/protected",
            &mint(k, &claims_with(&iss, json!({ "exp": now() - 120 }))),
        )
        .await;
    assert_invalid_token(&expired, "expired");
    assert_eq!(expired.json["error_description"], "Token has expired");
    assert!(
        expired
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("error_description=\"Token has expired\""),
        "{:?}",
        expired.header("www-authenticate")
    );
    let within_leeway = mint(k, &claims_with(&iss, json!({ "exp": now() - 5 })));
    assert_granted(
        &r.sample.get_bearer("/protected", &within_leeway).await,
        "inside the 30 s leeway",
    );
    for (what, c) in [
        ("exp missing", without(claims(&iss), "exp")),
        (
            "exp as string",
            claims_with(&iss, json!({ "exp": (now() + 300).to_string() })),
        ),
        (
            "exp as float",
            claims_with(&iss, json!({ "exp": now() as f64 + 300.5 })),
        ),
        ("exp huge", claims_with(&iss, json!({ "exp": 1e40 }))),
        (
            "nbf in the future",
            claims_with(&iss, json!({ "nbf": now() + 600 })),
        ),
        ("nbf as string", claims_with(&iss, json!({ "nbf": "0" }))),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &mint(k, &c)).await, what);
    }
}

/// `iss` must match exactly; `aud` must contain `AUTH_AUDIENCE` when it is set.
pub async fn issuer_and_audience(bin: &str) {
    let r = remote(bin, &[("AUTH_AUDIENCE", "orders-api")]).await;
    let iss = r.idp.issuer();
    let k = &keys().ed;
    let ok = |aud: Value| claims_with(&iss, json!({ "aud": aud }));
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(k, &ok(json!("orders-api"))))
            .await,
        "aud string",
    );
    assert_granted(
        &r.sample
            .get_bearer(
                "/protected",
                &mint(k, &ok(json!(["billing", "orders-api"]))),
            )
            .await,
        "aud array",
    );
    let upper = iss.to_uppercase();
    for (what, c) in [
        ("aud other", ok(json!("billing"))),
        ("aud array without ours", ok(json!(["billing", "orders"]))),
        ("aud missing", claims(&iss)),
        (
            "iss other",
            claims_with("https://evil.example", json!({ "aud": "orders-api" })),
        ),
        (
            "iss trailing slash",
            claims_with(&format!("{iss}/"), json!({ "aud": "orders-api" })),
        ),
        (
            "iss different case",
            claims_with(&upper, json!({ "aud": "orders-api" })),
        ),
        ("iss missing", without(ok(json!("orders-api")), "iss")),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &mint(k, &c)).await, what);
    }
}

/// `AUTH_ALGORITHMS` narrows the allow-list.
pub async fn algorithm_allow_list(bin: &str) {
    let r = remote(bin, &[("AUTH_ALGORITHMS", "RS256")]).await;
    let iss = r.idp.issuer();
    let k = keys();
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(&k.rsa, &claims(&iss)))
            .await,
        "RS256 allowed",
    );
    for (what, token) in [
        ("ES256 not listed", mint(&k.ec256, &claims(&iss))),
        (
            "PS256 not listed",
            mint_as(&k.rsa, Algorithm::PS256, &claims(&iss)),
        ),
        ("EdDSA not listed", mint(&k.ed, &claims(&iss))),
    ] {
        assert_invalid_token(&r.sample.get_bearer("/protected", &token).await, what);
    }
}

/// `AUTH_HS256_SECRET` adds HS256 with that secret, and nothing else symmetric.
pub async fn hs256_mode(bin: &str) {
    let secret = "tutorial-secret-of-at-least-32-bytes!";
    let r = remote(
        bin,
        &[("AUTH_HS256_SECRET", secret), ("AUTH_ALGORITHMS", "RS256")],
    )
    .await;
    let iss = r.idp.issuer();
    let c = claims(&iss);
    let hs = |key: &[u8], alg: Algorithm| {
        mint_with_header(
            &json!({ "alg": format!("{alg:?}") }),
            &c,
            &EncodingKey::from_secret(key),
            alg,
        )
    };
    assert_granted(
        &r.sample
            .get_bearer("/protected", &hs(secret.as_bytes(), Algorithm::HS256))
            .await,
        "HS256",
    );
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(&keys().rsa, &c))
            .await,
        "RS256 still",
    );
    assert_invalid_token(
        &r.sample
            .get_bearer(
                "/protected",
                &hs(b"another-secret-another-secret-xx", Algorithm::HS256),
            )
            .await,
        "wrong secret",
    );
    assert_invalid_token(
        &r.sample
            .get_bearer("/protected", &hs(secret.as_bytes(), Algorithm::HS512))
            .await,
        "HS512",
    );
}

// ---------------------------------------------------------------- attack tokens

/// `alg: none` in every spelling, with and without a signature part.
pub async fn attack_alg_none(bin: &str) {
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
pub async fn attack_algorithm_confusion(bin: &str) {
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
pub async fn attack_kid_tricks(bin: &str) {
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
    let second_p256 = crate::keys::fresh_p256_jwk("ec-256-b");
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
pub async fn attack_header_key_injection(bin: &str) {
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
pub async fn attack_extensions_and_duplicates(bin: &str) {
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

/// Structural defects: part counts, encodings, sizes, JSON shapes, bad signatures.
pub async fn attack_structure(bin: &str) {
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

/// The `Authorization` header's forms (RFC 6750 §2.1).
pub async fn authorization_header_forms(bin: &str) {
    let r = remote(bin, &[]).await;
    let token = mint(&keys().ec256, &claims(&r.idp.issuer()));
    let s = &r.sample;
    for form in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer   {token}"),
        format!("Bearer {token}  "),
    ] {
        assert_granted(
            &s.get("/protected", &[("authorization", &form)]).await,
            &form[..8],
        );
    }
    let basic = s
        .get("/protected", &[("authorization", "Basic YWxpY2U6c2VjcmV0")])
        .await;
    assert_eq!(basic.status, 401, "{}", basic.text);
    assert_eq!(
        basic.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
    for (what, value) in [
        ("scheme only", "Bearer"),
        ("scheme and blank", "Bearer  "),
        ("token with inner space", "Bearer a b"),
    ] {
        let resp = s.get("/protected", &[("authorization", value)]).await;
        assert_refused(&resp, what);
        assert!(matches!(resp.status, 400 | 401), "{what}: {}", resp.status);
    }
    let auth = format!("Bearer {token}");
    let two = s
        .get(
            "/protected",
            &[("authorization", &auth), ("authorization", &auth)],
        )
        .await;
    assert_eq!(two.status, 400, "two Authorization headers: {}", two.text);
    assert_eq!(two.error(), "invalid_request");
    assert!(
        two.header("www-authenticate")
            .unwrap_or_default()
            .contains("error=\"invalid_request\"")
    );
    // A newline cannot be inside a header value: on the wire it ends the header line, so the
    // token arrives intact (bare LF is a legal line end for a lenient HTTP/1.1 parser) or the
    // request is refused. The escaped form a shell or config file may leave behind is a bad token.
    let raw = format!(
        "GET /protected HTTP/1.1\nHost: {}\nAuthorization: Bearer {token}\n\n",
        s.authority()
    );
    let code = s.raw(raw.as_bytes()).await;
    assert!(
        code.is_none_or(|c| c < 500),
        "token followed by a bare newline: {code:?}"
    );
    let escaped = format!("Bearer {token}\\n");
    assert_invalid_token(
        &s.get("/protected", &[("authorization", &escaped)]).await,
        "literal \\n after the token",
    );
}

// ---------------------------------------------------------------- API keys, gates

/// `/me` with `API_KEYS`.
pub async fn api_keys(bin: &str) {
    let s = Sample::start(bin, &[("API_KEYS", "alice:key-alice-123,bob:key-bob-456")]).await;
    let ok = s.get("/me", &[("x-api-key", "key-bob-456")]).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json, json!({ "user": "bob" }));
    for (what, headers) in [
        ("missing", vec![]),
        ("wrong", vec![("x-api-key", "key-bob-45")]),
        ("longer", vec![("x-api-key", "key-bob-4567")]),
        ("empty", vec![("x-api-key", "")]),
        (
            "two keys",
            vec![("x-api-key", "key-bob-456"), ("x-api-key", "key-alice-123")],
        ),
    ] {
        let resp = s.get("/me", &headers).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.text);
        assert_eq!(resp.error(), "invalid_api_key", "{what}");
    }
    let banner = s.stdout();
    assert!(
        !banner.contains("key-alice-123"),
        "configured keys are never printed"
    );
}

/// `SHARED_SECRET` gates every route but `/healthz`, unknown routes included.
pub async fn shared_secret_gate(bin: &str) {
    let secret = "gw-secret-value-1";
    let r = remote(bin, &[("SHARED_SECRET", secret)]).await;
    let s = &r.sample;
    assert_eq!(s.get("/healthz", &[]).await.status, 200);
    for (what, headers) in [
        ("missing", vec![]),
        ("wrong", vec![("x-shared-secret", "gw-secret-value-2")]),
        ("prefix", vec![("x-shared-secret", "gw-secret")]),
        ("empty", vec![("x-shared-secret", "")]),
    ] {
        for path in ["/public", "/protected", "/admin", "/me", "/no-such-route"] {
            let resp = s.get(path, &headers).await;
            assert_eq!(resp.status, 401, "{what} {path}: {}", resp.text);
            assert_eq!(resp.error(), "invalid_shared_secret", "{what} {path}");
        }
    }
    let ok = s.get("/public", &[("x-shared-secret", secret)]).await;
    assert_eq!(ok.status, 200);
    let no_token = s.get("/protected", &[("x-shared-secret", secret)]).await;
    assert_eq!(
        no_token.error(),
        "missing_token",
        "the route's own check comes after the gate"
    );
    let token = mint(&keys().rsa, &claims(&r.idp.issuer()));
    let auth = format!("Bearer {token}");
    assert_granted(
        &s.get(
            "/protected",
            &[("x-shared-secret", secret), ("authorization", &auth)],
        )
        .await,
        "both",
    );
    assert_eq!(
        s.get("/no-such-route", &[("x-shared-secret", secret)])
            .await
            .status,
        404
    );
    assert!(
        !s.logs().contains(secret),
        "the secret appeared in the logs"
    );
}

/// `FORCE_HTTPS=1`: plain HTTP is redirected before any other check.
pub async fn https_redirect(bin: &str) {
    let s = Sample::start(
        bin,
        &[("FORCE_HTTPS", "1"), ("SHARED_SECRET", "gw-secret-value-1")],
    )
    .await;
    let plain = s.get("/public?x=1", &[("host", "api.example")]).await;
    assert_eq!(plain.status, 308, "{}", plain.text);
    assert_eq!(
        plain.header("location"),
        Some("https://api.example/public?x=1")
    );
    let https = s
        .get(
            "/public",
            &[
                ("x-forwarded-proto", "https"),
                ("x-shared-secret", "gw-secret-value-1"),
            ],
        )
        .await;
    assert_eq!(https.status, 200, "{}", https.text);
    let no_secret = s.get("/public", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(no_secret.status, 401);
    assert_eq!(
        s.get("/healthz", &[]).await.status,
        200,
        "/healthz is exempt"
    );
}

/// Bad configuration stops start-up with a one-line error naming the variable.
pub async fn startup_errors(bin: &str) {
    for (var, value) in [
        ("AUTH_ISSUER", "not a url"),
        ("AUTH_JWKS_URL", "ftp://example.com/keys"),
        ("AUTH_ALGORITHMS", "RS256,XS999"),
        ("AUTH_ALGORITHMS", "HS256"),
        ("AUTH_LEEWAY_SECS", "soon"),
        ("SHARED_SECRET", ""),
        ("API_KEYS", "just-a-key"),
        ("PORT", "http"),
    ] {
        let (code, stderr) = Sample::start_failure(bin, &[(var, value)]).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{var}={value:?} started (exit {code:?})"
        );
        assert!(
            stderr.contains(var),
            "{var}={value:?}: error does not name it:\n{stderr}"
        );
        assert!(
            stderr.trim().lines().count() <= 3,
            "{var}: not a short error:\n{stderr}"
        );
    }
}

/// Unknown routes and methods are clean 4xx answers, never 500.
pub async fn unknown_routes_and_methods(bin: &str) {
    let s = Sample::start(bin, &[]).await;
    for path in ["/nope", "/public/", "//public"] {
        let resp = s.get(path, &[]).await;
        assert_eq!(resp.status, 404, "{path}: {}", resp.text);
        assert_eq!(resp.error(), "not_found", "{path}: {}", resp.text);
    }
    for (method, path, allow) in [
        (reqwest::Method::POST, "/public", "GET, HEAD"),
        (reqwest::Method::DELETE, "/protected", "GET, HEAD"),
        (reqwest::Method::GET, "/dev/token", "POST"),
    ] {
        let resp = s
            .request(method.clone(), path, &[], Some(b"x".to_vec()))
            .await;
        assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
        assert_eq!(resp.error(), "method_not_allowed", "{method} {path}");
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
    // Oversized bodies: `declared_oversize_body_refused_before_sent`, which reads the answer
    // before it could be reset while sending.
    for size in [20 * 1024, 200 * 1024] {
        let huge_header = format!(
            "GET /public HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        let code = s.raw(huge_header.as_bytes()).await;
        assert!(
            code.is_none_or(|c| c == 431),
            "{size} byte header: {code:?}"
        );
    }
}

/// Tokens and secrets never reach the logs.
pub async fn no_secrets_in_logs(bin: &str) {
    let secret = "very-secret-gateway-value";
    let r = remote(
        bin,
        &[
            ("SHARED_SECRET", secret),
            ("API_KEYS", "ops:api-key-material-xyz"),
        ],
    )
    .await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let good = mint(k, &claims(&iss));
    let expired = mint(k, &claims_with(&iss, json!({ "exp": now() - 100 })));
    let gate = ("x-shared-secret", secret);
    for token in [&good, &expired] {
        let auth = format!("Bearer {token}");
        r.sample
            .get("/protected", &[gate, ("authorization", &auth)])
            .await;
        r.sample
            .get("/admin", &[gate, ("authorization", &auth)])
            .await;
    }
    r.sample
        .get("/me", &[gate, ("x-api-key", "api-key-material-xyz")])
        .await;
    r.sample
        .get("/me", &[gate, ("x-api-key", "wrong-api-key-material")])
        .await;
    r.sample
        .get("/public", &[("x-shared-secret", "wrong-secret-material")])
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = r.sample.logs();
    assert!(logs.contains("refused"), "refusals are logged:\n{logs}");
    for needle in [
        good.split('.').nth(2).unwrap_or("x"),
        expired.split('.').nth(1).unwrap_or("x"),
        secret,
        "api-key-material-xyz",
        "wrong-api-key-material",
        "wrong-secret-material",
    ] {
        assert!(!logs.contains(needle), "logs contain {needle:?}:\n{logs}");
    }
}

// ---------------------------------------------------------------- key set behaviour

/// Identity provider down at start-up: the sample starts, token routes answer 503 with
/// `Retry-After`, other routes work.
pub async fn provider_down_at_startup(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.stop();
    let issuer = idp.issuer();
    let s = Sample::start(bin, &[("AUTH_ISSUER", issuer.as_str())]).await;
    let token = mint(&keys().rsa, &claims(&issuer));
    let resp = s.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 503, "{}", resp.text);
    assert!(
        resp.header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{:?}",
        resp.headers
    );
    assert_eq!(s.get("/public", &[]).await.status, 200);
    assert_eq!(s.get("/healthz", &[]).await.status, 200);
}

/// A key set that never yields a usable key: 503, never 500 or 200.
pub async fn no_usable_keys(bin: &str) {
    for mode in [Mode::Garbage, Mode::Status(500), Mode::Huge] {
        // The provider misbehaves before the sample's first fetch.
        let idp = Idp::start(standard_jwks()).await;
        idp.set_mode(mode.clone());
        let issuer = idp.issuer();
        let s = sample_on_jwks_url(bin, &idp).await;
        let resp = s
            .get_bearer("/protected", &mint(&keys().rsa, &claims(&issuer)))
            .await;
        assert_eq!(resp.status, 503, "{mode:?}: {}", resp.text);
        assert!(resp.header("retry-after").is_some(), "{mode:?}");
    }
}

/// Keys that must not be used are skipped; the rest of the set serves.
pub async fn hostile_key_set(bin: &str) {
    let k = keys();
    let mut weak = k.rsa2.jwk.clone();
    weak["kid"] = json!("weak");
    weak["n"] = json!(b64([0xC5u8; 128]));
    let mut enc = k.rsa2.jwk.clone();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let mut duplicate = k.rsa2.jwk.clone();
    duplicate["kid"] = json!("rsa-1");
    let set = json!({ "keys": [
        weak, enc,
        { "kty": "EC", "crv": "P-256", "kid": "off-curve", "x": b64([1u8; 32]), "y": b64([2u8; 32]) },
        { "kty": "oct", "kid": "hmac", "k": b64(b"symmetric-secret") },
        { "kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB" },
        "not a key",
        k.rsa.jwk, duplicate,
    ]});
    let r = remote_with(bin, set, &[]).await;
    let iss = r.idp.issuer();
    assert_granted(
        &r.sample
            .get_bearer("/protected", &mint(&k.rsa, &claims(&iss)))
            .await,
        "good key",
    );
    let with_kid = |kid: &str, key: &EncodingKey| {
        mint_with_header(
            &json!({ "alg": "RS256", "kid": kid }),
            &claims(&iss),
            key,
            Algorithm::RS256,
        )
    };
    for kid in ["weak", "enc", "rsa-1"] {
        assert_invalid_token(
            &r.sample
                .get_bearer("/protected", &with_kid(kid, &k.rsa2.encoding))
                .await,
            kid,
        );
    }
    let hmac = mint_with_header(
        &json!({"alg":"HS256","kid":"hmac"}),
        &claims(&iss),
        &EncodingKey::from_secret(b"symmetric-secret"),
        Algorithm::HS256,
    );
    assert_invalid_token(
        &r.sample.get_bearer("/protected", &hmac).await,
        "oct key from the set",
    );
}

/// 1,000 concurrent first requests share exactly one key set fetch.
pub async fn concurrent_first_requests_share_one_fetch(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.set_delay(Duration::from_millis(700));
    let issuer = idp.issuer();
    let s = sample_on_jwks_url(bin, &idp).await;
    let token = mint(&keys().ec256, &claims(&issuer));
    let statuses =
        futures_util::future::join_all((0..1000).map(|_| s.get_bearer("/protected", &token))).await;
    let ok = statuses.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1000,
        "statuses: {:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(idp.fetches(), 1);
}

/// A flood of random `kid`s costs at most one refetch per cooldown; good tokens keep working.
pub async fn unknown_kid_flood(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let good = mint(k, &claims(&iss));
    assert_eq!(r.sample.get_bearer("/protected", &good).await.status, 200);
    let before = r.idp.fetches();
    let started = Instant::now();
    let random: Vec<String> = (0..500)
        .map(|i| {
            mint_with_header(
                &json!({"alg":"RS256","kid":format!("random-{i}")}),
                &claims(&iss),
                &k.encoding,
                Algorithm::RS256,
            )
        })
        .collect();
    let attacks =
        futures_util::future::join_all(random.iter().map(|t| r.sample.get_bearer("/protected", t)));
    let goods =
        futures_util::future::join_all((0..50).map(|_| r.sample.get_bearer("/protected", &good)));
    let (attacks, goods) = tokio::join!(attacks, goods);
    let elapsed = started.elapsed();
    assert!(
        attacks.iter().all(|a| a.status == 401),
        "{:?}",
        attacks.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(
        goods.iter().all(|g| g.status == 200),
        "good tokens failed during the flood"
    );
    let cooldowns = 1 + (elapsed.as_secs() / 10) as usize;
    assert!(
        r.idp.fetches() - before <= cooldowns,
        "{} refetches in {elapsed:?}",
        r.idp.fetches() - before
    );
}

/// Rotation: a new key is accepted after one refetch; the old one goes at the next refresh.
pub async fn key_rotation(bin: &str) {
    let k = keys();
    let r = remote_cached(
        bin,
        jwks_of(&[&k.rsa.jwk]),
        "max-age=2",
        &[
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
            ("AUTH_JWKS_MIN_TTL_SECS", "1"),
        ],
    )
    .await;
    let iss = r.idp.issuer();
    let old = mint(&k.rsa, &claims(&iss));
    let new = mint(&k.rsa2, &claims(&iss));
    assert_granted(&r.sample.get_bearer("/protected", &old).await, "old key");
    r.idp.publish(jwks_of(&[&k.rsa.jwk, &k.rsa2.jwk]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = r.idp.fetches();
    assert_granted(
        &r.sample.get_bearer("/protected", &new).await,
        "new key after one refetch",
    );
    assert!(r.idp.fetches() - before <= 1);
    r.idp.publish(jwks_of(&[&k.rsa2.jwk]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = r.sample.get_bearer("/protected", &old).await;
        if resp.status == 401 {
            assert_invalid_token(&resp, "old key after rotation");
            break;
        }
        assert!(Instant::now() < deadline, "the old key was never dropped");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_granted(
        &r.sample.get_bearer("/protected", &new).await,
        "new key still",
    );
}

/// Provider down longer than the key set's lifetime: the last good keys keep serving, the
/// state shows as stale, and it recovers on its own.
pub async fn stale_keys_through_outage(bin: &str) {
    let r = remote_cached(
        bin,
        standard_jwks(),
        "max-age=1",
        &[("AUTH_JWKS_MIN_TTL_SECS", "1")],
    )
    .await;
    let iss = r.idp.issuer();
    let token = mint(&keys().ed, &claims(&iss));
    assert_granted(
        &r.sample.get_bearer("/protected", &token).await,
        "before the outage",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    r.idp.set_mode(Mode::Status(500));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fresh = mint(
        &keys().ed,
        &claims_with(&iss, json!({ "jti": "during-outage" })),
    );
    assert_granted(
        &r.sample.get_bearer("/protected", &fresh).await,
        "stale keys serve",
    );
    let health = r.sample.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["stale"], true, "{}", health.text);
    assert!(
        health.json["keys"]["last_error"].is_string(),
        "{}",
        health.text
    );
    r.idp.set_mode(Mode::Serve);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health = r.sample.get("/healthz", &[]).await;
        if health.json["keys"]["stale"] == false && health.json["keys"]["last_error"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never recovered: {}",
            health.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A hanging provider: requests are bounded by the fetch timeout, not stuck.
pub async fn hanging_provider_is_bounded(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.set_mode(Mode::Hang);
    let issuer = idp.issuer();
    let s = sample_on_jwks_url(bin, &idp).await;
    let started = Instant::now();
    let resp = s
        .get_bearer("/protected", &mint(&keys().rsa, &claims(&issuer)))
        .await;
    let took = started.elapsed();
    assert_eq!(resp.status, 503, "{}", resp.text);
    assert!(took < Duration::from_secs(9), "took {took:?}");
}

// ---------------------------------------------------------------- interoperability

pub use crate::interop::{
    interop_dev_token_in_pyjwt, interop_oidc_provider, interop_oidc_provider_rotation,
    interop_pyjwt_tokens,
};
