//! Protected resource metadata (RFC 9728): with `AUTH_PUBLIC_URL`, the sample describes
//! itself at `/.well-known/oauth-protected-resource` (its identifier, its authorization
//! servers, how it takes tokens, its DPoP policy) and points every `401` challenge there.

use serde_json::{Value, json};

use super::Case;
use super::dpop::{bound_token, dpop_remote, get_dpop};
use super::support::{PUBLIC_URL, RESOURCE_METADATA_URL, remote, standard_jwks};
use crate::challenge::challenges;
use crate::dpop_proof::{Proof, client_keys};
use crate::idp::Idp;
use crate::keys::{keys, mint, now};
use crate::sample::{Resp, Sample};

/// The metadata path (RFC 9728 §3: the well-known URI suffix `oauth-protected-resource`).
const PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata document: `200`, JSON (RFC 9728 §3.2).
#[track_caller]
fn assert_metadata(resp: &Resp, what: &str) -> Value {
    assert_eq!(resp.status, 200, "{what}: {}", resp.text);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type:?}"
    );
    assert!(resp.json.is_object(), "{what}: {}", resp.text);
    resp.json.clone()
}

/// RFC 9728 §2 and §3.2, contract ("`/.well-known/oauth-protected-resource` exists exactly
/// when `AUTH_PUBLIC_URL` is set"): without it the path is `404` and `401` challenges carry
/// no `resource_metadata`; with it, `resource` is `AUTH_PUBLIC_URL`,
/// `authorization_servers` the configured issuers in order and `bearer_methods_supported`
/// `["header"]`, with one issuer and with two.
async fn metadata_is_served_exactly_when_a_public_url_is_set(bin: &str) {
    let without = remote(bin, &[]).await;
    let resp = without.sample.get(PATH, &[]).await;
    assert_eq!(resp.status, 404, "without AUTH_PUBLIC_URL: {}", resp.text);
    let refused = without.sample.get("/protected", &[]).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    for challenge in challenges(&refused.headers) {
        assert_eq!(challenge.param("resource_metadata"), None, "{challenge:?}");
    }

    let r = remote(bin, &[("AUTH_PUBLIC_URL", PUBLIC_URL)]).await;
    let doc = assert_metadata(&r.sample.get(PATH, &[]).await, "one issuer");
    assert_eq!(doc["resource"], PUBLIC_URL, "{doc}");
    assert_eq!(
        doc["authorization_servers"],
        json!([r.idp.issuer()]),
        "{doc}"
    );
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]), "{doc}");

    let a = Idp::start(standard_jwks()).await;
    let b = Idp::start(standard_jwks()).await;
    let issuers = format!("{},{}", a.issuer(), b.issuer());
    let s = Sample::start(
        bin,
        &[("AUTH_ISSUER", &issuers), ("AUTH_PUBLIC_URL", PUBLIC_URL)],
    )
    .await;
    let doc = assert_metadata(&s.get(PATH, &[]).await, "two issuers");
    assert_eq!(
        doc["authorization_servers"],
        json!([a.issuer(), b.issuer()]),
        "{doc}"
    );
}

/// RFC 9728 §2 (`dpop_signing_alg_values_supported`, `dpop_bound_access_tokens_required`),
/// contract: with DPoP on, the metadata names the proof algorithms (those of
/// `AUTH_ALGORITHMS`) and whether bound tokens are required (`true` only with `required`).
async fn metadata_describes_the_dpop_policy(bin: &str) {
    for (mode, required) in [("allowed", false), ("required", true)] {
        let what = format!("AUTH_DPOP={mode}");
        let r = dpop_remote(bin, mode, &[("AUTH_ALGORITHMS", "ES256,EdDSA")]).await;
        let doc = assert_metadata(&r.sample.get(PATH, &[]).await, &what);
        let mut algs: Vec<&str> = doc["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no dpop_signing_alg_values_supported: {doc}"))
            .iter()
            .map(|alg| alg.as_str().unwrap_or_default())
            .collect();
        algs.sort_unstable();
        assert_eq!(algs, ["ES256", "EdDSA"], "{what}: {doc}");
        assert_eq!(
            doc["dpop_bound_access_tokens_required"],
            json!(required),
            "{what}: {doc}"
        );
    }
}

/// Contract ("never gated: no redirect, secret or host check, like the probes"): the
/// metadata answers without the shared secret, over plain HTTP with `FORCE_HTTPS=1`, and
/// for a host outside `ALLOWED_HOSTS`, where `/public` is refused.
async fn metadata_is_never_gated(bin: &str) {
    let r = remote(
        bin,
        &[
            ("AUTH_PUBLIC_URL", PUBLIC_URL),
            ("SHARED_SECRET", "gate-secret-1-6e0b3d8f2a9c4175e0b3"),
            ("FORCE_HTTPS", "1"),
            ("ALLOWED_HOSTS", "api.example.test"),
        ],
    )
    .await;
    let public = r.sample.get("/public", &[]).await;
    assert_ne!(public.status, 200, "/public is gated: {}", public.text);
    let doc = assert_metadata(&r.sample.get(PATH, &[]).await, "ungated");
    assert_eq!(doc["resource"], PUBLIC_URL, "{doc}");
}

/// RFC 9728 §5.1, contract ("every `401` challenge carries `resource_metadata`"): every
/// challenge of every `401` on the token routes names the metadata URL: no credentials, a
/// bad bearer token, a refused proof, on `/protected` and `/admin`, with DPoP off and on.
async fn every_401_challenge_names_the_metadata(bin: &str) {
    let garbage = "Bearer not.a.token";
    let plain = remote(bin, &[("AUTH_PUBLIC_URL", PUBLIC_URL)]).await;
    let expired = mint(
        &keys().ec256,
        &json!({ "sub": "alice", "iss": plain.idp.issuer(), "exp": now() - 3600 }),
    );
    let expired = format!("Bearer {expired}");
    let mut answers = Vec::new();
    for path in ["/protected", "/admin"] {
        for (what, headers) in [
            ("no credentials", vec![]),
            ("garbage token", vec![("authorization", garbage)]),
            ("expired token", vec![("authorization", expired.as_str())]),
        ] {
            let resp = plain.sample.get(path, &headers).await;
            answers.push((format!("DPoP off, {path}, {what}"), resp));
        }
    }
    let dpop = dpop_remote(bin, "allowed", &[]).await;
    let client = &client_keys().ec;
    let token = bound_token(&dpop.idp.issuer(), client, json!({}));
    let wrong_method = Proof::new(client, "POST", &format!("{PUBLIC_URL}/protected"))
        .for_token(&token)
        .sign();
    answers.push((
        "DPoP allowed, refused proof".to_owned(),
        get_dpop(&dpop.sample, "/protected", &token, &[&wrong_method]).await,
    ));
    answers.push((
        "DPoP allowed, no credentials".to_owned(),
        dpop.sample.get("/protected", &[]).await,
    ));
    answers.push((
        "DPoP allowed, garbage token".to_owned(),
        dpop.sample
            .get("/protected", &[("authorization", garbage)])
            .await,
    ));
    for (what, resp) in answers {
        assert_eq!(resp.status, 401, "{what}: {}", resp.text);
        let all = challenges(&resp.headers);
        assert!(!all.is_empty(), "{what}: no challenge");
        for challenge in all {
            assert_eq!(
                challenge.param("resource_metadata"),
                Some(RESOURCE_METADATA_URL),
                "{what}: {challenge:?}"
            );
        }
    }
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(metadata_is_served_exactly_when_a_public_url_is_set),
    case!(metadata_describes_the_dpop_policy),
    case!(metadata_is_never_gated),
    case!(every_401_challenge_names_the_metadata),
];
