//! A real Redis server on loopback for the cases that need a shared store (the DPoP replay
//! store of a fleet): `redis-server` in a temporary directory, without persistence, that a
//! case can stop and restart on the same port to play an outage.
//!
//! The server is found by [`test_keys::redis_server_binary`]: the one `scripts/interop-deps`
//! installs from PyPI, or Debian's `redis-server`. Nothing is mocked: the samples talk to it
//! over TCP like to any Redis.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use test_keys::REDIS_INSTALL_HINT;

/// The server's name in messages.
const BINARY: &str = "redis-server";
/// How long a started server may take to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a killed server's port may take to refuse connections.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many free ports to try when the chosen one is taken before the server binds it.
const PORT_ATTEMPTS: usize = 5;
/// How many times a restart tries to bind the same port again.
const RESTART_ATTEMPTS: usize = 20;
/// One command's answer must come within this: a server that is starting answers at once,
/// and anything else on the port (which may accept and never answer) is not it.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a start did not give a server.
enum StartError {
    /// The port was taken: another port may work.
    PortTaken(String),
    /// Anything else: fail with this message.
    Other(String),
}

/// A running `redis-server`, killed (and its directory removed) on drop.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
}

fn lock(text: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    text.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Appends every line `from` yields to `into`, in the background, until it closes.
fn collect(
    from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = lock(&into);
            text.push_str(&line);
            text.push('\n');
        }
    })
}

/// A port that was free a moment ago. Another process may take it before the server binds
/// it: [`RedisServer::start`] then tries another.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

fn address(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Sends one command in RESP and reads its answer: a simple string, an error or a bulk
/// string. Written here rather than taken from the `redis` crate: the harness needs only
/// `PING` and `INFO`, and RESP's few framing rules are all it takes.
async fn command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(address(port)).await?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let line = line.trim_end_matches("\r\n");
        let invalid = |what: &str| std::io::Error::new(ErrorKind::InvalidData, what.to_owned());
        match line.split_at_checked(1) {
            Some(("+", text)) => Ok(text.to_owned()),
            Some(("-", text)) => Err(invalid(text)),
            Some(("$", length)) => {
                let length: usize = length.parse().map_err(|_| invalid(line))?;
                let total = length.checked_add(2).ok_or_else(|| invalid(line))?;
                let mut body = vec![0; total];
                reader.read_exact(&mut body).await?;
                body.truncate(length);
                String::from_utf8(body).map_err(|_| invalid("bulk string is not UTF-8"))
            }
            _ => Err(invalid(line)),
        }
    };
    tokio::time::timeout(COMMAND_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(ErrorKind::TimedOut, "no answer")))
}

/// Whether the server on `port` answers `PING` and is the process `pid` (not another server
/// that happens to hold the port).
async fn answers_as(port: u16, pid: u32) -> bool {
    if command(port, &["PING"]).await.ok().as_deref() != Some("PONG") {
        return false;
    }
    let Ok(info) = command(port, &["INFO", "server"]).await else {
        return false;
    };
    info.lines()
        .any(|line| line.trim() == format!("process_id:{pid}"))
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is not installed (with how to install it), or when no server
    /// answered in time.
    pub async fn start() -> Self {
        // The server may be the one the interoperability dependencies bring.
        crate::interop::install_dependencies().await;
        let mut server = Self::unstarted();
        let mut taken = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.launch().await {
                Ok(()) => return server,
                Err(StartError::PortTaken(log)) => taken.push(log),
                Err(StartError::Other(message)) => panic!("{message}"),
            }
        }
        panic!(
            "redis-server found every one of {PORT_ATTEMPTS} free ports taken:\n{}",
            taken.join("\n")
        );
    }

    /// A server not started yet, with its own fresh directory.
    fn unstarted() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "redis-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Self {
            port: 0,
            dir,
            child: None,
            output: Arc::new(Mutex::new(String::new())),
        }
    }

    /// `redis://127.0.0.1:PORT`, what `AUTH_DPOP_REPLAY` takes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and waits until its port refuses connections: from then on, a
    /// client of it sees an outage.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `kill` also reaps it.
            let _ = child.kill().await;
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while TcpStream::connect(address(self.port)).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} still accepts connections {STOP_TIMEOUT:?} after it was killed; its log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server if it runs, then starts a new one on the same port (empty: nothing
    /// is persisted) and waits until it answers `PING`.
    ///
    /// # Panics
    /// When the port stays taken by something else.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut last = String::new();
        for _ in 0..RESTART_ATTEMPTS {
            match self.launch().await {
                Ok(()) => return,
                Err(StartError::PortTaken(log)) => last = log,
                Err(StartError::Other(message)) => panic!("{message}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "redis-server could not bind port {} again after {RESTART_ATTEMPTS} attempts:\n{last}",
            self.port
        );
    }

    /// Runs `redis-server` on `self.port` and waits until it answers as itself.
    async fn launch(&mut self) -> Result<(), StartError> {
        let output = Arc::new(Mutex::new(String::new()));
        let program = test_keys::redis_server_binary().ok_or_else(|| {
            StartError::Other(format!("{BINARY} is not installed: {REDIS_INSTALL_HINT}"))
        })?;
        let mut child = Command::new(program)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => {
                    StartError::Other(format!("{BINARY} is not installed: {REDIS_INSTALL_HINT}"))
                }
                _ => StartError::Other(format!("cannot run {BINARY}: {e}: {REDIS_INSTALL_HINT}")),
            })?;
        let readers = [
            child
                .stdout
                .take()
                .map(|out| collect(out, Arc::clone(&output))),
            child
                .stderr
                .take()
                .map(|err| collect(err, Arc::clone(&output))),
        ];
        let pid = child.id().unwrap_or_default();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // Exited (its port taken, say) is checked first: another process on the port
            // may accept the probe and never answer.
            if let Ok(Some(status)) = child.try_wait() {
                // Its pipes close with it: read what it printed to the end.
                for reader in readers.into_iter().flatten() {
                    let _ = tokio::time::timeout(COMMAND_TIMEOUT, reader).await;
                }
                let log = lock(&output).clone();
                return Err(if log.contains("Address already in use") {
                    StartError::PortTaken(log)
                } else {
                    StartError::Other(format!(
                        "{BINARY} on port {} exited ({status}) before answering PING:\n{log}",
                        self.port
                    ))
                });
            }
            if answers_as(self.port, pid).await {
                self.child = Some(child);
                self.output = output;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(StartError::Other(format!(
                    "{BINARY} on port {} did not answer PING within {READY_TIMEOUT:?}:\n{}",
                    self.port,
                    lock(&output)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the server printed so far (its log goes to stdout).
    pub fn log(&self) -> String {
        lock(&self.output).clone()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: a started server answers, a stopped one refuses connections, a
    /// restarted one answers on the same port, and a dropped one is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_stops_and_restarts_on_the_same_port() {
        let mut redis = RedisServer::start().await;
        let port = redis.port();
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
        assert_eq!(command(port, &["PING"]).await.ok().as_deref(), Some("PONG"));
        redis.stop().await;
        assert!(TcpStream::connect(address(port)).await.is_err());
        redis.restart().await;
        assert_eq!(redis.port(), port);
        assert_eq!(command(port, &["PING"]).await.ok().as_deref(), Some("PONG"));
        redis.restart().await;
        assert_eq!(command(port, &["PING"]).await.ok().as_deref(), Some("PONG"));
        let dir = redis.dir.clone();
        drop(redis);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while TcpStream::connect(address(port)).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the dropped server still listens"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!dir.exists(), "the dropped server's directory remains");
    }

    /// A port another process holds is detected, and a start there reports it as taken.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_taken_port_is_reported_as_taken() {
        let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = holder.local_addr().expect("address").port();
        let mut server = RedisServer::unstarted();
        server.port = port;
        let outcome = server.launch().await;
        assert!(matches!(outcome, Err(StartError::PortTaken(_))));
    }
}
