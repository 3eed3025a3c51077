//! The per-token metrics are bound to the recorder installed when `Auth` is built: counts
//! reach that recorder wherever the token is verified later, and an `Auth` built before any
//! recorder reports nothing.

use api_auth::metrics::{
    TOKEN_CACHE_HITS_TOTAL, TOKEN_CACHE_MISSES_TOTAL, VERIFY_DURATION_SECONDS,
};
use api_auth::{Auth, DevIssuer, DevKeyType};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Map, json};

/// A verifier of a development issuer's tokens, and that issuer.
fn development_auth() -> (Auth, DevIssuer) {
    let issuer = DevIssuer::generate_with("http://127.0.0.1:1", None, DevKeyType::EdDsa)
        .expect("generate a development key");
    let auth = Auth::builder()
        .issuer(issuer.as_issuer().expect("the issuer's own URL"))
        .build()
        .expect("build the verifier");
    (auth, issuer)
}

fn token(issuer: &DevIssuer) -> String {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("alice"));
    issuer.mint(claims)
}

/// The per-token metrics the recorder holds: (cache misses, cache hits, verification time
/// samples), each `None` when never registered. Taking them resets them.
fn take(snapshotter: &Snapshotter) -> (Option<u64>, Option<u64>, Option<usize>) {
    let (mut misses, mut hits, mut samples) = (None, None, None);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        match (key.key().name(), value) {
            (TOKEN_CACHE_MISSES_TOTAL, DebugValue::Counter(n)) => misses = Some(n),
            (TOKEN_CACHE_HITS_TOTAL, DebugValue::Counter(n)) => hits = Some(n),
            (VERIFY_DURATION_SECONDS, DebugValue::Histogram(values)) => {
                samples = Some(values.len())
            }
            _ => {}
        }
    }
    (misses, hits, samples)
}

#[tokio::test]
async fn the_recorder_installed_at_build_receives_the_counts() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (auth, issuer) = metrics::with_local_recorder(&recorder, development_auth);
    assert_eq!(take(&snapshotter), (Some(0), Some(0), Some(0)));

    // Verified where that recorder is no longer in scope.
    let token = token(&issuer);
    for _ in 0..3 {
        auth.verify(&token).await.expect("a valid token");
    }
    assert_eq!(take(&snapshotter), (Some(1), Some(2), Some(3)));
}

#[test]
fn an_auth_built_before_the_recorder_reports_nothing_to_it() {
    let (auth, issuer) = development_auth();
    let token = token(&issuer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let verified =
        metrics::with_local_recorder(&recorder, || runtime.block_on(auth.verify(&token)));
    assert!(verified.is_ok());
    assert_eq!(take(&snapshotter), (None, None, None));
}
