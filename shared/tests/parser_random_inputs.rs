//! The fuzz targets' checks of the fetched-document parsers (`fuzz/fuzz_targets/parse_jwks.rs`,
//! `parse_jwks_around_a_key.rs`, `parse_discovery.rs`), run on their seed corpora and on
//! random mutations of them, so that every test run (a debug build: overflow checks and debug
//! assertions on) covers some of what the fuzzer does without libFuzzer or a nightly
//! compiler. `API_AUTH_RANDOM_INPUTS` sets the number of mutated inputs per target (default
//! 3000); each run prints its seed, which `API_AUTH_RANDOM_SEED` replays.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use api_auth::{KeySetPolicy, discovery_jwks_uri, parse_jwks};
use serde_json::Value;

const DISCOVERY_ISSUER: &str = "https://idp.fuzz.test";
/// The real key that `parse_jwks_around_a_key` puts first (RFC 8037 §A.2).
const KEY: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"real","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

/// Pieces of JSON that mutations insert, so that mutated inputs stay near JSON.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "0",
    "-1e400",
    "true",
    r#""kty""#,
    r#""kid""#,
    r#""keys""#,
    r#""x""#,
    r#""d""#,
    r#""key_ops""#,
    r#""verify""#,
    r#""issuer""#,
    r#""jwks_uri""#,
    r#""OKP""#,
    r#""RSA""#,
    r#""EC""#,
    r#""Ed25519""#,
    r#""P-256""#,
    r"\u0000",
    r"\ud800",
    r"\u006b",
    "\\",
    "[[[[[[[[",
    "]]]]]]]]",
    r#"{"a":{"a":"#,
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("a seed").path()).expect("a readable seed"))
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// One random mutation (or a few) of a seed, as libFuzzer's simplest mutators make them.
fn mutate(rng: &mut fastrand::Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.usize(..corpus.len())].clone();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=input.len());
        match rng.u8(..6) {
            0 if !input.is_empty() => {
                let i = rng.usize(..input.len());
                input[i] ^= 1 << rng.u8(..8);
            }
            1 => {
                let token = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                input.splice(at..at, token.iter().copied());
            }
            2 if at < input.len() => {
                let end = rng.usize(at..=input.len());
                input.drain(at..end);
            }
            3 => input.truncate(at),
            4 => {
                let other = &corpus[rng.usize(..corpus.len())];
                let from = rng.usize(..=other.len());
                let piece = other[from..rng.usize(from..=other.len())].to_vec();
                input.splice(at..at, piece);
            }
            _ => {
                let token = TOKENS[rng.usize(..TOKENS.len())].repeat(rng.usize(1..200));
                input.splice(at..at, token.into_bytes());
            }
        }
    }
    input
}

/// Runs `check` on every seed of `target` and on mutations of them; prints the figures.
fn run(target: &str, check: fn(&[u8])) {
    let runs: usize = std::env::var("API_AUTH_RANDOM_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let seed = std::env::var("API_AUTH_RANDOM_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let corpus = seeds(target);
    let started = Instant::now();
    for input in &corpus {
        check(input);
    }
    for _ in 0..runs {
        check(&mutate(&mut rng, &corpus));
    }
    println!(
        "{target}: {} seeds and {runs} mutated inputs in {:.2?} (API_AUTH_RANDOM_SEED={seed})",
        corpus.len(),
        started.elapsed()
    );
}

/// `fuzz_targets/parse_jwks.rs`.
fn parse_jwks_target(data: &[u8]) {
    let max_keys = KeySetPolicy::default().max_keys;
    if let Ok(set) = parse_jwks(data, max_keys) {
        assert!(!set.is_empty(), "an accepted key set is empty");
        assert!(set.len() <= max_keys, "{} keys kept", set.len());
        let mut seen = HashSet::new();
        for kid in set.kids() {
            assert!(seen.insert(kid), "duplicate kid {kid:?} kept");
            assert!(set.contains_kid(kid));
        }
    }
}

/// `fuzz_targets/parse_jwks_around_a_key.rs`.
fn parse_jwks_around_a_key_target(data: &[u8]) {
    let mut document = format!(r#"{{"keys":[{KEY},"#).into_bytes();
    document.extend_from_slice(data);
    document.extend_from_slice(b"]}");
    let max_keys = KeySetPolicy::default().max_keys;
    let parsed = parse_jwks(&document, max_keys);
    if serde_json::from_slice::<Value>(&document).is_ok() {
        let set =
            parsed.unwrap_or_else(|e| panic!("{e:?} for {:?}", String::from_utf8_lossy(&document)));
        assert!(set.contains_kid("real"));
        assert!(set.len() <= max_keys, "{} keys kept", set.len());
    }
}

/// `fuzz_targets/parse_discovery.rs`.
fn parse_discovery_target(data: &[u8]) {
    if let Ok(Some(url)) = discovery_jwks_uri(data, DISCOVERY_ISSUER) {
        assert!(
            url.starts_with("https://"),
            "jwks_uri {url:?} for an https issuer"
        );
        if let Ok(document) = serde_json::from_slice::<Value>(data) {
            let issuer = document.get("issuer").and_then(Value::as_str);
            assert!(
                issuer == Some(DISCOVERY_ISSUER) || issuer == Some("https://idp.fuzz.test/"),
                "accepted issuer {issuer:?}"
            );
        }
    }
}

#[test]
fn parse_jwks_inputs() {
    run("parse_jwks", parse_jwks_target);
}

#[test]
fn parse_jwks_around_a_key_inputs() {
    run("parse_jwks_around_a_key", parse_jwks_around_a_key_target);
}

#[test]
fn parse_discovery_inputs() {
    run("parse_discovery", parse_discovery_target);
}
