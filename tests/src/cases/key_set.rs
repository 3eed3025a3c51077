//! The key set: fetched once for concurrent first requests, refetched at most once per
//! cooldown, rotated, served stale through an outage, bounded when the provider hangs,
//! found through discovery (which must name the configured issuer) and reached through at
//! most three redirects.

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::Case;
use super::support::{
    FAST_REFETCH, assert_granted, assert_invalid_token, claims, claims_with, remote, remote_cached,
    sample_on_jwks_url, standard_jwks, until,
};
use crate::idp::{Idp, Mode, jwks_of};
use crate::keys::{keys, mint, mint_with_header};
use crate::sample::Sample;

/// A sample trusting `idp` through discovery, with short cooldown and lifetime floor.
async fn sample_by_discovery(bin: &str, idp: &Idp) -> Sample {
    let issuer = idp.issuer();
    let mut env = vec![("AUTH_ISSUER", issuer.as_str())];
    env.extend_from_slice(&FAST_REFETCH);
    Sample::start(bin, &env).await
}

/// Identity provider down at start-up: the sample starts, token routes answer 503 with
/// `Retry-After`, other routes work.
async fn provider_down_at_startup_gives_503(bin: &str) {
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
async fn no_usable_keys_gives_503(bin: &str) {
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

/// 1,000 concurrent first requests share exactly one key set fetch.
async fn concurrent_first_requests_share_one_fetch(bin: &str) {
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
async fn unknown_kid_flood_refetches_once_per_cooldown(bin: &str) {
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
async fn rotated_key_accepted_and_retired_key_dropped(bin: &str) {
    let k = keys();
    let r = remote_cached(
        bin,
        jwks_of(&[&k.rsa.jwk]),
        "max-age=10",
        &[
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
            ("AUTH_JWKS_MIN_TTL_SECS", "10"),
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
    // The next routine refresh (at 80 % of the 10 s lifetime, ± 10 %) drops the old key.
    let deadline = Instant::now() + Duration::from_secs(25);
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
async fn stale_keys_serve_through_an_outage(bin: &str) {
    let r = remote_cached(
        bin,
        standard_jwks(),
        "max-age=10",
        &[("AUTH_JWKS_MIN_TTL_SECS", "10")],
    )
    .await;
    let iss = r.idp.issuer();
    let token = mint(&keys().ed, &claims(&iss));
    assert_granted(
        &r.sample.get_bearer("/protected", &token).await,
        "before the outage",
    );
    r.idp.set_mode(Mode::Status(500));
    // Past the 10 s lifetime, with refreshes failing, the set turns stale.
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let health = r.sample.get("/healthz", &[]).await;
        if health.json["keys"]["stale"] == true {
            break health;
        }
        assert!(Instant::now() < deadline, "never stale: {}", health.text);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        health.json["keys"]["last_error"].is_string(),
        "{}",
        health.text
    );
    let fresh = mint(
        &keys().ed,
        &claims_with(&iss, json!({ "jti": "during-outage" })),
    );
    assert_granted(
        &r.sample.get_bearer("/protected", &fresh).await,
        "stale keys serve",
    );
    r.idp.set_mode(Mode::Serve);
    let deadline = Instant::now() + Duration::from_secs(30);
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
async fn hanging_provider_is_bounded(bin: &str) {
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

/// A discovery document naming another issuer is a failed fetch: no keys, `503`, and
/// `/healthz` says why; once the provider fixes it, a later attempt loads the keys.
async fn discovery_naming_another_issuer_is_refused(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.set_discovery_issuer(Some("https://impostor.example"));
    let s = sample_by_discovery(bin, &idp).await;
    let iss = idp.issuer();
    let token = mint(&keys().rsa, &claims(&iss));
    let resp = s.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 503, "{}", resp.text);
    let health = s.get("/healthz", &[]).await;
    let error = health.json["keys"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("issuer"), "{}", health.text);
    assert_eq!(health.json["keys"]["count"], 0, "{}", health.text);
    assert_eq!(
        idp.fetches(),
        0,
        "keys were fetched from a refused document"
    );
    idp.set_discovery_issuer(None);
    until(
        "after the provider fixed its document",
        || s.get_bearer("/protected", &token),
        |resp| resp.status == 200,
    )
    .await;
    let health = s.get("/healthz", &[]).await;
    assert!(
        health.json["keys"]["last_error"].is_null(),
        "{}",
        health.text
    );
}

/// The provider moves its key set (discovery names the new URL, the old one answers `404`)
/// and rotates: the sample follows after failing, without a restart.
async fn moved_key_set_is_followed_through_discovery(bin: &str) {
    let k = keys();
    let idp = Idp::start(jwks_of(&[&k.rsa.jwk])).await;
    idp.set_cache_control("max-age=1");
    let s = sample_by_discovery(bin, &idp).await;
    let iss = idp.issuer();
    let old = mint(&k.rsa, &claims(&iss));
    assert_granted(&s.get_bearer("/protected", &old).await, "before the move");
    idp.move_keys("/v2/keys");
    idp.publish(jwks_of(&[&k.rsa2.jwk]));
    let new = mint(&k.rsa2, &claims(&iss));
    until(
        "the key published at the new location",
        || s.get_bearer("/protected", &new),
        |resp| resp.status == 200,
    )
    .await;
    let health = s.get("/healthz", &[]).await;
    assert_eq!(health.json["keys"]["count"], 1, "{}", health.text);
}

/// Up to three redirects to the key set are followed; a fourth is not.
async fn up_to_three_redirects_are_followed(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    let iss = idp.issuer();
    let token = mint(&keys().ec384, &claims(&iss));
    for hops in 1..=3 {
        let url = idp.redirecting_jwks_url(hops);
        let s = Sample::start(
            bin,
            &[
                ("AUTH_JWKS_URL", url.as_str()),
                ("AUTH_ISSUER", iss.as_str()),
            ],
        )
        .await;
        assert_granted(
            &s.get_bearer("/protected", &token).await,
            &format!("{hops} redirects"),
        );
    }
    let url = idp.redirecting_jwks_url(4);
    let s = Sample::start(
        bin,
        &[
            ("AUTH_JWKS_URL", url.as_str()),
            ("AUTH_ISSUER", iss.as_str()),
        ],
    )
    .await;
    let resp = s.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 503, "4 redirects: {}", resp.text);
    let health = s.get("/healthz", &[]).await;
    let error = health.json["keys"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("redirect"), "{}", health.text);
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(provider_down_at_startup_gives_503),
    case!(no_usable_keys_gives_503),
    case!(concurrent_first_requests_share_one_fetch),
    case!(unknown_kid_flood_refetches_once_per_cooldown),
    case!(rotated_key_accepted_and_retired_key_dropped),
    case!(stale_keys_serve_through_an_outage),
    case!(hanging_provider_is_bounded),
    case!(discovery_naming_another_issuer_is_refused),
    case!(moved_key_set_is_followed_through_discovery),
    case!(up_to_three_redirects_are_followed),
];
