//! The budget of fetches for unknown AWS ALB `kid`s, against a real key server on loopback:
//! a flood of assertions naming random `kid`s (the public `signer`, a future `exp` and a
//! signature of zero bytes are all it takes) starts at most 10 fetches per cooldown, while
//! a new `kid` that real traffic carries is fetched and its assertions accepted within two
//! cooldowns; the refusals are logged as one summary line per cooldown, not per request.
//!
//! The logs are captured by a process-wide subscriber (`common/log_capture.rs` says why), so
//! this binary holds this one test.

#[path = "common/log_capture.rs"]
mod log_capture;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_auth::{Auth, AuthError, HttpRequestHead, Issuer, KeySetPolicy};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use log_capture::{capture, lock};
use serde_json::{Value, json};
use test_keys::{TestKey, mint_with_header, now};

const ARN: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/50dc6c495c0c9188";
const REAL_KID: &str = "7e4f8d32-0b8a-4ea4-ae5a-8b6f1a7e2c10";
/// Long enough that scheduling on a loaded machine is small beside it: the contract's
/// bound for a rotation is two cooldowns.
const COOLDOWN: Duration = Duration::from_secs(3);
/// The contract's budget: fetches for unknown kids started per cooldown.
const BUDGET: usize = 10;
/// Forged assertions sent at once, every [`FLOOD_PAUSE`], until the rotation is through.
const FLOOD_BATCH: usize = 25;
const FLOOD_PAUSE: Duration = Duration::from_millis(40);

/// The region's key server: one PEM per published `kid`, `404` for any other; counts
/// every request per `kid`.
#[derive(Default)]
struct Keys {
    pems: Mutex<HashMap<String, String>>,
    fetches: Mutex<HashMap<String, usize>>,
}

impl Keys {
    fn fetches_of(&self, kid: &str) -> usize {
        lock(&self.fetches).get(kid).copied().unwrap_or(0)
    }

    fn fetches(&self) -> usize {
        lock(&self.fetches).values().sum()
    }
}

async fn serve_key(State(keys): State<Arc<Keys>>, Path(kid): Path<String>) -> Response {
    *lock(&keys.fetches).entry(kid.clone()).or_default() += 1;
    match lock(&keys.pems).get(&kid).cloned() {
        Some(pem) => (StatusCode::OK, pem).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn key_server(keys: Arc<Keys>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the key server");
    let addr = listener.local_addr().expect("key server address");
    let app = Router::new()
        .route("/{kid}", get(serve_key))
        .with_state(keys);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn alb_header(kid: &str) -> Value {
    json!({ "alg": "ES256", "kid": kid, "signer": ARN, "exp": now() + 120 })
}

/// What the attacker sends: a fresh kid, the public signer, and 64 zero bytes as signature.
fn forged(kid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(alb_header(kid).to_string());
    let payload = URL_SAFE_NO_PAD.encode(json!({ "sub": "mallory" }).to_string());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]))
}

fn real(key: &TestKey, n: usize) -> String {
    let claims = json!({ "sub": "alice", "n": n, "exp": now() + 120 });
    mint_with_header(
        &alb_header(REAL_KID),
        &claims,
        &key.encoding,
        Algorithm::ES256,
    )
}

async fn authenticate(auth: &Auth, token: &str) -> Result<(), AuthError> {
    let request = http::Request::get("/orders")
        .header("x-amzn-oidc-data", token)
        .body(())
        .expect("request");
    auth.authenticate(&HttpRequestHead::new(request.headers(), request.uri()))
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_kids_fetches_within_the_budget_and_a_rotation_still_gets_through() {
    let logs = capture("api_auth=info");
    let keys = Arc::new(Keys::default());
    let addr = key_server(Arc::clone(&keys)).await;
    let real_key = TestKey::p256(REAL_KID);
    lock(&keys.pems).insert(REAL_KID.to_owned(), real_key.public_pem.clone());
    let policy = KeySetPolicy {
        refetch_cooldown: COOLDOWN,
        ..KeySetPolicy::default()
    };
    let started = Instant::now();
    let auth = Auth::builder()
        .issuer(
            Issuer::aws_alb(ARN)
                .and_then(|alb| alb.key_url(&format!("http://{addr}/")))
                .expect("ALB issuer"),
        )
        .key_set_policy(policy)
        .build()
        .expect("auth");

    // The flood: random kids, FLOOD_BATCH at a time, until the rotation is through.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let auth = auth.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut refusals: HashMap<(u16, bool), usize> = HashMap::new();
            let mut batch = 0u32;
            while !stop.load(Ordering::Acquire) {
                batch += 1;
                let tokens: Vec<String> = (0..FLOOD_BATCH)
                    .map(|i| forged(&format!("{:08x}-{batch:04}-{i:04}", fastrand::u32(..))))
                    .collect();
                let results = futures_util::future::join_all(
                    tokens.iter().map(|token| authenticate(&auth, token)),
                )
                .await;
                for result in results {
                    let error = result.expect_err("a forged assertion was accepted");
                    let deferred = matches!(error, AuthError::KeyFetchDeferred { .. });
                    *refusals.entry((error.status(), deferred)).or_default() += 1;
                }
                tokio::time::sleep(FLOOD_PAUSE).await;
            }
            refusals
        })
    };

    // A cooldown into the flood, the load balancer rotates: real traffic, every 20 ms,
    // carries the new kid until one of its assertions is accepted.
    tokio::time::sleep(COOLDOWN + COOLDOWN / 2).await;
    let rotation = Instant::now();
    let mut n = 0;
    let accepted_after = loop {
        n += 1;
        let sent = Instant::now();
        match authenticate(&auth, &real(&real_key, n)).await {
            Ok(()) => break sent.duration_since(rotation),
            Err(AuthError::KeyFetchDeferred { retry_after_secs }) => {
                assert!(
                    (1..=COOLDOWN.as_secs()).contains(&retry_after_secs),
                    "a retry within the cooldown, not {retry_after_secs} s"
                );
            }
            Err(other) => panic!("the real assertion was refused: {other:?}"),
        }
        assert!(
            rotation.elapsed() < 3 * COOLDOWN,
            "the real kid was starved by the flood"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        accepted_after < 2 * COOLDOWN,
        "the real kid was accepted {accepted_after:?} after it appeared"
    );
    for more in 0..20 {
        authenticate(&auth, &real(&real_key, n + 1 + more))
            .await
            .expect("the real kid, once fetched");
    }
    assert_eq!(keys.fetches_of(REAL_KID), 1, "the real kid");

    stop.store(true, Ordering::Release);
    let refusals = flood.await.expect("the flood task");
    let sent: usize = refusals.values().sum();
    let elapsed = started.elapsed();
    let cooldowns = elapsed.as_secs_f64() / COOLDOWN.as_secs_f64();
    let random_fetches = keys.fetches() - keys.fetches_of(REAL_KID);
    // No cooldown holds more than the budget, so neither does the whole run, cut in spans of
    // one cooldown (the real kid's fetch is one of the budget's too).
    let allowed = BUDGET * (cooldowns.ceil() as usize);
    assert!(
        random_fetches < allowed,
        "{random_fetches} fetches for random kids in {elapsed:?}: more than {allowed}"
    );
    assert!(random_fetches > 0, "the budget fetched nothing");
    let deferred = refusals.get(&(503, true)).copied().unwrap_or(0);
    let unknown = refusals.get(&(401, false)).copied().unwrap_or(0);
    assert_eq!(
        deferred + unknown,
        sent,
        "refused otherwise than 503 deferred or 401: {refusals:?}"
    );
    assert_eq!(unknown, random_fetches, "each fetched random kid is a 401");

    // A few lines per fetch, one summary per cooldown: never a line per refused request.
    let text = String::from_utf8(lock(logs).clone()).expect("UTF-8 logs");
    let lines = text.lines().count();
    let summaries = text
        .lines()
        .filter(|line| line.contains("refused without a fetch in the last cooldown"))
        .count();
    assert!(summaries >= 1, "no summary of the refusals:\n{text}");
    assert!(
        summaries <= cooldowns.ceil() as usize,
        "{summaries} summaries in {cooldowns:.1} cooldowns"
    );
    let fetches = random_fetches + 1;
    assert!(
        lines <= 4 * fetches + summaries,
        "{lines} log lines for {fetches} fetches and {deferred} refusals:\n{text}"
    );
    println!(
        "{sent} forged assertions in {elapsed:?}: {random_fetches} fetches of random kids, \
         {deferred} refused without a fetch, {lines} log lines ({summaries} summaries); \
         the real kid accepted {accepted_after:?} after it appeared"
    );
}
