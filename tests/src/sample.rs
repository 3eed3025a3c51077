//! A sample binary under test: started on port 0 with a clean environment, stopped on drop.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How long a sample may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running sample process.
pub struct Sample {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    client: reqwest::Client,
}

fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn command(bin: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn collect(reader: impl tokio::io::AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = lock(&into);
            text.push_str(&line);
            text.push('\n');
        }
    });
}

/// A client that follows no redirect and uses no proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

impl Sample {
    /// Starts `bin` with exactly these variables (plus `PATH`, `HOST`, `PORT=0`, `RUST_LOG`)
    /// and waits for its `listening on` line.
    pub async fn start(bin: &str, env: &[(&str, &str)]) -> Self {
        let mut child = command(bin, env)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_text = Arc::new(Mutex::new(String::new()));
        collect(
            child.stderr.take().expect("stderr is piped"),
            Arc::clone(&stderr_text),
        );
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, async {
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) if line.starts_with("listening on ") => return Some(line),
                    Ok(Some(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        let Some(line) = first else {
            let _ = child.kill().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "{bin} did not print its listening line; stderr:\n{}",
                lock(&stderr_text)
            );
        };
        let base = line.trim_start_matches("listening on ").trim().to_owned();
        let stdout_text = Arc::new(Mutex::new(String::new()));
        collect(lines.into_inner(), Arc::clone(&stdout_text));
        Self {
            child,
            base,
            stdout: stdout_text,
            stderr: stderr_text,
            client: client(),
        }
    }

    /// Runs `bin` expecting it to refuse to start; returns its exit code and stderr.
    pub async fn start_failure(bin: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
        let output = tokio::time::timeout(START_TIMEOUT, command(bin, env).output())
            .await
            .expect("a refused configuration must exit promptly")
            .expect("run sample");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `host:port` of the sample.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Everything printed on stdout after the `listening on` line so far.
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// Everything logged on stderr so far.
    pub fn logs(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Waits until stdout contains `needle` (the dev banner follows the listening line).
    pub async fn wait_stdout(&self, needle: &str) -> String {
        for _ in 0..100 {
            let text = self.stdout();
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("stdout never contained {needle:?}:\n{}", self.stdout());
    }

    /// `GET path` with these headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.request(reqwest::Method::GET, path, headers, None)
            .await
    }

    /// `GET path` with a bearer token.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Resp {
        self.get(path, &[("authorization", &format!("Bearer {token}"))])
            .await
    }

    /// A request with raw header values (which may be non-UTF-8) and an optional body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(value.as_bytes()).expect("header value"),
            );
        }
        self.send(method, path, map, body).await
    }

    /// Sends a request with a prepared header map.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        Resp::read(response).await
    }

    /// Writes raw bytes on a fresh connection and returns the status line's code (`None`
    /// when the server closes without answering, which also counts as a refusal).
    pub async fn raw(&self, bytes: &[u8]) -> Option<u16> {
        let mut stream = tokio::net::TcpStream::connect(self.authority())
            .await
            .ok()?;
        stream.write_all(bytes).await.ok()?;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        })
        .await;
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Resp {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` member of the body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }
}
