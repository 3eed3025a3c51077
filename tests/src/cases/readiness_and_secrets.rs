//! Readiness that gates start-up but never the fleet, credentials in URLs that never leave
//! the process, and key set timings held to their ranges.

use std::time::{Duration, Instant};

use super::{assert_granted, claims, standard_jwks};
use crate::idp::{Idp, Mode};
use crate::keys::{keys, mint};
use crate::sample::{Resp, Sample};

/// How long a case waits for a state it expects.
const WAIT: Duration = Duration::from_secs(30);

/// `/readyz`, polled until it answers something other than `503` or [`WAIT`] passes.
async fn readyz_once_settled(sample: &Sample) -> Resp {
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = sample.get("/readyz", &[]).await;
        if resp.status != 503 || Instant::now() >= deadline {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Once ready, `/readyz` stays `200` when the identity provider goes away and the stale
/// allowance runs out: token routes answer `503` themselves, the rest keeps serving, and the
/// body says which issuer has no keys. (A probe that followed the provider would take every
/// replica out of the load balancer at once.)
pub async fn readiness_never_drops_after_start(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.set_cache_control("max-age=10");
    let issuer = idp.issuer();
    let s = Sample::start(
        bin,
        &[
            ("AUTH_ISSUER", issuer.as_str()),
            ("AUTH_JWKS_MIN_TTL_SECS", "10"),
            ("AUTH_JWKS_MAX_STALE_SECS", "0"),
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
        ],
    )
    .await;
    let resp = readyz_once_settled(&s).await;
    assert_eq!(resp.status, 200, "ready once keys arrive: {}", resp.text);
    let token = mint(&keys().rsa, &claims(&issuer));
    assert_granted(
        &s.get_bearer("/protected", &token).await,
        "before the outage",
    );

    idp.stop();
    // The 10 s lifetime ends with no stale allowance: token routes refuse with 503.
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = s.get_bearer("/protected", &token).await;
        if resp.status == 503 {
            assert!(resp.header("retry-after").is_some(), "{}", resp.text);
            break;
        }
        assert_eq!(resp.status, 200, "while the keys last: {}", resp.text);
        assert!(Instant::now() < deadline, "the keys never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resp = s.get("/readyz", &[]).await;
    assert_eq!(resp.status, 200, "readiness never drops: {}", resp.text);
    assert_eq!(resp.json["status"], "ready", "{}", resp.text);
    let state = &resp.json["issuers"][0];
    assert_eq!(state["issuer"], issuer.as_str(), "{}", resp.text);
    assert!(
        state["last_error"].is_string(),
        "the outage is reported: {}",
        resp.text
    );
    assert_eq!(
        s.get("/public", &[]).await.status,
        200,
        "open routes keep serving"
    );
}

/// With several issuers, one provider down at start-up does not hold readiness back once its
/// start-up fetch has failed and another issuer holds keys; that issuer's tokens get `503`,
/// the other's are served.
pub async fn readiness_needs_one_issuer_with_keys(bin: &str) {
    let up = Idp::start(standard_jwks()).await;
    let down = Idp::start(standard_jwks()).await;
    down.stop();
    let list = format!("{},{}", up.issuer(), down.issuer());
    let s = Sample::start(bin, &[("AUTH_ISSUER", list.as_str())]).await;
    let resp = readyz_once_settled(&s).await;
    assert_eq!(
        resp.status, 200,
        "one issuer with keys is enough: {}",
        resp.text
    );
    let issuers = resp.json["issuers"].as_array().expect("issuers array");
    assert_eq!(issuers.len(), 2, "{}", resp.text);
    assert_eq!(issuers[1]["count"], 0, "{}", resp.text);
    assert!(issuers[1]["last_error"].is_string(), "{}", resp.text);
    assert_granted(
        &s.get_bearer("/protected", &mint(&keys().rsa, &claims(&up.issuer())))
            .await,
        "the issuer that is up",
    );
    let resp = s
        .get_bearer("/protected", &mint(&keys().rsa, &claims(&down.issuer())))
        .await;
    assert_eq!(resp.status, 503, "the issuer that is down: {}", resp.text);
}

/// `AUTH_ISSUER` with credentials is a start-up error that names the variable and does not
/// repeat them: an issuer identifier never carries any.
pub async fn issuer_with_credentials_refused(bin: &str) {
    for issuer in [
        "https://svc:hunter2-pw@idp.example",
        "https://hunter2-pw@idp.example/tenant",
        "https://a.example,https://svc:hunter2-pw@idp.example",
    ] {
        let (code, stderr) = Sample::start_failure(bin, &[("AUTH_ISSUER", issuer)]).await;
        assert!(code.is_some_and(|c| c != 0), "{issuer} started");
        assert!(stderr.contains("AUTH_ISSUER"), "{issuer}: {stderr}");
        assert!(stderr.contains("credentials"), "{issuer}: {stderr}");
        assert!(
            !stderr.contains("hunter2-pw"),
            "{issuer} repeated: {stderr}"
        );
    }
}

/// `AUTH_JWKS_URL` with credentials is used (the key set is fetched with them), and they
/// never appear in logs, `/healthz` or `/metrics`, not even when fetches fail and every
/// line about them names the URL.
pub async fn key_set_url_credentials_never_shown(bin: &str) {
    const PASSWORD: &str = "hunter2-pw";
    let idp = Idp::start(standard_jwks()).await;
    let address = idp.issuer().trim_start_matches("http://").to_owned();
    let url = format!("http://svc:{PASSWORD}@{address}/keys");
    let s = Sample::start(
        bin,
        &[
            ("AUTH_JWKS_URL", url.as_str()),
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
        ],
    )
    .await;
    let resp = readyz_once_settled(&s).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let token = mint(&keys().rsa, &claims("urn:any"));
    assert_granted(&s.get_bearer("/protected", &token).await, "keys fetched");

    // A failed refetch, triggered by an unknown kid once the cooldown allows it.
    idp.set_mode(Mode::Status(500));
    let fetches = idp.fetches();
    let unknown = crate::keys::mint_with_header(
        &serde_json::json!({ "alg": "RS256", "kid": "not-there" }),
        &claims("urn:any"),
        &keys().rsa.encoding,
        jsonwebtoken::Algorithm::RS256,
    );
    let deadline = Instant::now() + WAIT;
    while idp.fetches() == fetches || !s.logs().contains("key set fetch failed") {
        assert!(Instant::now() < deadline, "no refetch:\n{}", s.logs());
        let _ = s.get_bearer("/protected", &unknown).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let health = s.get("/healthz", &[]).await.text;
    let metrics = s.get("/metrics", &[]).await.text;
    let logs = s.logs();
    assert!(
        logs.contains(&address),
        "the URL is logged without credentials:\n{logs}"
    );
    for (what, text) in [
        ("logs", &logs),
        ("/healthz", &health),
        ("/metrics", &metrics),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "{what} show the password:\n{text}"
        );
        assert!(!text.contains("svc:"), "{what} show the user:\n{text}");
    }
}

/// The key set timings have ranges; a value outside one is a start-up error naming its
/// variable (`AUTH_JWKS_MIN_TTL_SECS=0` with a provider sending `max-age=0` would make the
/// background refresh a busy loop).
pub async fn key_set_timings_bounded(bin: &str) {
    for (var, value) in [
        ("AUTH_JWKS_COOLDOWN_SECS", "0"),
        ("AUTH_JWKS_COOLDOWN_SECS", "3601"),
        ("AUTH_JWKS_MIN_TTL_SECS", "0"),
        ("AUTH_JWKS_MIN_TTL_SECS", "9"),
        ("AUTH_JWKS_MIN_TTL_SECS", "86401"),
        ("AUTH_JWKS_MAX_STALE_SECS", "604801"),
    ] {
        let env = [("AUTH_ISSUER", "https://idp.example"), (var, value)];
        let (code, stderr) = Sample::start_failure(bin, &env).await;
        assert!(code.is_some_and(|c| c != 0), "{var}={value} started");
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }
}
