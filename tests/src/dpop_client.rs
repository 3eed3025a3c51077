//! A DPoP client nobody here wrote: the `dpop` npm package (by the author of `oidc-provider`
//! and `jose`), run by `tests/interop/dpop_client.mjs`, which holds one key pair and signs
//! proofs on request over JSON lines. Installed with the other interoperability tools
//! ([`crate::interop`]).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::interop::{install_dependencies, interop_dir, node};

/// How long the client may take to generate its key pair or sign a proof.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `dpop` client with its key pair; stopped when dropped.
pub struct DpopClient {
    /// Kept for its `kill_on_drop`.
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The public key, as WebCrypto exports it.
    pub public_jwk: Value,
    /// The key's RFC 7638 thumbprint, as the package computes it.
    pub thumbprint: String,
}

impl DpopClient {
    /// Starts a client whose key pair is for `alg` (`ES256`, `Ed25519`, `RS256`, `PS256`).
    pub async fn start(alg: &str) -> Self {
        install_dependencies().await;
        let mut child = Command::new(node())
            .arg("dpop_client.mjs")
            .arg(alg)
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the dpop client with node: {e}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let mut client = Self {
            _child: child,
            stdin,
            stdout,
            public_jwk: Value::Null,
            thumbprint: String::new(),
        };
        let hello = client.read().await;
        client.public_jwk = hello["publicJwk"].clone();
        client.thumbprint = hello["thumbprint"]
            .as_str()
            .unwrap_or_else(|| panic!("no thumbprint from the dpop client: {hello}"))
            .to_owned();
        client
    }

    async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(ANSWER_TIMEOUT, self.stdout.next_line())
            .await
            .expect("the dpop client must answer within 60 s")
            .expect("the dpop client's stdout")
            .expect("the dpop client exited");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("dpop client said {line:?}: {e}"))
    }

    /// A proof for `htm` on `htu`, bound to `access_token` (`ath`) and carrying `nonce`
    /// when given.
    pub async fn proof(
        &mut self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let request =
            json!({ "htm": htm, "htu": htu, "accessToken": access_token, "nonce": nonce });
        self.stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .expect("write to the dpop client");
        self.stdin.flush().await.expect("flush to the dpop client");
        let answer = self.read().await;
        answer["proof"]
            .as_str()
            .unwrap_or_else(|| panic!("the dpop client refused {request}: {answer}"))
            .to_owned()
    }
}
