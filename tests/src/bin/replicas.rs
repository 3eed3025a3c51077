//! Many replicas of one sample against one identity provider, measured: how often they fetch
//! the key set at steady state (with and without refresh jitter), how many fetches a flood of
//! unknown `kid`s causes, and how long a key rotation takes to reach every replica.
//!
//! Run by `scripts/replicas`; loopback only; every phase has a fixed length or a deadline,
//! and the replicas are killed when the run ends. Prints a Markdown report on stdout.
//!
//! ```text
//! replicas --sample PATH [--replicas K] [--steady-secs N] [--max-age N] [--flood-secs N]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conformance::idp::{Idp, jwks_of};
use conformance::keys::{keys, mint, mint_with_header, now};
use conformance::sample::{Sample, client};
use futures_util::future::join_all;
use jsonwebtoken::Algorithm;
use serde_json::json;

/// The samples' default request-triggered refetch cooldown.
const COOLDOWN: Duration = Duration::from_secs(10);
/// Concurrent flood connections per replica.
const FLOOD_WORKERS: usize = 4;
/// How long every replica has to accept a rotated key before the run fails.
const ROTATION_DEADLINE: Duration = Duration::from_secs(60);

/// What the command line asks for.
struct Options {
    sample: String,
    replicas: usize,
    steady: Duration,
    max_age_secs: u64,
    flood: Duration,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        sample: String::new(),
        replicas: 8,
        steady: Duration::from_secs(120),
        max_age_secs: 20,
        flood: Duration::from_secs(20),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [name, value] = pair else {
            return Err(format!("{} has no value", pair[0]));
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name}: not a number"))
        };
        match name.as_str() {
            "--sample" => options.sample.clone_from(value),
            "--replicas" => options.replicas = usize::try_from(number()?).unwrap_or(usize::MAX),
            "--steady-secs" => options.steady = Duration::from_secs(number()?),
            "--max-age" => options.max_age_secs = number()?,
            "--flood-secs" => options.flood = Duration::from_secs(number()?),
            _ => return Err(format!("unknown option {name}")),
        }
    }
    if options.sample.is_empty() {
        return Err("--sample PATH is required".into());
    }
    if !(1..=16).contains(&options.replicas) {
        return Err("--replicas must be between 1 and 16".into());
    }
    if options.max_age_secs == 0 {
        return Err("--max-age must be at least 1".into());
    }
    Ok(options)
}

/// The identity provider, publishing the first RSA key with `max-age` set.
async fn start_provider(max_age_secs: u64) -> Idp {
    let provider = Idp::start(jwks_of(&[&keys().rsa.jwk])).await;
    provider.set_cache_control(&format!("max-age={max_age_secs}"));
    provider
}

/// Waits until `count` key set fetches have happened since `from`.
async fn wait_for_fetches(provider: &Idp, from: Instant, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while provider.fetches_since(from).len() < count {
        assert!(
            Instant::now() < deadline,
            "replicas did not fetch their keys"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The most events inside any window of length `window`.
fn peak(times: &[Instant], window: Duration) -> usize {
    let mut first = 0;
    let mut best = 0;
    for (last, t) in times.iter().enumerate() {
        while t.duration_since(times[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

async fn start_replicas(options: &Options, provider: &Idp, jitter: &str) -> Vec<Sample> {
    let min_ttl = options.max_age_secs.min(60).to_string();
    let issuer = provider.issuer();
    let env = [
        ("AUTH_ISSUER", issuer.as_str()),
        ("AUTH_JWKS_MIN_TTL_SECS", min_ttl.as_str()),
        ("AUTH_JWKS_REFRESH_JITTER_PCT", jitter),
        ("RUST_LOG", "warn"),
    ];
    join_all((0..options.replicas).map(|_| Sample::start(&options.sample, &env))).await
}

/// Phase a: fetches per minute and the busiest second at steady state.
async fn steady_state(options: &Options, provider: &Idp, jitter: &str) -> Vec<Sample> {
    let started = Instant::now();
    let replicas = start_replicas(options, provider, jitter).await;
    // The start-up fetches are not steady state: measure from when they are all done.
    wait_for_fetches(provider, started, options.replicas).await;
    let from = Instant::now();
    tokio::time::sleep(options.steady).await;
    let times: Vec<Instant> = provider
        .fetches_since(from)
        .into_iter()
        .filter(|t| t.duration_since(from) < options.steady)
        .collect();
    let per_minute = times.len() as f64 * 60.0 / options.steady.as_secs_f64();
    println!(
        "| {jitter} % | {} | {per_minute:.1} | {} | {} |",
        times.len(),
        peak(&times, Duration::from_secs(1)),
        peak(&times, Duration::from_secs(5)),
    );
    replicas
}

/// Phase b: every replica receives tokens with never-seen `kid`s for `options.flood`.
async fn flood(options: &Options, provider: &Idp, replicas: &[Sample]) {
    let from = Instant::now();
    let until = from + options.flood;
    let sent = Arc::new(AtomicUsize::new(0));
    let unexpected = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for (r, replica) in replicas.iter().enumerate() {
        for w in 0..FLOOD_WORKERS {
            let url = format!("{}/protected", replica.base);
            let (sent, unexpected) = (Arc::clone(&sent), Arc::clone(&unexpected));
            workers.push(tokio::spawn(async move {
                let http = client();
                let claims = json!({ "sub": "flood", "exp": now() + 600 });
                let mut n = 0u64;
                while Instant::now() < until {
                    n += 1;
                    let header = json!({ "alg": "EdDSA", "kid": format!("flood-{r}-{w}-{n}") });
                    let token =
                        mint_with_header(&header, &claims, &keys().ed.encoding, Algorithm::EdDSA);
                    let status = http
                        .get(&url)
                        .bearer_auth(token)
                        .send()
                        .await
                        .map(|r| r.status());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !matches!(status, Ok(s) if s.as_u16() == 401) {
                        unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for worker in workers {
        worker.await.expect("flood worker");
    }
    let times: Vec<Instant> = provider
        .fetches_since(from)
        .into_iter()
        .filter(|t| *t < until)
        .collect();
    let windows = options.flood.as_secs().div_ceil(COOLDOWN.as_secs()) + 1;
    let bound = options.replicas as u64 * windows;
    println!(
        "| {} s | {} | {} | {} | {bound} | {} | {} |",
        options.flood.as_secs(),
        sent.load(Ordering::Relaxed),
        unexpected.load(Ordering::Relaxed),
        times.len(),
        peak(&times, COOLDOWN),
        options.replicas,
    );
}

/// Phase c: the provider publishes a new key; how long until each replica accepts it.
async fn rotation(provider: &Idp, replicas: &[Sample]) -> Result<(), String> {
    let new_key = &keys().rsa2;
    let token = mint(
        new_key,
        &json!({ "sub": "rotated", "iss": provider.issuer(), "exp": now() + 600 }),
    );
    provider.publish(jwks_of(&[&keys().rsa.jwk, &new_key.jwk]));
    let published = Instant::now();
    let waits = replicas.iter().map(|replica| {
        let url = format!("{}/protected", replica.base);
        let token = token.clone();
        async move {
            let http = client();
            while published.elapsed() < ROTATION_DEADLINE {
                let response = http.get(&url).bearer_auth(&token).send().await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    return Some(published.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        }
    });
    let mut times: Vec<Duration> = join_all(waits)
        .await
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("a replica never accepted the rotated key")?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {} | {:.0} ms | {:.0} ms |",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    let provider = start_provider(options.max_age_secs).await;
    let k = options.replicas;
    println!(
        "## {k} replicas, max-age {} s, steady state measured over {} s\n",
        options.max_age_secs,
        options.steady.as_secs()
    );
    println!("| jitter | key set fetches | per minute | peak in 1 s | peak in 5 s |");
    println!("|---|---|---|---|---|");
    drop(steady_state(&options, &provider, "0").await);
    let replicas = steady_state(&options, &provider, "10").await;

    println!(
        "\n| random-kid flood | requests | not 401 | key set fetches | bound | peak in 10 s | replicas |"
    );
    println!("|---|---|---|---|---|---|---|");
    flood(&options, &provider, &replicas).await;

    // Let every replica's cooldown run out, so the rotation shows the ordinary case.
    tokio::time::sleep(COOLDOWN).await;
    println!("\n| replicas accepting the rotated key | median | max |");
    println!("|---|---|---|");
    let outcome = rotation(&provider, &replicas).await;
    println!(
        "\ndiscovery requests over the whole run: {}",
        provider.discovery_fetches()
    );
    if let Err(message) = outcome {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
