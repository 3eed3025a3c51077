//! A benchmark peer for `scripts/compare`: `/public`, `/protected` and `/admin` served by
//! axum with the [`jwt_authorizer`] crate, verifying bearer tokens against a JWKS URL.
//!
//! Configuration (environment):
//! - `AUTH_JWKS_URL` (required): the key set to verify against;
//! - `AUTH_ISSUER`: when set, the exact `iss` every token must carry;
//! - `HOST` (default `127.0.0.1`) and `PORT` (default `0`, a free port).
//!
//! Once bound it prints `listening on http://HOST:PORT`, like the samples.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use serde_json::{Value, json};

/// What the peer needs to start.
struct Settings {
    addr: SocketAddr,
    jwks_url: String,
    issuer: Option<String>,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let host: IpAddr = match var("HOST") {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(h) => h
                .trim()
                .parse()
                .map_err(|_| "HOST: not an IP address".to_owned())?,
        };
        let port: u16 = match var("PORT") {
            None => 0,
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| "PORT: not a valid port".to_owned())?,
        };
        let jwks_url = var("AUTH_JWKS_URL").ok_or("AUTH_JWKS_URL: required")?;
        Ok(Self {
            addr: SocketAddr::new(host, port),
            jwks_url,
            issuer: var("AUTH_ISSUER"),
        })
    }
}

async fn public() -> Json<Value> {
    Json(json!({ "message": "Anyone can see this" }))
}

async fn protected(JwtClaims(user): JwtClaims<Value>) -> Json<Value> {
    Json(json!({ "message": "Access granted", "user": user }))
}

async fn admin(JwtClaims(user): JwtClaims<Value>) -> impl IntoResponse {
    let is_admin = user["roles"]
        .as_array()
        .is_some_and(|roles| roles.iter().any(|r| r == "admin"));
    if is_admin {
        (
            StatusCode::OK,
            Json(json!({ "message": "Admin access", "user": user })),
        )
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(
                json!({ "error": "insufficient_scope", "error_description": "admin role required" }),
            ),
        )
    }
}

async fn run(settings: Settings) -> Result<(), String> {
    let mut validation = Validation::new();
    if let Some(issuer) = &settings.issuer {
        validation = validation.iss(&[issuer]);
    }
    let authorizer: Authorizer<Value> = JwtAuthorizer::from_jwks_url(&settings.jwks_url)
        .validation(validation)
        .build()
        .await
        .map_err(|e| format!("AUTH_JWKS_URL: {e}"))?;
    let app = Router::new()
        .route("/protected", get(protected))
        .route("/admin", get(admin))
        .layer(authorizer.into_layer())
        .route("/public", get(public));

    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", settings.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    // Scripts wait for this line; a closed stdout must not stop the server.
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
    drop(out);
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Settings::from_env() {
        Ok(settings) => run(settings).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
