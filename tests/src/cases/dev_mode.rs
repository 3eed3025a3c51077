//! Development mode: no issuer configured, so the sample runs its own development issuer,
//! prints working curl commands and a demo API key, and serves `/dev/token`; with a real
//! issuer, none of that exists.

use serde_json::json;

use super::Case;
use super::support::{assert_granted, remote};
use crate::raw::raw_get;
use crate::sample::Sample;

/// Dev mode: the printed curl commands work, and `/dev/token` mints usable tokens.
async fn banner_and_minted_tokens_are_accepted(bin: &str) {
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
async fn demo_api_key_is_printed_and_accepted(bin: &str) {
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
async fn dev_routes_absent_with_a_real_issuer(bin: &str) {
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

/// Outside development mode its paths answer `404` for every method; in development mode a
/// wrong method still gets `405` with `Allow`.
async fn dev_paths_absent_for_every_method(bin: &str) {
    let r = remote(bin, &[]).await;
    let dev = Sample::start(bin, &[]).await;
    for path in [
        "/dev/token",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        for method in [
            reqwest::Method::GET,
            reqwest::Method::POST,
            reqwest::Method::DELETE,
        ] {
            let resp = r
                .sample
                .request(method.clone(), path, &[], Some(b"{}".to_vec()))
                .await;
            assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
            assert_eq!(resp.error(), "not_found", "{method} {path}");
        }
    }
    for (method, path, allow) in [
        (reqwest::Method::GET, "/dev/token", "POST"),
        (reqwest::Method::POST, "/.well-known/jwks.json", "GET, HEAD"),
    ] {
        let resp = dev.request(method.clone(), path, &[], None).await;
        assert_eq!(resp.status, 405, "dev mode {method} {path}: {}", resp.text);
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
}

/// `AUTH_DEV_MODE=1` allows development mode on every interface.
async fn on_all_interfaces_when_asked(bin: &str) {
    let s = Sample::start(bin, &[("HOST", "0.0.0.0"), ("AUTH_DEV_MODE", "1")]).await;
    let port = s.authority().rsplit(':').next().expect("a port");
    let answer = raw_get(&format!("127.0.0.1:{port}"), b"/public", "").await;
    assert_eq!(answer.status, 200);
    s.wait_stdout("DEVELOPMENT MODE").await;
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(banner_and_minted_tokens_are_accepted),
    case!(demo_api_key_is_printed_and_accepted),
    case!(dev_routes_absent_with_a_real_issuer),
    case!(dev_paths_absent_for_every_method),
    case!(on_all_interfaces_when_asked),
];
