//! Gateway assertions (`AUTH_GATEWAY`) and a token in a header or cookie of the operator's
//! choosing (`AUTH_TOKEN_HEADER`, `AUTH_TOKEN_COOKIE`), with each vendor's real formats
//! generated on loopback (see [`crate::vendors`] for the documentation they follow).

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::Case;
use super::support::{assert_granted, assert_invalid_token, claims, standard_jwks};
use crate::idp::{Idp, jwks_of};
use crate::keys::{keys, mint, now};
use crate::sample::{Resp, Sample};
use crate::vendors::{
    self, ALB_ARN, ALB_CLIENT, ALB_IDP, AlbKeyServer, CF_AUD, CF_CERTS_PATH, CF_TEAM, GatewayKey,
    IAP_APP_AUDIENCE, IAP_BACKEND_AUDIENCE, IAP_KEYS_PATH, OTHER_ALB_ARN, alb_claims, alb_header,
    alb_token, cloudflare_claims, iap_claims,
};

/// Cloudflare's kids are 64 hex digits.
const CF_KID: &str = "0b6f7ad3a84ba5e6c0bd72ee15e6a8e4d1d6a0e8e1e0c9a1bb2b3c4d5e6f7a8b";
const CF_NEXT_KID: &str = "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const IAP_KID: &str = "0oeLcQ";
/// ALB kids are UUIDs.
const ALB_KID: &str = "7e4f8d32-0b8a-4ea4-ae5a-8b6f1a7e2c10";

/// A Cloudflare Access team on loopback (certs document at its real path) and a sample
/// verifying its assertions, with `extra` variables.
async fn cloudflare(bin: &str, key: &GatewayKey, extra: &[(&str, &str)]) -> (Idp, Sample) {
    let next = vendors::cloudflare_key(CF_NEXT_KID);
    let idp = Idp::start(vendors::cloudflare_certs(&[key, &next])).await;
    idp.move_keys(CF_CERTS_PATH);
    let url = idp.jwks_url();
    let mut env = vec![
        ("AUTH_GATEWAY", "cloudflare-access"),
        ("AUTH_ISSUER", CF_TEAM),
        ("AUTH_AUDIENCE", CF_AUD),
        ("AUTH_JWKS_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    let sample = Sample::start(bin, &env).await;
    (idp, sample)
}

fn cloudflare_token(key: &GatewayKey, claims: &Value) -> String {
    vendors::sign(
        &json!({ "alg": "RS256", "kid": key.kid, "typ": "JWT" }),
        claims,
        &key.encoding,
        Algorithm::RS256,
    )
}

/// Google's IAP keys on loopback and a sample expecting `audience`.
async fn google_iap(bin: &str, key: &GatewayKey, audience: &str) -> (Idp, Sample) {
    let idp = Idp::start(vendors::iap_jwks(&[key])).await;
    idp.move_keys(IAP_KEYS_PATH);
    let url = idp.jwks_url();
    let sample = Sample::start(
        bin,
        &[
            ("AUTH_GATEWAY", "google-iap"),
            ("AUTH_AUDIENCE", audience),
            ("AUTH_JWKS_URL", url.as_str()),
        ],
    )
    .await;
    (idp, sample)
}

fn iap_token(key: &GatewayKey, claims: &Value) -> String {
    vendors::sign(
        &json!({ "alg": "ES256", "kid": key.kid, "typ": "JWT" }),
        claims,
        &key.encoding,
        Algorithm::ES256,
    )
}

/// The region's key endpoint on loopback and a sample pinned to [`ALB_ARN`], with
/// [`ALB_CLIENT`] and [`ALB_IDP`] expected, plus `extra` variables.
async fn aws_alb(
    bin: &str,
    keys: &[&GatewayKey],
    extra: &[(&str, &str)],
) -> (AlbKeyServer, Sample) {
    let server = AlbKeyServer::start(keys).await;
    let url = server.base_url();
    let mut env = vec![
        ("AUTH_GATEWAY", "aws-alb"),
        ("AUTH_ALB_ARN", ALB_ARN),
        ("AUTH_ALB_CLIENT_ID", ALB_CLIENT),
        ("AUTH_ISSUER", ALB_IDP),
        ("AUTH_ALB_KEY_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    let sample = Sample::start(bin, &env).await;
    (server, sample)
}

async fn assertion(sample: &Sample, header: &str, token: &str) -> Resp {
    sample.get("/protected", &[(header, token)]).await
}

#[track_caller]
fn assert_missing(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 401, "{what}: {}", resp.text);
    assert_eq!(resp.error(), "missing_token", "{what}: {}", resp.text);
}

/// Cloudflare Access: the assertion in `Cf-Access-Jwt-Assertion`, verified against the
/// team's certs document (whose `public_cert` and `public_certs` are ignored); its claims
/// reach the route; a wrong AUD tag, another team or an expired assertion are refused.
async fn gateway_cloudflare_access_accepted(bin: &str) {
    let key = vendors::cloudflare_key(CF_KID);
    let (idp, s) = cloudflare(bin, &key, &[]).await;
    let header = "Cf-Access-Jwt-Assertion";
    let resp = assertion(
        &s,
        header,
        &cloudflare_token(&key, &cloudflare_claims(CF_AUD)),
    )
    .await;
    assert_granted(&resp, "Cloudflare assertion");
    assert_eq!(resp.json["user"]["email"], "alice@example.com");
    assert_eq!(resp.json["user"]["aud"], json!([CF_AUD]));
    let admin = s
        .get(
            "/admin",
            &[(header, &cloudflare_token(&key, &cloudflare_claims(CF_AUD)))],
        )
        .await;
    assert_eq!(admin.status, 403, "{}", admin.text);
    let mut claims = cloudflare_claims(CF_AUD);
    claims["aud"] = json!(["some-other-application", CF_AUD]);
    assert_granted(
        &assertion(&s, header, &cloudflare_token(&key, &claims)).await,
        "AUD tag among others",
    );
    for (what, claims) in [
        (
            "another application's AUD tag",
            cloudflare_claims("0".repeat(64).as_str()),
        ),
        ("another team", {
            let mut c = cloudflare_claims(CF_AUD);
            c["iss"] = json!("https://evil.cloudflareaccess.com");
            c
        }),
        ("expired", {
            let mut c = cloudflare_claims(CF_AUD);
            c["exp"] = json!(now() - 3600);
            c
        }),
    ] {
        assert_invalid_token(
            &assertion(&s, header, &cloudflare_token(&key, &claims)).await,
            what,
        );
    }
    let es256 = vendors::p256_key(CF_KID);
    let wrong_alg = vendors::sign(
        &json!({ "alg": "ES256", "kid": CF_KID }),
        &cloudflare_claims(CF_AUD),
        &es256.encoding,
        Algorithm::ES256,
    );
    assert_invalid_token(&assertion(&s, header, &wrong_alg).await, "ES256 assertion");
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["issuer"], CF_TEAM, "{}", health.text);
    assert_eq!(health.json["keys"]["count"], 2, "{}", health.text);
    assert!(idp.fetches() >= 1);
}

/// The `CF_Authorization` cookie carries the same token for browser requests: used when the
/// header is absent, never over it.
async fn gateway_cookie_used_when_header_absent(bin: &str) {
    let key = vendors::cloudflare_key(CF_KID);
    let (_idp, s) = cloudflare(bin, &key, &[]).await;
    let good = cloudflare_token(&key, &cloudflare_claims(CF_AUD));
    let cookie = format!("theme=dark; CF_Authorization={good}; lang=en");
    assert_granted(
        &s.get("/protected", &[("cookie", &cookie)]).await,
        "cookie alone",
    );
    let bad = cloudflare_token(&key, &cloudflare_claims("another-application"));
    assert_invalid_token(
        &s.get(
            "/protected",
            &[("cookie", &cookie), ("cf-access-jwt-assertion", &bad)],
        )
        .await,
        "a bad header is not rescued by a good cookie",
    );
    assert_missing(
        &s.get(
            "/protected",
            &[("cookie", &format!("cf_authorization={good}"))],
        )
        .await,
        "cookie names are case-sensitive",
    );
}

/// Google Cloud IAP: ES256 assertions in `x-goog-iap-jwt-assertion` with `iss`
/// `https://cloud.google.com/iap`, for both documented audience forms; another backend's
/// audience, another issuer and an expired assertion are refused.
async fn gateway_google_iap_accepted(bin: &str) {
    let key = vendors::p256_key(IAP_KID);
    for audience in [IAP_BACKEND_AUDIENCE, IAP_APP_AUDIENCE] {
        let (_idp, s) = google_iap(bin, &key, audience).await;
        let header = "x-goog-iap-jwt-assertion";
        let resp = assertion(&s, header, &iap_token(&key, &iap_claims(audience))).await;
        assert_granted(&resp, audience);
        assert_eq!(resp.json["user"]["hd"], "example.com");
        let other = if audience == IAP_APP_AUDIENCE {
            IAP_BACKEND_AUDIENCE
        } else {
            IAP_APP_AUDIENCE
        };
        for (what, claims) in [
            ("the other audience form", iap_claims(other)),
            (
                "another backend",
                iap_claims("/projects/123456789012/global/backendServices/1"),
            ),
            ("another issuer", {
                let mut c = iap_claims(audience);
                c["iss"] = json!("https://accounts.google.com");
                c
            }),
            ("expired", {
                let mut c = iap_claims(audience);
                c["exp"] = json!(now() - 3600);
                c
            }),
        ] {
            assert_invalid_token(
                &assertion(&s, header, &iap_token(&key, &claims)).await,
                what,
            );
        }
    }
}

/// AWS ALB: `x-amzn-oidc-data`, padded segments, the key fetched as the PEM of its `kid`;
/// the route sees the user claims. The key server is asked once, and `/readyz` did not wait
/// for it.
async fn gateway_aws_alb_accepted(bin: &str) {
    let key = vendors::p256_key(ALB_KID);
    let (server, s) = aws_alb(bin, &[&key], &[]).await;
    let ready = s.get("/readyz", &[]).await;
    assert_eq!(
        ready.status, 200,
        "no start-up fetch to wait for: {}",
        ready.text
    );
    assert_eq!(
        server.fetches(),
        0,
        "a key was fetched before any token named it"
    );
    let token = alb_token(&alb_header(ALB_KID), &alb_claims(), &key.encoding);
    assert!(
        token.split('.').all(|segment| segment.ends_with('=')),
        "{token}"
    );
    let resp = assertion(&s, "x-amzn-oidc-data", &token).await;
    assert_granted(&resp, "ALB assertion");
    assert_eq!(resp.json["user"]["email"], "alice@example.com");
    let mut no_payload_exp = alb_claims();
    no_payload_exp.as_object_mut().map(|c| c.remove("exp"));
    assert_granted(
        &assertion(
            &s,
            "x-amzn-oidc-data",
            &alb_token(&alb_header(ALB_KID), &no_payload_exp, &key.encoding),
        )
        .await,
        "the header's exp alone",
    );
    assert_eq!(server.fetches_of(ALB_KID), 1, "one fetch of the kid's PEM");
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["issuer"], ALB_ARN, "{}", health.text);
    assert_eq!(health.json["keys"]["count"], 1, "{}", health.text);
}

/// What binds an ALB assertion to this load balancer is checked before any key is fetched:
/// the `signer` (every load balancer of the region signs with the same keys), the header's
/// `exp`, `client` and `iss`; the payload's `exp` and `iss` are checked too.
async fn gateway_aws_alb_header_checks(bin: &str) {
    let key = vendors::p256_key(ALB_KID);
    let (server, s) = aws_alb(bin, &[&key], &[]).await;
    let header = |name: &str, value: Value| {
        let mut h = alb_header(ALB_KID);
        h[name] = value;
        alb_token(&h, &alb_claims(), &key.encoding)
    };
    let without = |name: &str| {
        let mut h = alb_header(ALB_KID);
        h.as_object_mut().map(|h| h.remove(name));
        alb_token(&h, &alb_claims(), &key.encoding)
    };
    for (what, token) in [
        (
            "another load balancer's signer",
            header("signer", json!(OTHER_ALB_ARN)),
        ),
        ("no signer", without("signer")),
        ("signer in an array", header("signer", json!([ALB_ARN]))),
        ("another client", header("client", json!("another-client"))),
        ("no client", without("client")),
        (
            "another identity provider",
            header("iss", json!("https://evil.example")),
        ),
        ("header exp past", header("exp", json!(now() - 3600))),
        (
            "header exp as a string",
            header("exp", json!((now() + 120).to_string())),
        ),
        ("no header exp", without("exp")),
    ] {
        assert_invalid_token(&assertion(&s, "x-amzn-oidc-data", &token).await, what);
    }
    assert_eq!(server.fetches(), 0, "a refused header still fetched a key");
    let payload = |name: &str, value: Value| {
        let mut c = alb_claims();
        c[name] = value;
        alb_token(&alb_header(ALB_KID), &c, &key.encoding)
    };
    for (what, token) in [
        ("payload exp past", payload("exp", json!(now() - 3600))),
        (
            "payload iss of another provider",
            payload("iss", json!("https://evil.example")),
        ),
        (
            "signed by another key",
            alb_token(
                &alb_header(ALB_KID),
                &alb_claims(),
                &vendors::p256_key(ALB_KID).encoding,
            ),
        ),
        ("padding of the wrong length", {
            let good = alb_token(&alb_header(ALB_KID), &alb_claims(), &key.encoding);
            let (head, rest) = good.split_once('.').unwrap_or_default();
            format!("{head}==.{rest}")
        }),
    ] {
        assert_invalid_token(&assertion(&s, "x-amzn-oidc-data", &token).await, what);
    }
}

/// In gateway mode, the client's own `Authorization` header is not a credential, even
/// holding a token the gateway signed.
async fn gateway_ignores_client_authorization(bin: &str) {
    let cf_key = vendors::cloudflare_key(CF_KID);
    let (_cf, s) = cloudflare(bin, &cf_key, &[]).await;
    let token = cloudflare_token(&cf_key, &cloudflare_claims(CF_AUD));
    assert_missing(&s.get_bearer("/protected", &token).await, "Cloudflare");
    assert_missing(&s.get_bearer("/admin", &token).await, "Cloudflare, /admin");
    assert_granted(
        &assertion(&s, "cf-access-jwt-assertion", &token).await,
        "the same token where Cloudflare puts it",
    );
    let iap_key = vendors::p256_key(IAP_KID);
    let (_iap, s) = google_iap(bin, &iap_key, IAP_BACKEND_AUDIENCE).await;
    let token = iap_token(&iap_key, &iap_claims(IAP_BACKEND_AUDIENCE));
    assert_missing(&s.get_bearer("/protected", &token).await, "IAP");
    assert_granted(
        &assertion(&s, "x-goog-iap-jwt-assertion", &token).await,
        "IAP header",
    );
    let alb_key = vendors::p256_key(ALB_KID);
    let (_server, s) = aws_alb(bin, &[&alb_key], &[]).await;
    let token = alb_token(&alb_header(ALB_KID), &alb_claims(), &alb_key.encoding);
    assert_missing(&s.get_bearer("/protected", &token).await, "ALB");
    assert_granted(
        &assertion(&s, "x-amzn-oidc-data", &token).await,
        "ALB header",
    );
}

/// Padded base64url is the ALB's quirk and is accepted for the ALB only: a padded token is
/// refused by an ordinary issuer and by IAP, which accept the same header and claims signed
/// over unpadded segments.
async fn alb_padding_refused_outside_alb_mode(bin: &str) {
    let key = vendors::p256_key(ALB_KID);
    let idp = Idp::start(jwks_of(&[&key.jwk])).await;
    let iss = idp.issuer();
    let s = Sample::start(bin, &[("AUTH_ISSUER", iss.as_str())]).await;
    let header = json!({ "alg": "ES256", "kid": ALB_KID });
    let padded = alb_token(&header, &claims(&iss), &key.encoding);
    assert_invalid_token(
        &s.get_bearer("/protected", &padded).await,
        "padded, ordinary mode",
    );
    let plain = vendors::sign(&header, &claims(&iss), &key.encoding, Algorithm::ES256);
    assert_granted(
        &s.get_bearer("/protected", &plain).await,
        "unpadded, ordinary mode",
    );
    let (_iap, s) = google_iap(bin, &key, IAP_BACKEND_AUDIENCE).await;
    let header = json!({ "alg": "ES256", "kid": ALB_KID, "typ": "JWT" });
    let claims = iap_claims(IAP_BACKEND_AUDIENCE);
    let name = "x-goog-iap-jwt-assertion";
    let padded = alb_token(&header, &claims, &key.encoding);
    assert_invalid_token(&assertion(&s, name, &padded).await, "padded, IAP mode");
    let plain = vendors::sign(&header, &claims, &key.encoding, Algorithm::ES256);
    assert_granted(&assertion(&s, name, &plain).await, "unpadded, IAP mode");
}

/// An unknown ALB `kid` costs one fetch of its URL per cooldown, however many requests
/// carry it, concurrently or not; once published, it verifies after the cooldown.
async fn alb_unknown_kid_one_fetch_per_cooldown(bin: &str) {
    const COOLDOWN: Duration = Duration::from_secs(2);
    let key = vendors::p256_key(ALB_KID);
    let (server, s) = aws_alb(bin, &[], &[("AUTH_JWKS_COOLDOWN_SECS", "2")]).await;
    let token = alb_token(&alb_header(ALB_KID), &alb_claims(), &key.encoding);
    let first = Instant::now();
    assert_invalid_token(
        &assertion(&s, "x-amzn-oidc-data", &token).await,
        "unknown kid",
    );
    assert_eq!(server.fetches_of(ALB_KID), 1);
    let many =
        futures_util::future::join_all((0..20).map(|_| assertion(&s, "x-amzn-oidc-data", &token)))
            .await;
    let before_cooldown = first.elapsed() < COOLDOWN;
    for resp in &many {
        assert_invalid_token(resp, "unknown kid, again");
    }
    if before_cooldown {
        assert_eq!(
            server.fetches_of(ALB_KID),
            1,
            "refetched within the cooldown"
        );
    }
    server.publish(&key);
    // The cooldown is a span of time the contract sets: waiting it out is the condition.
    tokio::time::sleep(COOLDOWN.saturating_sub(first.elapsed()) + Duration::from_millis(200)).await;
    let fresh = alb_token(&alb_header(ALB_KID), &alb_claims(), &key.encoding);
    assert_granted(
        &assertion(&s, "x-amzn-oidc-data", &fresh).await,
        "published kid",
    );
    assert_eq!(
        server.fetches_of(ALB_KID),
        2,
        "one more fetch after the cooldown"
    );
}

/// A `kid` that is not a plain identifier never reaches the key URL: no fetch at all, for
/// any of them, while a plain one is fetched.
async fn alb_kid_tricks_cost_no_fetch(bin: &str) {
    let key = vendors::p256_key(ALB_KID);
    let (server, s) = aws_alb(bin, &[&key], &[]).await;
    let long = "k".repeat(129);
    for kid in [
        json!("../7e4f8d32-0b8a-4ea4-ae5a-8b6f1a7e2c10"),
        json!("a/b"),
        json!(".."),
        json!("."),
        json!("%2e%2e"),
        json!("a.b"),
        json!("a b"),
        json!("a?b=c"),
        json!("a#b"),
        json!("http://evil.example/key"),
        json!(""),
        json!(long),
        json!(7),
    ] {
        let mut header = alb_header(ALB_KID);
        header["kid"] = kid.clone();
        let token = alb_token(&header, &alb_claims(), &key.encoding);
        assert_invalid_token(
            &assertion(&s, "x-amzn-oidc-data", &token).await,
            &kid.to_string(),
        );
    }
    let mut header = alb_header(ALB_KID);
    header.as_object_mut().map(|h| h.remove("kid"));
    let token = alb_token(&header, &alb_claims(), &key.encoding);
    assert_invalid_token(&assertion(&s, "x-amzn-oidc-data", &token).await, "no kid");
    assert_eq!(
        server.fetches(),
        0,
        "a kid that is not a plain identifier was fetched"
    );
    let good = alb_token(&alb_header(ALB_KID), &alb_claims(), &key.encoding);
    assert_granted(&assertion(&s, "x-amzn-oidc-data", &good).await, "plain kid");
    assert_eq!(server.fetches(), 1);
}

/// Sends an ALB assertion until the budget of fetches for unknown kids lets its `kid` be
/// fetched (`503` with `Retry-After` meanwhile), and returns the first other answer.
async fn through_kid_budget(s: &Sample, token: &str) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = assertion(s, "x-amzn-oidc-data", token).await;
        if resp.status != 503 {
            return resp;
        }
        assert!(
            resp.header("retry-after").is_some(),
            "503 without Retry-After"
        );
        assert!(Instant::now() < deadline, "the kid was never fetched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An assertion as anyone can write it: a fresh `kid`, the load balancer's public
/// `signer`, a future `exp`, and 64 zero bytes for a signature.
fn forged_alb_assertion(kid: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE;
    format!(
        "{}.{}.{}",
        URL_SAFE.encode(alb_header(kid).to_string()),
        URL_SAFE.encode(alb_claims().to_string()),
        URL_SAFE.encode([0u8; 64])
    )
}

/// Fetches for unknown ALB `kid`s share one budget: a flood of assertions naming random
/// `kid`s starts at most 10 fetches per cooldown for the whole process; each refused one is
/// `401 invalid_token` or `503` with `Retry-After`, and the refusals are not logged one per
/// request. Meanwhile a new `kid` that real traffic carries is fetched and its assertions
/// accepted within two cooldowns.
async fn alb_unknown_kid_fetches_share_one_budget(bin: &str) {
    // Long enough that scheduling on a loaded machine is small beside it: the contract's
    // bound for the rotation is two cooldowns.
    const COOLDOWN: Duration = Duration::from_secs(3);
    const BUDGET: usize = 10;
    const FLOOD: usize = 400;
    let key = vendors::p256_key(ALB_KID);
    let cooldown = COOLDOWN.as_secs().to_string();
    let (server, s) = aws_alb(bin, &[], &[("AUTH_JWKS_COOLDOWN_SECS", &cooldown)]).await;
    let logged_before = s.logs().lines().count();
    let started = Instant::now();
    let accepted = std::cell::Cell::new(false);
    let s = &s;
    let flood = async {
        let mut sent = 0;
        let mut answers = Vec::new();
        while sent < FLOOD || !accepted.get() {
            let batch = (0..20).map(|i| {
                let kid = format!("{sent:08}-{i:04}-4000-8000-000000000000");
                async move { assertion(s, "x-amzn-oidc-data", &forged_alb_assertion(&kid)).await }
            });
            answers.extend(futures_util::future::join_all(batch).await);
            sent += 20;
            assert!(started.elapsed() < 10 * COOLDOWN, "the flood never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answers
    };
    // A cooldown into the flood the load balancer rotates: real traffic, every 25 ms,
    // carries the new kid.
    let rotation = async {
        tokio::time::sleep(COOLDOWN).await;
        server.publish(&key);
        let appeared = Instant::now();
        let mut n = 0;
        loop {
            n += 1;
            let mut claims = alb_claims();
            claims["n"] = json!(n);
            let token = alb_token(&alb_header(ALB_KID), &claims, &key.encoding);
            let sent = Instant::now();
            let resp = assertion(s, "x-amzn-oidc-data", &token).await;
            if resp.status == 200 {
                assert_granted(&resp, "the new kid");
                accepted.set(true);
                return sent.duration_since(appeared);
            }
            assert_eq!(resp.status, 503, "the new kid: {}", resp.text);
            assert!(
                resp.header("retry-after").is_some(),
                "503 without Retry-After"
            );
            assert!(
                appeared.elapsed() < 3 * COOLDOWN,
                "the new kid was starved by the flood"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let (answers, waited) = futures_util::future::join(flood, rotation).await;
    let elapsed = started.elapsed();
    // Every span of one cooldown holds at most the budget, so the whole run, cut in spans,
    // at most the budget times their number.
    let cooldowns = usize::try_from(elapsed.as_millis() / COOLDOWN.as_millis())
        .expect("a short run")
        .saturating_add(1);

    assert!(
        waited < 2 * COOLDOWN,
        "the new kid was accepted {waited:?} after it appeared"
    );
    let fetches = server.fetches();
    assert!(
        fetches <= BUDGET * cooldowns,
        "{fetches} key fetches for {} assertions in {elapsed:?}: over {BUDGET} per cooldown",
        answers.len()
    );
    for resp in &answers {
        match resp.status {
            401 => assert_invalid_token(resp, "a random kid"),
            503 => assert!(
                resp.header("retry-after").is_some(),
                "503 without Retry-After"
            ),
            other => panic!("a random kid got {other}: {}", resp.text),
        }
    }
    // Refused requests leave no line each: the ones that were fetched (and found unknown)
    // do, and one summary per cooldown covers the rest.
    let mut logs = String::new();
    for _ in 0..40 {
        logs = s
            .logs()
            .lines()
            .skip(logged_before)
            .collect::<Vec<_>>()
            .join("\n");
        if logs.contains("refused without a fetch") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refusal_lines = logs.lines().filter(|line| line.contains("refused")).count();
    assert!(
        refusal_lines <= fetches + cooldowns,
        "{refusal_lines} refusal lines for {} refused assertions and {fetches} fetches",
        answers.len()
    );
    assert!(
        logs.contains("refused without a fetch"),
        "no summary of the refusals:\n{logs}"
    );
    println!(
        "{} forged assertions in {elapsed:?}: {fetches} key fetches, {refusal_lines} refusal \
         log lines; the new kid accepted {waited:?} after it appeared",
        answers.len()
    );
}

/// ALB keys are kept at least the minimum TTL whatever `max-age` says, and at most 100
/// `kid`s are held: the least recently used is dropped (and fetched again when named).
async fn alb_keys_held_per_kid_bounded(bin: &str) {
    let keys: Vec<GatewayKey> = (0..101)
        .map(|i| vendors::p256_key(&format!("0000{i:04}-0b8a-4ea4-ae5a-8b6f1a7e2c10")))
        .collect();
    let published: Vec<&GatewayKey> = keys.iter().collect();
    // A short cooldown: the budget of fetches for unknown kids (10 per cooldown) paces
    // the 101 first fetches.
    let (server, s) = aws_alb(bin, &published, &[("AUTH_JWKS_COOLDOWN_SECS", "1")]).await;
    server.set_cache_control("max-age=0");
    let assert_accepted = |resp: Resp, what: String| assert_granted(&resp, &what);
    for key in &keys[..100] {
        let token = alb_token(&alb_header(&key.kid), &alb_claims(), &key.encoding);
        assert_accepted(through_kid_budget(&s, &token).await, key.kid.clone());
    }
    // A new assertion (not the verified-token cache) with the first kid: still held.
    let mut claims = alb_claims();
    claims["username"] = json!("alice-2");
    let first = &keys[0];
    let token = alb_token(&alb_header(&first.kid), &claims, &first.encoding);
    assert_accepted(
        through_kid_budget(&s, &token).await,
        "first kid again".into(),
    );
    assert_eq!(
        server.fetches_of(&first.kid),
        1,
        "max-age=0 made the key expire at once"
    );
    // The 101st kid makes room by dropping the least recently used: the second one.
    let last = &keys[100];
    let token = alb_token(&alb_header(&last.kid), &alb_claims(), &last.encoding);
    assert_accepted(through_kid_budget(&s, &token).await, "101st kid".into());
    let second = &keys[1];
    let token = alb_token(&alb_header(&second.kid), &claims, &second.encoding);
    assert_accepted(through_kid_budget(&s, &token).await, "dropped kid".into());
    assert_eq!(
        server.fetches_of(&second.kid),
        2,
        "a 101st kid did not drop one"
    );
    assert_eq!(
        server.fetches_of(&first.kid),
        1,
        "a recently used kid was dropped"
    );
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["count"], 100, "{}", health.text);
}

/// `AUTH_TOKEN_HEADER` moves the bearer token of the ordinary mode to a header of the
/// gateway's choosing (bare or `Bearer`); `Authorization` is then ignored.
/// `AUTH_TOKEN_COOKIE` adds a cookie used when that header is absent.
async fn custom_token_header_and_cookie(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    let iss = idp.issuer();
    let token = mint(&keys().ec256, &claims(&iss));
    let s = Sample::start(
        bin,
        &[
            ("AUTH_ISSUER", iss.as_str()),
            ("AUTH_TOKEN_HEADER", "X-Jwt-Assertion"),
            ("AUTH_TOKEN_COOKIE", "jwt"),
        ],
    )
    .await;
    assert_granted(
        &s.get("/protected", &[("x-jwt-assertion", &token)]).await,
        "bare",
    );
    assert_granted(
        &s.get(
            "/protected",
            &[("x-jwt-assertion", &format!("Bearer {token}"))],
        )
        .await,
        "Bearer",
    );
    assert_missing(
        &s.get_bearer("/protected", &token).await,
        "Authorization is ignored",
    );
    assert_granted(
        &s.get("/protected", &[("cookie", &format!("a=b; jwt={token}"))])
            .await,
        "cookie when the header is absent",
    );
    assert_invalid_token(
        &s.get(
            "/protected",
            &[
                ("cookie", &format!("jwt={token}")),
                ("x-jwt-assertion", "not.a.token"),
            ],
        )
        .await,
        "the header wins over the cookie",
    );
    let bearer_or_cookie = Sample::start(
        bin,
        &[("AUTH_ISSUER", iss.as_str()), ("AUTH_TOKEN_COOKIE", "jwt")],
    )
    .await;
    assert_granted(
        &bearer_or_cookie.get_bearer("/protected", &token).await,
        "bearer",
    );
    assert_granted(
        &bearer_or_cookie
            .get("/protected", &[("cookie", &format!("jwt={token}"))])
            .await,
        "cookie without Authorization",
    );
}

/// Every missing or contradictory gateway setting stops start-up with an error naming the
/// variable.
async fn gateway_startup_errors(bin: &str) {
    let cf = [
        ("AUTH_GATEWAY", "cloudflare-access"),
        ("AUTH_ISSUER", CF_TEAM),
        ("AUTH_AUDIENCE", CF_AUD),
    ];
    let alb = [("AUTH_GATEWAY", "aws-alb"), ("AUTH_ALB_ARN", ALB_ARN)];
    let with = |base: &[(&'static str, &'static str)], more: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = base
            .iter()
            .filter(|(k, _)| !more.iter().any(|(m, _)| m == k))
            .copied()
            .collect();
        all.extend_from_slice(more);
        all
    };
    for (env, var) in [
        (vec![("AUTH_GATEWAY", "nginx")], "AUTH_GATEWAY"),
        (
            vec![
                ("AUTH_GATEWAY", "cloudflare-access"),
                ("AUTH_AUDIENCE", CF_AUD),
            ],
            "AUTH_ISSUER",
        ),
        (
            vec![
                ("AUTH_GATEWAY", "cloudflare-access"),
                ("AUTH_ISSUER", CF_TEAM),
            ],
            "AUTH_AUDIENCE",
        ),
        (
            with(
                &cf,
                &[(
                    "AUTH_ISSUER",
                    "https://a.cloudflareaccess.com,https://b.cloudflareaccess.com",
                )],
            ),
            "AUTH_ISSUER",
        ),
        (
            with(
                &cf,
                &[("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef")],
            ),
            "AUTH_HS256_SECRET",
        ),
        (
            with(&cf, &[("AUTH_TOKEN_HEADER", "x-jwt")]),
            "AUTH_TOKEN_HEADER",
        ),
        (
            with(&cf, &[("AUTH_TOKEN_COOKIE", "jwt")]),
            "AUTH_TOKEN_COOKIE",
        ),
        (with(&cf, &[("AUTH_DPOP", "required")]), "AUTH_DPOP"),
        (
            with(&cf, &[("AUTH_MTLS_CERT_HEADER", "x-client-cert")]),
            "AUTH_MTLS_CERT_HEADER",
        ),
        (
            with(&cf, &[("AUTH_ALGORITHMS", "ES256,PS256")]),
            "AUTH_ALGORITHMS",
        ),
        (vec![("AUTH_GATEWAY", "google-iap")], "AUTH_AUDIENCE"),
        (
            vec![
                ("AUTH_GATEWAY", "google-iap"),
                ("AUTH_AUDIENCE", "my-backend"),
            ],
            "AUTH_AUDIENCE",
        ),
        (
            vec![
                ("AUTH_GATEWAY", "google-iap"),
                ("AUTH_AUDIENCE", IAP_APP_AUDIENCE),
                ("AUTH_ISSUER", CF_TEAM),
            ],
            "AUTH_ISSUER",
        ),
        (vec![("AUTH_GATEWAY", "aws-alb")], "AUTH_ALB_ARN"),
        (
            with(&alb, &[("AUTH_ALB_ARN", "arn:aws:s3:::orders")]),
            "AUTH_ALB_ARN",
        ),
        (with(&alb, &[("AUTH_AUDIENCE", "orders")]), "AUTH_AUDIENCE"),
        (
            with(&alb, &[("AUTH_JWKS_URL", "https://keys.example/jwks")]),
            "AUTH_JWKS_URL",
        ),
        (
            with(&alb, &[("AUTH_ALB_KEY_URL", "keys.example")]),
            "AUTH_ALB_KEY_URL",
        ),
        (
            vec![("AUTH_ISSUER", CF_TEAM), ("AUTH_ALB_ARN", ALB_ARN)],
            "AUTH_ALB_ARN",
        ),
        (
            vec![("AUTH_ISSUER", CF_TEAM), ("AUTH_TOKEN_HEADER", "x jwt")],
            "AUTH_TOKEN_HEADER",
        ),
        (
            vec![("AUTH_ISSUER", CF_TEAM), ("AUTH_TOKEN_COOKIE", "a;b")],
            "AUTH_TOKEN_COOKIE",
        ),
    ] {
        let (code, stderr) = Sample::start_failure(bin, &env).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{env:?} started (exit {code:?})"
        );
        assert!(
            stderr.contains(var),
            "{env:?}: error does not name {var}:\n{stderr}"
        );
        assert!(
            stderr.trim().lines().count() <= 3,
            "{env:?}: not a short error:\n{stderr}"
        );
    }
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(gateway_cloudflare_access_accepted),
    case!(gateway_cookie_used_when_header_absent),
    case!(gateway_google_iap_accepted),
    case!(gateway_aws_alb_accepted),
    case!(gateway_aws_alb_header_checks),
    case!(gateway_ignores_client_authorization),
    case!(alb_padding_refused_outside_alb_mode),
    case!(alb_unknown_kid_one_fetch_per_cooldown),
    case!(alb_kid_tricks_cost_no_fetch),
    case!(alb_unknown_kid_fetches_share_one_budget),
    case!(alb_keys_held_per_kid_bounded),
    case!(custom_token_header_and_cookie),
    case!(gateway_startup_errors),
];
