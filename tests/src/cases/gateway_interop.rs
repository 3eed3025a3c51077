//! The gateway vendors' own verifiers as a second opinion: every assertion of these cases
//! goes to the sample and to the vendor's verifier (`tests/interop/gateway_verifiers.mjs`),
//! and both must reach the verdict the case expects, accepted or refused.
//!
//! - AWS ALB: `aws-jwt-verify`'s `AlbJwtVerifier`, fetching each `kid`'s PEM from the same
//!   loopback key server as the sample.
//! - Google Cloud IAP: `google-auth-library`'s `getIapPublicKeys` and
//!   `verifySignedJwtWithCertsAsync`, as Google's documentation shows them.
//! - Cloudflare Access: `jose`'s `jwtVerify` with `createRemoteJWKSet`, as Cloudflare's
//!   documentation shows it.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::Case;
use crate::idp::Idp;
use crate::interop::{install_dependencies, interop_dir, node};
use crate::keys::{b64, now};
use crate::sample::Sample;
use crate::vendors::{
    self, ALB_ARN, ALB_CLIENT, ALB_IDP, AlbKeyServer, CF_AUD, CF_CERTS_PATH, CF_TEAM, GatewayKey,
    IAP_APP_AUDIENCE, IAP_BACKEND_AUDIENCE, IAP_KEYS_PATH, OTHER_ALB_ARN, alb_claims, alb_header,
    alb_token, cloudflare_claims, iap_claims,
};

/// Where IAP publishes its keys as PEM, keyed by `kid` (what `getIapPublicKeys` reads).
const IAP_PEM_PATH: &str = "/iap/verify/public_key";

/// Runs the vendor's verifier on `tokens`; one verdict per token (`Ok(claims)` or the
/// verifier's error).
async fn vendor_verdicts(mut request: Value, tokens: &[&str]) -> Vec<Result<Value, String>> {
    install_dependencies().await;
    request["tokens"] = json!(tokens);
    let mut child = Command::new(node())
        .arg("gateway_verifiers.mjs")
        .current_dir(interop_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .expect("write the request");
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the vendor verifier must answer within 60 s")
        .expect("vendor verifier output");
    assert!(
        output.status.success(),
        "the vendor verifier failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("the verifier prints a JSON array");
    assert_eq!(verdicts.len(), tokens.len(), "one verdict per token");
    verdicts
        .into_iter()
        .map(|verdict| match verdict["ok"].as_bool() {
            Some(true) => Ok(verdict["claims"].clone()),
            _ => Err(verdict["error"].as_str().unwrap_or_default().to_owned()),
        })
        .collect()
}

/// Sends every case's token to the sample (in `header`) and to the vendor's verifier, and
/// requires both to reach the expected verdict; an accepted token's claims must agree.
async fn assert_agree(
    sample: &Sample,
    header: &str,
    vendor: Value,
    cases: &[(&str, String, bool)],
) {
    let tokens: Vec<&str> = cases.iter().map(|(_, token, _)| token.as_str()).collect();
    let verdicts = vendor_verdicts(vendor, &tokens).await;
    for ((what, token, accepted), vendor) in cases.iter().zip(verdicts) {
        let resp = sample.get("/protected", &[(header, token)]).await;
        assert!(
            matches!(resp.status, 200 | 401),
            "{what}: the sample answered {} {}",
            resp.status,
            resp.text
        );
        assert_eq!(
            resp.status == 200,
            *accepted,
            "{what}: the sample answered {} {}",
            resp.status,
            resp.text
        );
        assert_eq!(
            vendor.is_ok(),
            *accepted,
            "{what}: the vendor's verifier disagrees: {vendor:?}"
        );
        if let Ok(claims) = vendor {
            assert_eq!(
                resp.json["user"]["sub"], claims["sub"],
                "{what}: the claims differ"
            );
        }
    }
}

/// The token with its payload replaced, the signature kept.
fn tampered(token: &str, padded: bool) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = json!({ "sub": "mallory", "email": "mallory@example.com", "exp": now() + 120,
                          "iss": ALB_IDP, "aud": CF_AUD })
    .to_string();
    parts[1] = if padded {
        URL_SAFE.encode(payload)
    } else {
        b64(payload)
    };
    parts.join(".")
}

/// AWS ALB assertions: the samples and `aws-jwt-verify` agree on each, accepted or refused.
async fn interop_alb_aws_jwt_verify(bin: &str) {
    let kid = "7e4f8d32-0b8a-4ea4-ae5a-8b6f1a7e2c10";
    let second_kid = "5b1e9c47-3d2a-4f6b-9e8d-7c6b5a4f3e2d";
    let key = vendors::p256_key(kid);
    let second = vendors::p256_key(second_kid);
    let server = AlbKeyServer::start(&[&key, &second]).await;
    let url = server.base_url();
    let sample = Sample::start(
        bin,
        &[
            ("AUTH_GATEWAY", "aws-alb"),
            ("AUTH_ALB_ARN", ALB_ARN),
            ("AUTH_ALB_CLIENT_ID", ALB_CLIENT),
            ("AUTH_ISSUER", ALB_IDP),
            ("AUTH_ALB_KEY_URL", url.as_str()),
        ],
    )
    .await;
    let with_header = |name: &str, value: Value| {
        let mut header = alb_header(kid);
        header[name] = value;
        alb_token(&header, &alb_claims(), &key.encoding)
    };
    let good = alb_token(&alb_header(kid), &alb_claims(), &key.encoding);
    let mut no_payload_exp = alb_claims();
    no_payload_exp.as_object_mut().map(|c| c.remove("exp"));
    let mut expired_header = alb_header(kid);
    expired_header["exp"] = json!(now() - 3600);
    let mut expired_claims = alb_claims();
    expired_claims["exp"] = json!(now() - 3600);
    let mut other_idp_header = alb_header(kid);
    other_idp_header["iss"] = json!("https://evil.example");
    let mut other_idp_claims = alb_claims();
    other_idp_claims["iss"] = json!("https://evil.example");
    let mut unpadded_header = alb_header(kid);
    unpadded_header["exp"] = json!(now() + 90);
    let cases = [
        ("a good assertion", good.clone(), true),
        (
            "the header's exp alone",
            alb_token(&alb_header(kid), &no_payload_exp, &key.encoding),
            true,
        ),
        (
            "another published kid",
            alb_token(&alb_header(second_kid), &alb_claims(), &second.encoding),
            true,
        ),
        (
            "the same fields, unpadded",
            vendors::sign(
                &unpadded_header,
                &alb_claims(),
                &key.encoding,
                Algorithm::ES256,
            ),
            true,
        ),
        (
            "another load balancer's signer",
            with_header("signer", json!(OTHER_ALB_ARN)),
            false,
        ),
        (
            "another client",
            with_header("client", json!("another-client")),
            false,
        ),
        (
            "another identity provider",
            alb_token(&other_idp_header, &other_idp_claims, &key.encoding),
            false,
        ),
        (
            "expired",
            alb_token(&expired_header, &expired_claims, &key.encoding),
            false,
        ),
        (
            "signed by a key of another kid",
            alb_token(&alb_header(kid), &alb_claims(), &second.encoding),
            false,
        ),
        (
            "an unpublished kid",
            with_header("kid", json!("0f0e0d0c-0b0a-4908-a706-050403020100")),
            false,
        ),
        (
            "a kid that climbs the path",
            with_header("kid", json!(format!("../{kid}"))),
            false,
        ),
        (
            "ES384 in the header",
            with_header("alg", json!("ES384")),
            false,
        ),
        ("a replaced payload", tampered(&good, true), false),
    ];
    assert_agree(
        &sample,
        "x-amzn-oidc-data",
        json!({
            "gateway": "aws-alb",
            "albArn": ALB_ARN,
            "clientId": ALB_CLIENT,
            "issuer": ALB_IDP,
            "keyUrl": url,
        }),
        &cases,
    )
    .await;
}

fn iap_token(key: &GatewayKey, header: Value, claims: &Value) -> String {
    let mut header = header;
    header["kid"] = json!(key.kid);
    vendors::sign(&header, claims, &key.encoding, Algorithm::ES256)
}

/// Google Cloud IAP assertions, for both audience forms: the samples and
/// `google-auth-library` agree on each, accepted or refused.
async fn interop_iap_google_auth_library(bin: &str) {
    let key = vendors::p256_key("0oeLcQ");
    let other = vendors::p256_key("f9R3yg");
    let jwks = Idp::start(vendors::iap_jwks(&[&key, &other])).await;
    jwks.move_keys(IAP_KEYS_PATH);
    let pems =
        Idp::start(json!({ key.kid.clone(): key.public_pem, other.kid.clone(): other.public_pem }))
            .await;
    pems.move_keys(IAP_PEM_PATH);
    let es256 = json!({ "alg": "ES256", "typ": "JWT" });
    for (audience, other_form) in [
        (IAP_BACKEND_AUDIENCE, IAP_APP_AUDIENCE),
        (IAP_APP_AUDIENCE, IAP_BACKEND_AUDIENCE),
    ] {
        let url = jwks.jwks_url();
        let sample = Sample::start(
            bin,
            &[
                ("AUTH_GATEWAY", "google-iap"),
                ("AUTH_AUDIENCE", audience),
                ("AUTH_JWKS_URL", url.as_str()),
            ],
        )
        .await;
        let with = |name: &str, value: Value| {
            let mut claims = iap_claims(audience);
            claims[name] = value;
            iap_token(&key, es256.clone(), &claims)
        };
        let good = iap_token(&key, es256.clone(), &iap_claims(audience));
        let mut unknown = es256.clone();
        unknown["kid"] = json!("unpublished");
        let cases = [
            ("a good assertion", good.clone(), true),
            (
                "the other published key",
                iap_token(&other, es256.clone(), &iap_claims(audience)),
                true,
            ),
            (
                "the other audience form",
                with("aud", json!(other_form)),
                false,
            ),
            (
                "another backend service",
                with(
                    "aud",
                    json!("/projects/123456789012/global/backendServices/1"),
                ),
                false,
            ),
            (
                "another issuer",
                with("iss", json!("https://accounts.google.com")),
                false,
            ),
            ("expired", with("exp", json!(now() - 3600)), false),
            (
                "signed by the other key under this kid",
                vendors::sign(
                    &json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid }),
                    &iap_claims(audience),
                    &other.encoding,
                    Algorithm::ES256,
                ),
                false,
            ),
            (
                "an unpublished kid",
                vendors::sign(
                    &unknown,
                    &iap_claims(audience),
                    &key.encoding,
                    Algorithm::ES256,
                ),
                false,
            ),
            ("a replaced payload", tampered(&good, false), false),
        ];
        assert_agree(
            &sample,
            "x-goog-iap-jwt-assertion",
            json!({
                "gateway": "google-iap",
                "audience": audience,
                "publicKeyUrl": pems.jwks_url(),
            }),
            &cases,
        )
        .await;
    }
}

/// Cloudflare Access assertions: the samples and `jose`, used as Cloudflare documents it,
/// agree on each, accepted or refused.
async fn interop_cloudflare_jose(bin: &str) {
    let kid = "0b6f7ad3a84ba5e6c0bd72ee15e6a8e4d1d6a0e8e1e0c9a1bb2b3c4d5e6f7a8b";
    let key = vendors::cloudflare_key(kid);
    let next = vendors::cloudflare_key(&"9".repeat(64));
    let idp = Idp::start(vendors::cloudflare_certs(&[&key, &next])).await;
    idp.move_keys(CF_CERTS_PATH);
    let url = idp.jwks_url();
    let sample = Sample::start(
        bin,
        &[
            ("AUTH_GATEWAY", "cloudflare-access"),
            ("AUTH_ISSUER", CF_TEAM),
            ("AUTH_AUDIENCE", CF_AUD),
            ("AUTH_JWKS_URL", url.as_str()),
        ],
    )
    .await;
    let rs256 = json!({ "alg": "RS256", "kid": kid, "typ": "JWT" });
    let sign = |claims: &Value| vendors::sign(&rs256, claims, &key.encoding, Algorithm::RS256);
    let with = |name: &str, value: Value| {
        let mut claims = cloudflare_claims(CF_AUD);
        claims[name] = value;
        sign(&claims)
    };
    let good = sign(&cloudflare_claims(CF_AUD));
    let ec = vendors::p256_key(kid);
    let cases = [
        ("a good assertion", good.clone(), true),
        (
            "the AUD tag among others",
            with("aud", json!(["another-application", CF_AUD])),
            true,
        ),
        (
            "the next key",
            vendors::sign(
                &json!({ "alg": "RS256", "kid": next.kid, "typ": "JWT" }),
                &cloudflare_claims(CF_AUD),
                &next.encoding,
                Algorithm::RS256,
            ),
            true,
        ),
        (
            "another application",
            with("aud", json!(["0".repeat(64)])),
            false,
        ),
        (
            "another team",
            with("iss", json!("https://evil.cloudflareaccess.com")),
            false,
        ),
        ("expired", with("exp", json!(now() - 3600)), false),
        (
            "signed by the next key under this kid",
            vendors::sign(
                &rs256,
                &cloudflare_claims(CF_AUD),
                &next.encoding,
                Algorithm::RS256,
            ),
            false,
        ),
        (
            "ES256 under an RSA key's kid",
            vendors::sign(
                &json!({ "alg": "ES256", "kid": kid }),
                &cloudflare_claims(CF_AUD),
                &ec.encoding,
                Algorithm::ES256,
            ),
            false,
        ),
        ("a replaced payload", tampered(&good, false), false),
    ];
    assert_agree(
        &sample,
        "cf-access-jwt-assertion",
        json!({
            "gateway": "cloudflare-access",
            "teamDomain": CF_TEAM,
            "audience": CF_AUD,
            "certsUrl": url,
        }),
        &cases,
    )
    .await;
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(interop_alb_aws_jwt_verify),
    case!(interop_iap_google_auth_library),
    case!(interop_cloudflare_jose),
];
