//! What many cases share: the standard key set, a provider with a sample trusting it,
//! claims that pass every check, and the assertions every refusal and grant is held to.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::challenge::{Challenge, challenges};
use crate::idp::{Idp, jwks_of};
use crate::keys::{keys, now};
use crate::sample::{Resp, Sample};

/// A provider publishing the standard keys, and a sample trusting it through discovery.
pub(super) struct Remote {
    /// The identity provider.
    pub idp: Idp,
    /// The sample under test.
    pub sample: Sample,
}

pub(super) fn standard_jwks() -> Value {
    let k = keys();
    jwks_of(&[&k.rsa.jwk, &k.ec256.jwk, &k.ec384.jwk, &k.ed.jwk])
}

pub(super) async fn remote_with(bin: &str, jwks: Value, env: &[(&str, &str)]) -> Remote {
    let idp = Idp::start(jwks).await;
    let issuer = idp.issuer();
    let mut all: Vec<(&str, &str)> = vec![("AUTH_ISSUER", issuer.as_str())];
    all.extend_from_slice(env);
    let sample = Sample::start(bin, &all).await;
    Remote { idp, sample }
}

/// Like [`remote_with`], with the provider's `Cache-Control` set before the first fetch.
pub(super) async fn remote_cached(
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

pub(super) async fn remote(bin: &str, env: &[(&str, &str)]) -> Remote {
    remote_with(bin, standard_jwks(), env).await
}

/// A sample verifying against `idp`'s key set URL directly (no discovery), with its issuer.
pub(super) async fn sample_on_jwks_url(bin: &str, idp: &Idp) -> Sample {
    sample_on_jwks_url_with(bin, idp, &[]).await
}

/// [`sample_on_jwks_url`] with `extra` variables.
pub(super) async fn sample_on_jwks_url_with(
    bin: &str,
    idp: &Idp,
    extra: &[(&str, &str)],
) -> Sample {
    let issuer = idp.issuer();
    let url = idp.jwks_url();
    let mut env = vec![
        ("AUTH_JWKS_URL", url.as_str()),
        ("AUTH_ISSUER", issuer.as_str()),
    ];
    env.extend_from_slice(extra);
    Sample::start(bin, &env).await
}

/// Claims that pass every check for `issuer`.
pub(super) fn claims(issuer: &str) -> Value {
    json!({ "sub": "alice", "iss": issuer, "iat": now(), "exp": now() + 300 })
}

pub(super) fn claims_with(issuer: &str, extra: Value) -> Value {
    let mut c = claims(issuer);
    if let (Some(base), Value::Object(more)) = (c.as_object_mut(), extra) {
        base.extend(more);
    }
    c
}

pub(super) fn without(mut value: Value, name: &str) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.remove(name);
    }
    value
}

#[track_caller]
pub(super) fn assert_granted(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 200, "{what}: {}", resp.text);
    assert_eq!(
        resp.json["message"], "Access granted",
        "{what}: {}",
        resp.text
    );
}

#[track_caller]
pub(super) fn assert_invalid_token(resp: &Resp, what: &str) {
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
pub(super) fn assert_refused(resp: &Resp, what: &str) {
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

/// Waits until the sample's logs contain `needle` (they are collected as they are written).
pub(super) async fn wait_logs(s: &Sample, needle: &str) -> String {
    for _ in 0..200 {
        let logs = s.logs();
        if logs.contains(needle) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("logs never contained {needle:?}:\n{}", s.logs());
}

/// The shortest cooldown and lifetime floor the contract allows, so that recoveries happen
/// within a case's time.
pub(super) const FAST_REFETCH: [(&str, &str); 2] = [
    ("AUTH_JWKS_COOLDOWN_SECS", "1"),
    ("AUTH_JWKS_MIN_TTL_SECS", "10"),
];

/// How long a recovery may take: a few cooldowns and backoff steps.
const RECOVERY: Duration = Duration::from_secs(20);

/// Repeats `request` until `done` holds for its answer, or fails with `what` and the last
/// answer after [`RECOVERY`]. The awaited event is the sample's next fetch, which only the
/// sample's own schedule decides, so polling is the only way to observe it.
pub(super) async fn until<F, Fut>(what: &str, mut request: F, done: impl Fn(&Resp) -> bool) -> Resp
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Resp>,
{
    let deadline = Instant::now() + RECOVERY;
    loop {
        let resp = request().await;
        if done(&resp) {
            return resp;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {} {}",
            resp.status,
            resp.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `AUTH_PUBLIC_URL` of the sender-constrained cases: the origin clients use, which the
/// samples never see in a request (they listen on loopback behind an imagined gateway).
pub(super) const PUBLIC_URL: &str = "https://api.example.test";

/// The protected resource metadata URL of [`PUBLIC_URL`] (RFC 9728 §3.1).
pub(super) const RESOURCE_METADATA_URL: &str =
    "https://api.example.test/.well-known/oauth-protected-resource";

/// The `htu` of `path` under [`PUBLIC_URL`] (RFC 9449 §4.2).
pub(super) fn public_url(path: &str) -> String {
    format!("{PUBLIC_URL}{path}")
}

/// The challenge of `scheme` among every `WWW-Authenticate` field of `resp`, if any.
pub(super) fn challenge_of(resp: &Resp, scheme: &str) -> Option<Challenge> {
    challenges(&resp.headers)
        .into_iter()
        .find(|challenge| challenge.is(scheme))
}

/// A refusal of the credential a client sent with `scheme` (`DPoP` or `Bearer`): `status`,
/// the body's `error`, and the challenge of that scheme carrying the same `error` (the
/// contract: "the challenge of the scheme the client used carries the error").
#[track_caller]
pub(super) fn assert_refused_as(resp: &Resp, status: u16, scheme: &str, error: &str, what: &str) {
    assert_eq!(resp.status, status, "{what}: {}", resp.text);
    assert_eq!(resp.error(), error, "{what}: {}", resp.text);
    assert!(
        resp.json["error_description"].is_string(),
        "{what}: {}",
        resp.text
    );
    let challenge = challenge_of(resp, scheme).unwrap_or_else(|| {
        panic!(
            "{what}: no {scheme} challenge in {:?}",
            resp.headers.get_all("www-authenticate")
        )
    });
    assert_eq!(
        challenge.param("error"),
        Some(error),
        "{what}: {challenge:?}"
    );
    assert!(
        !resp.text.contains("Access granted"),
        "{what}: the handler ran"
    );
}

/// The `algs` of `resp`'s `DPoP` challenge (RFC 9449 §7.1: the space-delimited JWS
/// algorithms the resource server accepts in proofs).
#[track_caller]
pub(super) fn dpop_algs(resp: &Resp, what: &str) -> Vec<String> {
    let challenge = challenge_of(resp, "DPoP").unwrap_or_else(|| {
        panic!(
            "{what}: no DPoP challenge in {:?}",
            resp.headers.get_all("www-authenticate")
        )
    });
    let algs = challenge
        .param("algs")
        .unwrap_or_else(|| panic!("{what}: no algs in {challenge:?}"));
    algs.split(' ').map(str::to_owned).collect()
}

/// A proof refused with `error` (`invalid_dpop_proof`, or `invalid_token` for the token
/// itself): `401` with a `DPoP` challenge carrying that error and the accepted algorithms
/// (RFC 9449 §7.1), which are asymmetric.
#[track_caller]
pub(super) fn assert_dpop_refused(resp: &Resp, error: &str, what: &str) {
    assert_refused_as(resp, 401, "DPoP", error, what);
    let algs = dpop_algs(resp, what);
    assert!(
        !algs.is_empty()
            && algs
                .iter()
                .all(|alg| !alg.starts_with("HS") && alg != "none"),
        "{what}: algs {algs:?}"
    );
}

/// A proof refused as invalid (RFC 9449 §4.3).
#[track_caller]
pub(super) fn assert_invalid_proof(resp: &Resp, what: &str) {
    assert_dpop_refused(resp, "invalid_dpop_proof", what);
}
