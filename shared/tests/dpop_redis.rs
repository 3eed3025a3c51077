//! The Redis replay store against a real `redis-server` on loopback: one server per test,
//! started on a free port in a temporary directory, killed, frozen and restarted as a test
//! needs. The server is found by `test_keys::redis_server_binary` (the one
//! `scripts/interop-deps` installs, Debian's, or where `REDIS_SERVER` says): without one
//! these tests fail, they do not skip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use api_auth::{
    DpopError, DpopVerifier, Freshness, ProofDefect, PublicOrigin, RedisReplayOptions,
    RedisReplayStore, RedisStoreError, ReplayKey, ReplayStore, ReplayStoreError,
};
use aws_lc_rs::digest::{SHA256, digest};
use serde_json::json;
use test_keys::{TestKey, b64, now, sign_raw};

/// The bound on one check in these tests.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// What a loaded machine may add to a bound before the test notices it was kept.
const SCHEDULING_SLACK: Duration = Duration::from_millis(400);

/// How long a started server may take to answer, and a restarted store to reconnect.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A `redis-server` process on loopback, killed and its directory removed on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free port.
    fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = Self::start_on(port) {
                return server;
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Starts a server on `port`; `None` when it exits at once (the port was taken).
    fn start_on(port: u16) -> Option<Self> {
        let program = test_keys::redis_server_binary().unwrap_or_else(|| {
            panic!("redis-server is missing: {}", test_keys::REDIS_INSTALL_HINT)
        });
        let dir = std::env::temp_dir().join(format!(
            "api-auth-redis-{}-{port}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let child = Command::new(&program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let mut server = Self {
            child: Some(child),
            port,
            dir,
        };
        server.wait_until_ready().then_some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> String {
        self.child.as_ref().map_or(0, Child::id).to_string()
    }

    /// Polls, bounded, until the server answers `PING`; false if it exited.
    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + READY_WITHIN;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                return false;
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200))
            {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} not ready within {READY_WITHIN:?}",
            self.port
        );
    }

    /// Kills the server and waits for it to exit.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the server (`STOP` freezes it, `CONT` resumes it).
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a frozen (SIGSTOP) server too.
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

async fn store_for(server: &RedisServer) -> RedisReplayStore {
    RedisReplayStore::connect_with(
        &server.url(),
        RedisReplayOptions::default().command_timeout(COMMAND_TIMEOUT),
    )
    .await
    .expect("a valid URL")
}

fn key(label: &str) -> ReplayKey {
    ReplayKey::for_proof("jkt", &format!("{label}-{}", fastrand::u64(..)))
}

const MINUTE: Duration = Duration::from_secs(60);

/// Checks `key` until it is fresh, bounded; returns how long that took.
async fn until_fresh(store: &RedisReplayStore, key: &ReplayKey, ttl: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match store.check_and_remember(key, ttl).await {
            Ok(Freshness::Fresh) => return start.elapsed(),
            other => {
                assert!(
                    start.elapsed() < READY_WITHIN,
                    "never fresh within {READY_WITHIN:?}: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_key_is_fresh_once_then_a_replay() {
    let server = RedisServer::start();
    let store = store_for(&server).await;
    let first = key("once");
    assert_eq!(
        store.check_and_remember(&first, MINUTE).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        store.check_and_remember(&first, MINUTE).await,
        Ok(Freshness::Replayed)
    );
    assert_eq!(
        store.check_and_remember(&key("other"), MINUTE).await,
        Ok(Freshness::Fresh)
    );
}

#[tokio::test]
async fn a_key_is_forgotten_when_its_time_is_up() {
    let server = RedisServer::start();
    let store = store_for(&server).await;
    let short = Duration::from_millis(300);
    let expiring = key("ttl");
    assert_eq!(
        store.check_and_remember(&expiring, short).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        store.check_and_remember(&expiring, short).await,
        Ok(Freshness::Replayed)
    );
    let forgotten_after = until_fresh(&store, &expiring, MINUTE).await;
    // Not before its time (Redis expires keys to the millisecond), and not much after.
    assert!(
        forgotten_after >= Duration::from_millis(250),
        "{forgotten_after:?}"
    );
    assert!(
        forgotten_after < Duration::from_secs(2),
        "{forgotten_after:?}"
    );
    assert_eq!(
        store.check_and_remember(&expiring, MINUTE).await,
        Ok(Freshness::Replayed)
    );
}

#[tokio::test]
async fn a_dead_server_refuses_within_the_bound_and_a_restarted_one_serves_again() {
    let mut server = RedisServer::start();
    let store = store_for(&server).await;
    assert_eq!(
        store.check_and_remember(&key("up"), MINUTE).await,
        Ok(Freshness::Fresh)
    );

    server.kill();
    for _ in 0..3 {
        let start = Instant::now();
        let result = store.check_and_remember(&key("down"), MINUTE).await;
        let took = start.elapsed();
        assert!(
            matches!(
                result,
                Err(ReplayStoreError::Unavailable(_) | ReplayStoreError::Timeout)
            ),
            "{result:?}"
        );
        assert!(took < COMMAND_TIMEOUT + SCHEDULING_SLACK, "{took:?}");
    }

    let restarted = RedisServer::start_on(server.port).expect("the port is free again");
    let took = until_fresh(&store, &key("back"), MINUTE).await;
    assert!(took < READY_WITHIN, "{took:?}");
    drop(restarted);
}

#[tokio::test]
async fn a_frozen_server_times_out_and_then_answers_again() {
    let server = RedisServer::start();
    let store = store_for(&server).await;
    assert_eq!(
        store.check_and_remember(&key("up"), MINUTE).await,
        Ok(Freshness::Fresh)
    );

    server.signal("STOP");
    let start = Instant::now();
    let result = store.check_and_remember(&key("frozen"), MINUTE).await;
    let took = start.elapsed();
    server.signal("CONT");
    assert!(
        matches!(
            result,
            Err(ReplayStoreError::Timeout | ReplayStoreError::Unavailable(_))
        ),
        "{result:?}"
    );
    assert!(
        took >= COMMAND_TIMEOUT - Duration::from_millis(50),
        "{took:?}"
    );
    assert!(took < COMMAND_TIMEOUT + SCHEDULING_SLACK, "{took:?}");
    until_fresh(&store, &key("thawed"), MINUTE).await;
}

#[tokio::test]
async fn an_unreachable_server_at_start_up_refuses_proofs_until_it_answers() {
    let port = free_port();
    let store = RedisReplayStore::connect_with(
        &format!("redis://127.0.0.1:{port}"),
        RedisReplayOptions::default().command_timeout(COMMAND_TIMEOUT),
    )
    .await
    .expect("a server that is down is not a configuration error");
    assert!(store.ping().await.is_err());
    assert!(
        store
            .check_and_remember(&key("none"), MINUTE)
            .await
            .is_err()
    );
    let server = RedisServer::start_on(port).expect("the port is free");
    until_fresh(&store, &key("late"), MINUTE).await;
    drop(server);
}

#[tokio::test]
async fn invalid_urls_and_bounds_are_refused() {
    for url in [
        "",
        "127.0.0.1:6379",
        "http://127.0.0.1:6379",
        "rediss://127.0.0.1:6379",
        "redis://",
    ] {
        assert_eq!(
            RedisReplayStore::connect(url).await.map(|_| ()),
            Err(RedisStoreError::InvalidUrl),
            "{url}"
        );
    }
    assert_eq!(
        RedisReplayStore::connect_with(
            "redis://127.0.0.1:1",
            RedisReplayOptions::default().command_timeout(Duration::ZERO)
        )
        .await
        .map(|_| ()),
        Err(RedisStoreError::ZeroTimeout)
    );
}

/// The captured log text of the whole process.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn credentials_in_the_url_are_never_shown() {
    let logs = logs();
    let server = RedisServer::start();
    // The server has no password: the connection is refused, and that is logged.
    let url = format!("redis://user:hunter2-secret@127.0.0.1:{}", server.port);
    let store = RedisReplayStore::connect(&url).await.expect("a valid URL");
    assert!(
        store
            .check_and_remember(&key("auth"), MINUTE)
            .await
            .is_err()
    );
    let shown = format!("{store:?}");
    assert!(
        shown.contains(&format!("127.0.0.1:{}", server.port)),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    assert!(text.contains("DPoP replay store unreachable"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

// Through the verifier: replicas sharing one server.

fn signed_proof(key: &TestKey, token: &str, jti: &str) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
    let claims = json!({
        "jti": jti,
        "htm": "GET",
        "htu": "https://api.example.com/protected",
        "iat": now(),
        "ath": b64(digest(&SHA256, token.as_bytes())),
    });
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        &key.encoding,
        key.alg,
    )
}

async fn replica(server: &RedisServer) -> DpopVerifier {
    DpopVerifier::builder(
        PublicOrigin::parse("https://api.example.com").expect("an origin"),
        Arc::new(store_for(server).await),
    )
    .build()
    .expect("a valid configuration")
}

#[tokio::test]
async fn a_proof_accepted_by_one_replica_is_a_replay_at_another() {
    let mut server = RedisServer::start();
    let (a, b) = (replica(&server).await, replica(&server).await);
    let key = TestKey::p256("client");
    let token = "a.bound.token";
    let proof = signed_proof(&key, token, "jti-1");
    assert!(a.verify(&proof, "GET", "/protected", token).await.is_ok());
    assert_eq!(
        b.verify(&proof, "GET", "/protected", token).await,
        Err(DpopError::InvalidProof(ProofDefect::Replayed))
    );
    assert_eq!(
        a.verify(&proof, "GET", "/protected", token).await,
        Err(DpopError::InvalidProof(ProofDefect::Replayed))
    );

    server.kill();
    let fresh = signed_proof(&key, token, "jti-2");
    let refusal = b
        .verify(&fresh, "GET", "/protected", token)
        .await
        .unwrap_err();
    assert!(
        matches!(refusal, DpopError::ReplayStoreUnavailable(_)),
        "{refusal:?}"
    );
    assert_eq!(refusal.status(), 503);
}
