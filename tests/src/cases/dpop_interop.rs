//! DPoP with implementations nobody here wrote: `oidc-provider` (its DPoP feature on)
//! issues DPoP-bound access tokens by client credentials, and the `dpop` npm package
//! generates the client's key pair and its proofs ([`crate::dpop_client`]). The sample must
//! accept what they produce together and refuse what RFC 9449 refuses.

use serde_json::Value;

use super::Case;
use super::support::{
    PUBLIC_URL, assert_dpop_refused, assert_granted, assert_invalid_proof, public_url,
};
use crate::dpop_client::DpopClient;
use crate::dpop_proof::thumbprint;
use crate::interop::{AUDIENCE, KeysFile, Provider};
use crate::sample::{Resp, Sample};

/// The provider's client whose tokens the cases use (ES256-signed access tokens).
const CLIENT_ID: &str = "es256";

/// A provider, and a sample trusting it for [`AUDIENCE`] at [`PUBLIC_URL`] with DPoP
/// required, plus `extra` variables.
async fn provider_and_sample(bin: &str, extra: &[(&str, &str)]) -> (KeysFile, Provider, Sample) {
    assert_eq!(
        AUDIENCE, PUBLIC_URL,
        "the provider's resource is the sample's public URL"
    );
    let keys = KeysFile::new();
    let provider = Provider::start(&keys).await;
    let mut env = vec![
        ("AUTH_ISSUER", provider.issuer.as_str()),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_PUBLIC_URL", PUBLIC_URL),
        ("AUTH_DPOP", "required"),
    ];
    env.extend_from_slice(extra);
    let sample = Sample::start(bin, &env).await;
    (keys, provider, sample)
}

/// A DPoP-bound access token for `client`'s key (RFC 9449 §5): the token request carries
/// the client's proof for the token endpoint. Checks that the provider bound it.
async fn bound_token(provider: &Provider, client: &mut DpopClient) -> String {
    let proof = client
        .proof("POST", &provider.token_endpoint(), None, None)
        .await;
    let body: Value = provider
        .token_response(CLIENT_ID, AUDIENCE, Some(&proof))
        .await;
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {body}"))
        .to_owned()
}

/// `GET path` with `Authorization: DPoP <token>` and the proof, if any.
async fn get_dpop(sample: &Sample, path: &str, token: &str, proof: Option<&str>) -> Resp {
    let authorization = format!("DPoP {token}");
    let mut headers = vec![("authorization", authorization.as_str())];
    if let Some(proof) = proof {
        headers.push(("dpop", proof));
    }
    sample.get(path, &headers).await
}

/// RFC 9449 §5 and §7: `oidc-provider`'s DPoP-bound token with `dpop`'s proof for the
/// request is accepted on `/protected`, with ES256 and Ed25519 (RFC 9864's name for EdDSA
/// over Ed25519, which the contract accepts like `EdDSA`) key pairs. The token's `cnf.jkt`
/// is the key's thumbprint as the package, the provider and the suite (RFC 7638) compute
/// it.
async fn oidc_provider_bound_token_with_a_dpop_proof_is_accepted(bin: &str) {
    let (_keys, provider, sample) = provider_and_sample(bin, &[]).await;
    for alg in ["ES256", "Ed25519"] {
        let mut client = DpopClient::start(alg).await;
        assert_eq!(thumbprint(&client.public_jwk), client.thumbprint, "{alg}");
        let token = bound_token(&provider, &mut client).await;
        let proof = client
            .proof("GET", &public_url("/protected"), Some(&token), None)
            .await;
        let resp = get_dpop(&sample, "/protected", &token, Some(&proof)).await;
        assert_granted(&resp, alg);
        assert_eq!(
            resp.json["user"]["cnf"]["jkt"], client.thumbprint,
            "{alg}: {}",
            resp.text
        );
        assert_eq!(resp.json["user"]["client_id"], CLIENT_ID, "{alg}");
    }
}

/// RFC 9449 §11.1: a `dpop` proof accepted once is refused when replayed.
async fn replayed_dpop_proof_is_refused(bin: &str) {
    let (_keys, provider, sample) = provider_and_sample(bin, &[]).await;
    let mut client = DpopClient::start("ES256").await;
    let token = bound_token(&provider, &mut client).await;
    let proof = client
        .proof("GET", &public_url("/protected"), Some(&token), None)
        .await;
    assert_granted(
        &get_dpop(&sample, "/protected", &token, Some(&proof)).await,
        "first use",
    );
    assert_invalid_proof(
        &get_dpop(&sample, "/protected", &token, Some(&proof)).await,
        "replayed",
    );
}

/// RFC 9449 §4.3 checks 8 and 9: a `dpop` proof for another URL (`/admin`, another host)
/// or another method is refused on `GET /protected`.
async fn dpop_proof_for_another_request_is_refused(bin: &str) {
    let (_keys, provider, sample) = provider_and_sample(bin, &[]).await;
    let mut client = DpopClient::start("ES256").await;
    let token = bound_token(&provider, &mut client).await;
    for (htm, htu) in [
        ("GET", public_url("/admin")),
        ("GET", "https://other.example.test/protected".to_owned()),
        ("POST", public_url("/protected")),
    ] {
        let proof = client.proof(htm, &htu, Some(&token), None).await;
        let resp = get_dpop(&sample, "/protected", &token, Some(&proof)).await;
        assert_invalid_proof(&resp, &format!("proof for {htm} {htu}"));
    }
}

/// RFC 9449 §7.1 and §7.2, contract: the provider's bound token without its proof is
/// refused: as a bearer token, under `DPoP` with no proof, and with a proof by another
/// client's key.
async fn oidc_provider_bound_token_without_its_proof_is_refused(bin: &str) {
    let (_keys, provider, sample) = provider_and_sample(bin, &[]).await;
    let mut client = DpopClient::start("ES256").await;
    let token = bound_token(&provider, &mut client).await;
    let resp = sample.get_bearer("/protected", &token).await;
    assert_eq!(resp.status, 401, "as Bearer: {}", resp.text);
    assert!(!resp.text.contains("Access granted"), "as Bearer");
    assert_invalid_proof(
        &get_dpop(&sample, "/protected", &token, None).await,
        "no proof",
    );
    let mut thief = DpopClient::start("ES256").await;
    let proof = thief
        .proof("GET", &public_url("/protected"), Some(&token), None)
        .await;
    assert_invalid_proof(
        &get_dpop(&sample, "/protected", &token, Some(&proof)).await,
        "a proof by another key",
    );
}

/// RFC 9449 §9, contract (`AUTH_DPOP_NONCE=1`): `dpop` proofs carry the nonce the sample
/// issues; without it the sample answers `use_dpop_nonce` with a `DPoP-Nonce`, with it the
/// request is accepted.
async fn dpop_client_follows_the_samples_nonce(bin: &str) {
    let (_keys, provider, sample) = provider_and_sample(bin, &[("AUTH_DPOP_NONCE", "1")]).await;
    let mut client = DpopClient::start("ES256").await;
    let token = bound_token(&provider, &mut client).await;
    let htu = public_url("/protected");
    let proof = client.proof("GET", &htu, Some(&token), None).await;
    let first = get_dpop(&sample, "/protected", &token, Some(&proof)).await;
    assert_dpop_refused(&first, "use_dpop_nonce", "no nonce");
    let nonce = first
        .header("dpop-nonce")
        .unwrap_or_else(|| panic!("no DPoP-Nonce: {:?}", first.headers))
        .to_owned();
    let proof = client.proof("GET", &htu, Some(&token), Some(&nonce)).await;
    let resp = get_dpop(&sample, "/protected", &token, Some(&proof)).await;
    assert_granted(&resp, "with the sample's nonce");
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(oidc_provider_bound_token_with_a_dpop_proof_is_accepted),
    case!(replayed_dpop_proof_is_refused),
    case!(dpop_proof_for_another_request_is_refused),
    case!(oidc_provider_bound_token_without_its_proof_is_refused),
    case!(dpop_client_follows_the_samples_nonce),
];
