//! A router served on loopback, for the tests that drive the library as a service would.

use std::net::SocketAddr;

use axum::Router;

/// Serves `router` on a loopback port; the server lives as long as the test's runtime.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}
