//! What `api-auth` adds on top of the signature check.
//!
//! For RS256, ES256 and EdDSA tokens: [`Auth::verify`] with the token cache off (every call
//! parses the token, picks the key, checks the signature and the claims) against
//! `jsonwebtoken::crypto::verify` on the same bytes with the same key and backend
//! (aws-lc-rs), which is the signature check `Auth` itself performs. Then a token-cache hit
//! and an API-key lookup.
//!
//! The keys are generated at start-up by `test-keys` and served as a JWK set by its identity
//! provider on loopback, so `Auth` loads them the way it does in production.
//!
//! ```sh
//! cargo bench -p api-auth --bench verify
//! ```

use std::hint::black_box;

use api_auth::{ApiKeys, Auth, Issuer, KeySource};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use serde_json::json;
use test_keys::{Idp, TestKey, jwks_of, mint, now};
use tokio::runtime::Runtime;

const ISSUER: &str = "https://issuer.bench.example";

/// `key` as a gateway's issuer publishes it: for signing only, with its algorithm named.
fn published(key: TestKey) -> TestKey {
    let alg = format!("{:?}", key.alg);
    key.with_jwk_member("use", "sig")
        .with_jwk_member("alg", &alg)
}

/// A token valid for an hour, as a gateway would issue it.
fn token(key: &TestKey) -> String {
    let now = now();
    let claims = json!({
        "iss": ISSUER, "sub": "bench-user", "iat": now, "exp": now + 3600,
        "roles": ["user"], "scope": "read write",
    });
    mint(key, &claims)
}

/// An [`Auth`] verifying against `jwks_url`, with `cache_size` tokens remembered, whose key
/// set is loaded (by verifying `warm_up` once).
fn auth(runtime: &Runtime, jwks_url: &str, cache_size: usize, warm_up: &str) -> Auth {
    let _context = runtime.enter();
    let source = KeySource::jwks_url(jwks_url).expect("JWKS URL");
    let auth = Auth::builder()
        .issuer(Issuer::new(ISSUER, source).expect("issuer"))
        .token_cache_size(cache_size)
        .build()
        .expect("Auth");
    runtime
        .block_on(auth.verify(warm_up))
        .expect("the warm-up token verifies");
    auth
}

/// Runs `auth.verify(token)`, which completes without waiting once the key set is loaded.
fn verify_now(auth: &Auth, token: &str) -> bool {
    auth.verify(token)
        .now_or_never()
        .expect("verification does not wait when the key is known")
        .is_ok()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("Tokio runtime");
    let keys = [
        published(TestKey::rsa("rsa-1")),
        published(TestKey::p256("ec-1")),
        published(TestKey::ed25519("ed-1")),
    ];
    let jwks: Vec<_> = keys.iter().map(|key| &key.jwk).collect();
    let idp = runtime.block_on(Idp::start(jwks_of(&jwks)));
    let jwks_url = idp.jwks_url();
    let tokens: Vec<String> = keys.iter().map(token).collect();
    let uncached = auth(&runtime, &jwks_url, 0, &tokens[0]);

    for (key, token) in keys.iter().zip(&tokens) {
        let (signing_input, signature) = token.rsplit_once('.').expect("three-part token");
        assert!(verify_now(&uncached, token), "{:?} token verifies", key.alg);
        assert!(
            jsonwebtoken::crypto::verify(
                signature,
                signing_input.as_bytes(),
                &key.decoding,
                key.alg
            )
            .expect("signature check"),
            "{:?} signature verifies",
            key.alg
        );

        let mut group = c.benchmark_group(format!("verify_{:?}", key.alg));
        group.bench_function("auth_verify_no_cache", |b| {
            b.iter(|| verify_now(&uncached, black_box(token)))
        });
        group.bench_function("signature_only", |b| {
            b.iter(|| {
                jsonwebtoken::crypto::verify(
                    black_box(signature),
                    black_box(signing_input.as_bytes()),
                    &key.decoding,
                    key.alg,
                )
            })
        });
        group.finish();
    }

    let cached = auth(&runtime, &jwks_url, 10_000, &tokens[0]);
    c.bench_function("token_cache/hit_RS256", |b| {
        b.iter(|| verify_now(&cached, black_box(&tokens[0])))
    });

    let api_keys = ApiKeys::parse(
        "alice:ak_5tW9q2Lm0xVb7Rk3,bob:ak_Jd8Hs1Pq6Zc4Ny2W,carol:ak_Qe3Vt7Bm9Ku1Lx5D",
    )
    .expect("API_KEYS");
    let mut group = c.benchmark_group("api_key");
    group.bench_function("lookup_hit", |b| {
        b.iter(|| api_keys.lookup(black_box(b"ak_Qe3Vt7Bm9Ku1Lx5D")))
    });
    group.bench_function("lookup_miss", |b| {
        b.iter(|| api_keys.lookup(black_box(b"ak_wrong-key-000000")))
    });
    group.finish();
}

criterion_group!(verify, benches);
criterion_main!(verify);
