//! What the DPoP settings decide (contract, "Sender-constrained tokens"): which schemes
//! `AUTH_DPOP` `allowed` and `required` accept and offer in their challenges (RFC 9449 §7.1,
//! §7.2), that a `cnf.jkt` binding is never ignored when DPoP is off, the server nonces of
//! `AUTH_DPOP_NONCE` (RFC 9449 §9), and the configurations that stop start-up.

use serde_json::json;

use super::Case;
use super::dpop::{bound_token, dpop_remote, get_dpop, proof_for};
use super::support::{
    PUBLIC_URL, assert_dpop_refused, assert_granted, assert_refused_as, challenge_of, claims,
    dpop_algs, remote, standard_jwks,
};
use crate::dpop_proof::client_keys;
use crate::idp::Idp;
use crate::keys::{keys, mint};
use crate::sample::{Resp, Sample};

/// RFC 9449 §7.2 and contract ("presented as `Bearer`, it is refused"): a bound token sent
/// as a bearer token is refused, even with a valid proof beside it. With `allowed`, the
/// `Bearer` challenge (the scheme the client used) carries `invalid_token`; with
/// `required`, no bearer token is accepted at all and the answer offers `DPoP`.
async fn bound_token_sent_as_bearer_is_refused(bin: &str) {
    let client = &client_keys().ec;
    let r = dpop_remote(bin, "allowed", &[]).await;
    let token = bound_token(&r.idp.issuer(), client, json!({}));
    let resp = r.sample.get_bearer("/protected", &token).await;
    assert_refused_as(&resp, 401, "Bearer", "invalid_token", "allowed, as Bearer");
    let proof = proof_for(client, "/protected", &token).sign();
    let bearer = format!("Bearer {token}");
    let resp = r
        .sample
        .get(
            "/protected",
            &[("authorization", &bearer), ("dpop", &proof)],
        )
        .await;
    assert_refused_as(
        &resp,
        401,
        "Bearer",
        "invalid_token",
        "allowed, as Bearer with a proof",
    );

    let r = dpop_remote(bin, "required", &[]).await;
    let token = bound_token(&r.idp.issuer(), client, json!({}));
    let resp = r.sample.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 401, "required, as Bearer: {}", resp.text);
    assert!(
        challenge_of(&resp, "DPoP").is_some(),
        "required, as Bearer: no DPoP challenge"
    );
    assert!(!resp.text.contains("Access granted"));
}

/// Contract ("with `allowed`, unbound tokens keep working as `Bearer`; with `required`,
/// only bound tokens with a valid proof are accepted"; the `Bearer` challenge only "while
/// bearer tokens are also accepted"): an unbound bearer token is accepted with `allowed`,
/// and refused `401` with `required`, where the answer offers `DPoP` alone.
async fn unbound_bearer_tokens_work_only_while_dpop_is_allowed(bin: &str) {
    let r = dpop_remote(bin, "allowed", &[]).await;
    let token = mint(&keys().ec256, &claims(&r.idp.issuer()));
    assert_granted(
        &r.sample.get_bearer("/protected", &token).await,
        "unbound bearer token, AUTH_DPOP=allowed",
    );

    let r = dpop_remote(bin, "required", &[]).await;
    let token = mint(&keys().ec256, &claims(&r.idp.issuer()));
    let resp = r.sample.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 401, "AUTH_DPOP=required: {}", resp.text);
    assert!(!resp.text.contains("Access granted"));
    assert!(
        challenge_of(&resp, "DPoP").is_some(),
        "AUTH_DPOP=required: no DPoP challenge: {:?}",
        resp.headers
    );
    assert!(
        challenge_of(&resp, "Bearer").is_none(),
        "AUTH_DPOP=required: a Bearer challenge although bearer tokens are refused: {:?}",
        resp.headers
    );
}

/// RFC 9449 §7.1 and §7.2, contract: a request without credentials gets `401
/// missing_token` with a `DPoP` challenge naming the accepted algorithms, plus a `Bearer`
/// challenge while bearer tokens are accepted (`allowed`), and without one when they are
/// not (`required`).
async fn challenges_offer_bearer_only_while_bearer_is_accepted(bin: &str) {
    for (mode, bearer_offered) in [("allowed", true), ("required", false)] {
        let r = dpop_remote(bin, mode, &[]).await;
        let resp = r.sample.get("/protected", &[]).await;
        let what = format!("AUTH_DPOP={mode}, no credentials");
        assert_eq!(resp.status, 401, "{what}: {}", resp.text);
        assert_eq!(resp.error(), "missing_token", "{what}: {}", resp.text);
        let algs = dpop_algs(&resp, &what);
        for alg in ["ES256", "RS256", "EdDSA"] {
            assert!(algs.iter().any(|a| a == alg), "{what}: algs {algs:?}");
        }
        assert!(
            algs.iter().all(|a| !a.starts_with("HS") && a != "none"),
            "{what}: algs {algs:?}"
        );
        assert_eq!(
            challenge_of(&resp, "Bearer").is_some(),
            bearer_offered,
            "{what}: {:?}",
            resp.headers
        );
    }
}

/// Contract ("a binding is never silently ignored"): with `AUTH_DPOP` unset, a token
/// carrying `cnf.jkt` is refused `401 invalid_token`, while the same claims without `cnf`
/// are accepted.
async fn jkt_bound_token_is_refused_when_dpop_is_off(bin: &str) {
    let r = remote(bin, &[]).await;
    let issuer = r.idp.issuer();
    let token = bound_token(&issuer, &client_keys().ec, json!({}));
    let resp = r.sample.get_bearer("/protected", &token).await;
    assert_refused_as(&resp, 401, "Bearer", "invalid_token", "cnf.jkt, DPoP off");
    let unbound = mint(&keys().ec256, &claims(&issuer));
    assert_granted(
        &r.sample.get_bearer("/protected", &unbound).await,
        "no cnf, DPoP off",
    );
}

/// RFC 9449 §9 and §4.3 check 10, contract (`AUTH_DPOP_NONCE=1`: "the server requires a
/// nonce it issued"): a proof without a nonce gets `401` with `error="use_dpop_nonce"` and
/// a `DPoP-Nonce` header; a fresh proof carrying that nonce is accepted; a nonce the server
/// never issued is refused (with `use_dpop_nonce` and a fresh nonce, or as an invalid
/// proof: the contract does not say which).
async fn server_nonce_is_required_when_configured(bin: &str) {
    let r = dpop_remote(bin, "required", &[("AUTH_DPOP_NONCE", "1")]).await;
    let client = &client_keys().ec;
    let token = bound_token(&r.idp.issuer(), client, json!({}));
    let without = proof_for(client, "/protected", &token).sign();
    let first = get_dpop(&r.sample, "/protected", &token, &[&without]).await;
    assert_dpop_refused(&first, "use_dpop_nonce", "proof without a nonce");
    let nonce = first
        .header("dpop-nonce")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| panic!("no DPoP-Nonce header: {:?}", first.headers))
        .to_owned();

    let with = proof_for(client, "/protected", &token)
        .claim("nonce", json!(nonce))
        .sign();
    assert_granted(
        &get_dpop(&r.sample, "/protected", &token, &[&with]).await,
        "proof with the server's nonce",
    );

    let mut altered = nonce.clone();
    let last = altered.pop().unwrap_or('A');
    altered.push(if last == 'A' { 'B' } else { 'A' });
    for made_up in ["made-up-nonce".to_owned(), altered] {
        let proof = proof_for(client, "/protected", &token)
            .claim("nonce", json!(made_up))
            .sign();
        let resp = get_dpop(&r.sample, "/protected", &token, &[&proof]).await;
        let what = format!("nonce {made_up:?}");
        assert_eq!(resp.status, 401, "{what}: {}", resp.text);
        let error = resp.error().to_owned();
        assert!(
            error == "use_dpop_nonce" || error == "invalid_dpop_proof",
            "{what}: {}",
            resp.text
        );
        assert_dpop_refused(&resp, &error, &what);
        if error == "use_dpop_nonce" {
            assert!(
                resp.header("dpop-nonce").is_some_and(|n| !n.is_empty()),
                "{what}: use_dpop_nonce without a DPoP-Nonce header"
            );
        }
    }
}

/// Contract (`AUTH_DPOP_NONCE_SECRET`: "the key is never derived from another secret"):
/// nonces are sent to every client, so their key must not come from `SHARED_SECRET`. Two
/// replicas sharing only `SHARED_SECRET` each key their nonces at random and refuse each
/// other's; two sharing `AUTH_DPOP_NONCE_SECRET` accept each other's.
async fn nonce_key_is_its_own_secret(bin: &str) {
    const NONCES: &str = "nonce-secret-of-the-fleet-3c8a1f6e0b9d4275";
    let idp = Idp::start(standard_jwks()).await;
    let issuer = idp.issuer();
    let client = &client_keys().ec;
    let token = bound_token(&issuer, client, json!({}));
    let nonce_of = |resp: &Resp| {
        assert_dpop_refused(resp, "use_dpop_nonce", "proof without a nonce");
        resp.header("dpop-nonce")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| panic!("no DPoP-Nonce header: {:?}", resp.headers))
            .to_owned()
    };
    let base = [
        ("AUTH_ISSUER", issuer.as_str()),
        ("AUTH_PUBLIC_URL", PUBLIC_URL),
        ("AUTH_DPOP", "required"),
        ("AUTH_DPOP_NONCE", "1"),
        ("SHARED_SECRET", GATE),
    ];
    for (shared, accepted) in [(None, false), (Some(NONCES), true)] {
        let mut env = base.to_vec();
        env.extend(shared.map(|secret| ("AUTH_DPOP_NONCE_SECRET", secret)));
        let a = Sample::start(bin, &env).await;
        let b = Sample::start(bin, &env).await;
        let nonce = nonce_of(&through_gateway(&a, &token, None).await);
        assert_granted(
            &through_gateway(&a, &token, Some(&nonce)).await,
            "the issuer's own nonce",
        );
        let at_b = through_gateway(&b, &token, Some(&nonce)).await;
        if accepted {
            assert_granted(&at_b, "a nonce of a replica with the same nonce secret");
        } else {
            assert_dpop_refused(&at_b, "use_dpop_nonce", "a nonce of another replica");
        }
        for logs in [a.logs(), b.logs()] {
            assert!(!logs.contains(GATE) && !logs.contains(NONCES), "{logs}");
        }
    }
}

/// The gateway's secret of [`nonce_key_is_its_own_secret`].
const GATE: &str = "gateway-secret-of-the-nonce-case-7e2b9d0f4a";

/// `GET /protected` through the gateway with `token` and a fresh proof carrying `nonce`.
async fn through_gateway(s: &Sample, token: &str, nonce: Option<&str>) -> Resp {
    let client = &client_keys().ec;
    let mut proof = proof_for(client, "/protected", token);
    if let Some(nonce) = nonce {
        proof = proof.claim("nonce", json!(nonce));
    }
    let proof = proof.sign();
    let authorization = format!("DPoP {token}");
    s.get(
        "/protected",
        &[
            ("authorization", authorization.as_str()),
            ("dpop", proof.as_str()),
            ("x-shared-secret", GATE),
        ],
    )
    .await
}

/// Environment variables of a sample.
type Env = Vec<(&'static str, &'static str)>;

/// Contract ("Process", "Sender-constrained tokens", "Protected resource metadata"): DPoP
/// configuration that is missing or out of range stops start-up naming the variable, while
/// the same base configuration starts.
async fn dpop_configuration_errors_stop_startup(bin: &str) {
    const ISSUER: (&str, &str) = ("AUTH_ISSUER", "https://idp.example");
    const PUBLIC: (&str, &str) = ("AUTH_PUBLIC_URL", PUBLIC_URL);
    const ALLOWED: (&str, &str) = ("AUTH_DPOP", "allowed");
    let base = [ISSUER, PUBLIC, ALLOWED];
    let started = Sample::start(bin, &base).await;
    drop(started);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut env = base.to_vec();
        env.retain(|(name, _)| extra.iter().all(|(n, _)| n != name));
        env.extend_from_slice(extra);
        env
    };
    // Each configuration, and the variables of which its error must name one.
    let cases: Vec<(Env, Vec<&str>)> = vec![
        (vec![ISSUER, ALLOWED], vec!["AUTH_PUBLIC_URL"]),
        (
            vec![ISSUER, ("AUTH_DPOP", "required")],
            vec!["AUTH_PUBLIC_URL"],
        ),
        (
            with(&[("AUTH_PUBLIC_URL", "https://api.example.test/v1")]),
            vec!["AUTH_PUBLIC_URL"],
        ),
        (
            with(&[("AUTH_PUBLIC_URL", "http://api.example.test")]),
            vec!["AUTH_PUBLIC_URL"],
        ),
        (
            with(&[("AUTH_PUBLIC_URL", "https://api.example.test?x=1")]),
            vec!["AUTH_PUBLIC_URL"],
        ),
        (
            with(&[("AUTH_PUBLIC_URL", "api.example.test")]),
            vec!["AUTH_PUBLIC_URL"],
        ),
        (
            vec![ISSUER, ("AUTH_PUBLIC_URL", "https://api.example.test/v1")],
            vec!["AUTH_PUBLIC_URL"],
        ),
        (
            vec![ISSUER, ("AUTH_PUBLIC_URL", "")],
            vec!["AUTH_PUBLIC_URL"],
        ),
        (with(&[("AUTH_DPOP", "maybe")]), vec!["AUTH_DPOP"]),
        (with(&[("AUTH_DPOP", "")]), vec!["AUTH_DPOP"]),
        (
            with(&[("AUTH_DPOP_MAX_AGE_SECS", "0")]),
            vec!["AUTH_DPOP_MAX_AGE_SECS"],
        ),
        (
            with(&[("AUTH_DPOP_MAX_AGE_SECS", "301")]),
            vec!["AUTH_DPOP_MAX_AGE_SECS"],
        ),
        (
            with(&[("AUTH_DPOP_MAX_AGE_SECS", "soon")]),
            vec!["AUTH_DPOP_MAX_AGE_SECS"],
        ),
        (
            with(&[("AUTH_DPOP_REPLAY", "memcached://x")]),
            vec!["AUTH_DPOP_REPLAY"],
        ),
        (
            with(&[("AUTH_DPOP_REPLAY", "redis://")]),
            vec!["AUTH_DPOP_REPLAY"],
        ),
        (
            with(&[("AUTH_TOKEN_HEADER", "X-Token")]),
            vec!["AUTH_DPOP", "AUTH_TOKEN_HEADER"],
        ),
        // The nonces' own secret: only with nonces, at least 32 bytes, never padded.
        (
            with(&[(
                "AUTH_DPOP_NONCE_SECRET",
                "nonce-secret-of-the-fleet-3c8a1f6e0b9d4275",
            )]),
            vec!["AUTH_DPOP_NONCE_SECRET"],
        ),
        (
            vec![
                ISSUER,
                (
                    "AUTH_DPOP_NONCE_SECRET",
                    "nonce-secret-of-the-fleet-3c8a1f6e0b9d4275",
                ),
            ],
            vec!["AUTH_DPOP_NONCE_SECRET"],
        ),
        (
            with(&[
                ("AUTH_DPOP_NONCE", "1"),
                ("AUTH_DPOP_NONCE_SECRET", "letmein"),
            ]),
            vec!["AUTH_DPOP_NONCE_SECRET"],
        ),
        (
            with(&[
                ("AUTH_DPOP_NONCE", "1"),
                (
                    "SHARED_SECRET",
                    "one-value-for-two-secrets-5b7e0c2a9d14f368",
                ),
                (
                    "AUTH_DPOP_NONCE_SECRET",
                    "one-value-for-two-secrets-5b7e0c2a9d14f368",
                ),
            ]),
            vec!["AUTH_DPOP_NONCE_SECRET"],
        ),
        (
            with(&[
                ("AUTH_DPOP_NONCE", "1"),
                (
                    "AUTH_DPOP_NONCE_SECRET",
                    "nonce-secret-of-the-fleet-3c8a1f6e0b9d4275 ",
                ),
            ]),
            vec!["AUTH_DPOP_NONCE_SECRET"],
        ),
    ];
    for (env, names) in cases {
        let (code, stderr) = Sample::start_failure(bin, &env).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{env:?} started (exit {code:?})"
        );
        assert!(
            names.iter().any(|name| stderr.contains(name)),
            "{env:?}: the error names none of {names:?}:\n{stderr}"
        );
    }
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(bound_token_sent_as_bearer_is_refused),
    case!(unbound_bearer_tokens_work_only_while_dpop_is_allowed),
    case!(challenges_offer_bearer_only_while_bearer_is_accepted),
    case!(jkt_bound_token_is_refused_when_dpop_is_off),
    case!(server_nonce_is_required_when_configured),
    case!(nonce_key_is_its_own_secret),
    case!(dpop_configuration_errors_stop_startup),
];
