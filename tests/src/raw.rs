//! HTTP/1.1 exchanges written as raw bytes, for requests no client library sends: targets
//! that are not in origin form, paths that must not be normalised, bodies that are never sent.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a raw exchange may take before the case fails.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(15);

/// An answer read off a raw connection.
pub(crate) struct RawAnswer {
    /// The status code of the status line.
    pub(crate) status: u16,
    /// The status line and headers.
    pub(crate) head: Vec<u8>,
    /// The body, as far as `Content-Length` announced it.
    pub(crate) body: Vec<u8>,
}

impl RawAnswer {
    /// The raw value of header `name` (lower case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.split(|&b| b == b'\n').skip(1).find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let (field, value) = line.split_at(colon);
            field
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| value[1..].trim_ascii())
        })
    }

    /// The `error` code of a JSON body.
    pub(crate) fn error(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Writes `request` on a fresh connection to `authority` and reads the answer: its head, then
/// as much body as its `Content-Length` announces (or until the server closes).
pub(crate) async fn exchange(authority: &str, request: &[u8]) -> RawAnswer {
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connect to the sample");
        stream.write_all(request).await.expect("write the request");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).await.expect("read the answer");
            assert!(n > 0, "closed before a complete answer head: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        };
        let body = buf.split_off(head_end);
        let mut answer = RawAnswer {
            status: 0,
            head: buf,
            body,
        };
        answer.status = std::str::from_utf8(&answer.head)
            .ok()
            .and_then(|h| h.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let length: usize = answer
            .header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while answer.body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.body.extend_from_slice(&chunk[..n]),
            }
        }
        answer
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {EXCHANGE_TIMEOUT:?}"))
}

/// `GET path` as raw bytes, so that no client library normalises the path.
pub(crate) async fn raw_get(authority: &str, path: &[u8], headers: &str) -> RawAnswer {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(format!(" HTTP/1.1\r\nHost: a.example\r\n{headers}\r\n").as_bytes());
    exchange(authority, &request).await
}
