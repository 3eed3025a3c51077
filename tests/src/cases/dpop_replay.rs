//! The DPoP replay store (`AUTH_DPOP_REPLAY`): a proof's `jti` is remembered so that the
//! proof is accepted once (RFC 9449 §11.1), by one process with `memory` and by a whole
//! fleet with a shared Redis; an unreachable store refuses proofs rather than accepting
//! them unchecked. The Redis is a real `redis-server` on loopback ([`crate::redis`]).
//!
//! What `memory` does across processes is not tested: the contract calls it "per process",
//! which describes its limit, not a rule a client could rely on.

use std::time::Duration;

use serde_json::json;

use super::Case;
use super::dpop::{bound_token, get_dpop, proof_for};
use super::support::{PUBLIC_URL, assert_granted, assert_invalid_proof, standard_jwks, until};
use crate::dpop_proof::client_keys;
use crate::idp::Idp;
use crate::redis::RedisServer;
use crate::sample::{Resp, Sample};

/// Starts `count` samples trusting `idp`, reached at [`PUBLIC_URL`], requiring DPoP, with
/// `AUTH_DPOP_REPLAY=replay`.
async fn replicas(bin: &str, idp: &Idp, replay: &str, count: usize) -> Vec<Sample> {
    let issuer = idp.issuer();
    let env = [
        ("AUTH_ISSUER", issuer.as_str()),
        ("AUTH_PUBLIC_URL", PUBLIC_URL),
        ("AUTH_DPOP", "required"),
        ("AUTH_DPOP_REPLAY", replay),
    ];
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        samples.push(Sample::start(bin, &env).await);
    }
    samples
}

/// RFC 9449 §11.1, contract (`AUTH_DPOP_REPLAY=memory`, the default, "per process, bounded
/// in memory"): set explicitly, it refuses a proof's second use within the process.
async fn memory_store_refuses_a_replay_within_its_process(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    let samples = replicas(bin, &idp, "memory", 1).await;
    let client = &client_keys().ec;
    let token = bound_token(&idp.issuer(), client, json!({}));
    let proof = proof_for(client, "/protected", &token).sign();
    assert_granted(
        &get_dpop(&samples[0], "/protected", &token, &[&proof]).await,
        "first use",
    );
    assert_invalid_proof(
        &get_dpop(&samples[0], "/protected", &token, &[&proof]).await,
        "replay to the same process",
    );
}

/// RFC 9449 §11.1, contract ("Replays are refused across every replica that shares a
/// store"): two processes sharing one Redis; a proof accepted by either is refused by the
/// other, and by itself again.
async fn replay_is_refused_across_replicas_sharing_redis(bin: &str) {
    let redis = RedisServer::start().await;
    let idp = Idp::start(standard_jwks()).await;
    let samples = replicas(bin, &idp, &redis.url(), 2).await;
    let client = &client_keys().ec;
    let token = bound_token(&idp.issuer(), client, json!({}));
    for (first, second) in [(0, 1), (1, 0)] {
        let what = format!("accepted by replica {first}");
        let proof = proof_for(client, "/protected", &token).sign();
        assert_granted(
            &get_dpop(&samples[first], "/protected", &token, &[&proof]).await,
            &what,
        );
        assert_invalid_proof(
            &get_dpop(&samples[second], "/protected", &token, &[&proof]).await,
            &format!("{what}, replayed to replica {second}"),
        );
        assert_invalid_proof(
            &get_dpop(&samples[first], "/protected", &token, &[&proof]).await,
            &format!("{what}, replayed to it"),
        );
    }
}

/// `503` with a `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) and a JSON
/// error body: a refusal for now, never a grant and never a `500`.
#[track_caller]
fn assert_unavailable(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 503, "{what}: {}", resp.text);
    let retry_after = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: 503 without Retry-After: {:?}", resp.headers));
    assert!(
        retry_after.bytes().all(|b| b.is_ascii_digit()) && !retry_after.is_empty()
            || retry_after.ends_with(" GMT"),
        "{what}: Retry-After {retry_after:?}"
    );
    assert!(resp.json["error"].is_string(), "{what}: {}", resp.text);
    assert!(!resp.text.contains("Access granted"), "{what}");
}

/// Contract ("If the store cannot be reached, proofs are refused with `503` and
/// `Retry-After`, never accepted unchecked"): with the shared Redis stopped, fresh proofs
/// get `503` with `Retry-After`; once Redis is back on the same address, a fresh proof is
/// accepted again, with nothing but `503` in between.
async fn unreachable_replay_store_refuses_proofs_until_it_is_back(bin: &str) {
    let mut redis = RedisServer::start().await;
    let idp = Idp::start(standard_jwks()).await;
    let samples = replicas(bin, &idp, &redis.url(), 1).await;
    let sample = &samples[0];
    let client = &client_keys().ec;
    let token = bound_token(&idp.issuer(), client, json!({}));
    let fresh = || proof_for(client, "/protected", &token).sign();
    assert_granted(
        &get_dpop(sample, "/protected", &token, &[&fresh()]).await,
        "with Redis up",
    );

    redis.stop().await;
    for attempt in 1..=3 {
        let resp = get_dpop(sample, "/protected", &token, &[&fresh()]).await;
        assert_unavailable(&resp, &format!("Redis down, fresh proof {attempt}"));
    }
    // Still a refusal after the client's connection attempts have had time to fail.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_unavailable(
        &get_dpop(sample, "/protected", &token, &[&fresh()]).await,
        "Redis down a second later",
    );

    redis.restart().await;
    let resp = until(
        "a fresh proof once Redis is back",
        || {
            let proof = fresh();
            let token = &token;
            async move { get_dpop(sample, "/protected", token, &[&proof]).await }
        },
        |resp| {
            assert!(
                resp.status == 200 || resp.status == 503,
                "while Redis comes back: {} {}",
                resp.status,
                resp.text
            );
            resp.status == 200
        },
    )
    .await;
    assert_granted(&resp, "once Redis is back");
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(memory_store_refuses_a_replay_within_its_process),
    case!(replay_is_refused_across_replicas_sharing_redis),
    case!(unreachable_replay_store_refuses_proofs_until_it_is_back),
];
