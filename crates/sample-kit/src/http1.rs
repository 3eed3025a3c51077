//! An HTTP/1.1 accept loop with the [`limits`](crate::limits), for frameworks that hand out a
//! hyper service but whose own server does not expose hyper's connection settings (axum, warp,
//! poem).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use crate::limits::{HEAD_READ_TIMEOUT, MAX_HEAD_BYTES, SHUTDOWN_GRACE};
use crate::server::{exit_with, shutdown_signal};

/// Serves `service` on every connection `listener` (bound by
/// [`server::start`](crate::server::start)) accepts until Ctrl-C or SIGTERM, then lets
/// in-flight requests finish for up to [`SHUTDOWN_GRACE`]. hyper refuses a request head over
/// [`MAX_HEAD_BYTES`] with `431`, and closes a connection whose head (or next head, on a
/// kept-alive connection) takes longer than [`HEAD_READ_TIMEOUT`]. Must run inside a Tokio
/// runtime; exits if the listener cannot join it.
pub async fn serve<S, B>(listener: std::net::TcpListener, service: S)
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| exit_with(e));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace elapsed with requests still in flight");
    }
}
