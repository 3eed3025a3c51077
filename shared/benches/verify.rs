//! What `api-auth` adds on top of the signature check.
//!
//! For RS256, ES256 and EdDSA tokens: [`Auth::verify`] with the token cache off (every call
//! parses the token, picks the key, checks the signature and the claims) against
//! `jsonwebtoken::crypto::verify` on the same bytes with the same key and backend
//! (aws-lc-rs), which is the signature check `Auth` itself performs. Then a token-cache hit
//! and an API-key lookup.
//!
//! The keys are generated at start-up and served as a JWK set by a small axum server on
//! loopback, so `Auth` loads them the way it does in production.
//!
//! ```sh
//! cargo bench -p api-auth --bench verify
//! ```

use std::hint::black_box;

use api_auth::{ApiKeys, Auth, Issuer, KeySource};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const ISSUER: &str = "https://issuer.bench.example";

/// A signing key, its public JWK and the verifying key `api-auth` would build from that JWK.
struct BenchKey {
    alg: Algorithm,
    kid: &'static str,
    jwk: Value,
    signing: EncodingKey,
    verifying: DecodingKey,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key() -> BenchKey {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let pkcs8 = key.as_der().expect("PKCS#8 export");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    let public = key.public_key();
    let n = public.modulus().big_endian_without_leading_zero();
    let e = public.exponent().big_endian_without_leading_zero();
    BenchKey {
        alg: Algorithm::RS256,
        kid: "rsa-1",
        jwk: json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rsa-1", "n": b64(n), "e": b64(e) }),
        signing: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA signing key"),
        verifying: DecodingKey::from_rsa_raw_components(n, e),
    }
}

fn ec_key() -> BenchKey {
    let key =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation");
    let pkcs8 = key.to_pkcs8v1().expect("PKCS#8 export");
    let point = key.public_key().as_ref();
    BenchKey {
        alg: Algorithm::ES256,
        kid: "ec-1",
        jwk: json!({ "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "ec-1",
                     "x": b64(&point[1..33]), "y": b64(&point[33..]) }),
        signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
        verifying: DecodingKey::from_ec_der(point),
    }
}

fn ed_key() -> BenchKey {
    let key = Ed25519KeyPair::generate().expect("Ed25519 key generation");
    let pkcs8 = key.to_pkcs8().expect("PKCS#8 export");
    let x = key.public_key().as_ref();
    BenchKey {
        alg: Algorithm::EdDSA,
        kid: "ed-1",
        jwk: json!({ "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "ed-1", "x": b64(x) }),
        signing: EncodingKey::from_ed_der(pkcs8.as_ref()),
        verifying: DecodingKey::from_ed_der(x),
    }
}

impl BenchKey {
    /// A token valid for an hour, as a gateway would issue it.
    fn token(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let claims = json!({
            "iss": ISSUER, "sub": "bench-user", "iat": now, "exp": now + 3600,
            "roles": ["user"], "scope": "read write",
        });
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.signing).expect("signing")
    }
}

/// Serves `{"keys": [...]}` at `http://127.0.0.1:PORT/jwks.json`; returns that URL.
fn serve_jwks(runtime: &Runtime, keys: &[BenchKey]) -> String {
    let document = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    runtime.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
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
    let keys = [rsa_key(), ec_key(), ed_key()];
    let jwks_url = serve_jwks(&runtime, &keys);
    let tokens: Vec<String> = keys.iter().map(BenchKey::token).collect();
    let uncached = auth(&runtime, &jwks_url, 0, &tokens[0]);

    for (key, token) in keys.iter().zip(&tokens) {
        let (signing_input, signature) = token.rsplit_once('.').expect("three-part token");
        assert!(verify_now(&uncached, token), "{:?} token verifies", key.alg);
        assert!(
            jsonwebtoken::crypto::verify(
                signature,
                signing_input.as_bytes(),
                &key.verifying,
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
                    &key.verifying,
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
