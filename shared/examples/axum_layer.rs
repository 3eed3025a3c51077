//! An axum service protected by `AuthLayer`, with typed claims in the handler.
//!
//! ```sh
//! cargo run -p api-auth --example axum_layer
//! ```
//!
//! With `ISSUER` set (an OpenID provider's issuer URL) it trusts that provider's keys, found
//! by discovery; without it, it runs a development issuer in process and prints a token to
//! try:
//!
//! ```sh
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/whoami
//! ```

use api_auth::{Auth, AuthLayer, Claims, DevIssuer, Issuer};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

/// What this service reads from a verified token.
#[derive(Deserialize)]
struct Caller<'a> {
    sub: &'a str,
    #[serde(default)]
    roles: Vec<&'a str>,
}

async fn whoami(Extension(claims): Extension<Claims>) -> String {
    match claims.deserialize::<Caller>() {
        Ok(caller) => format!("{} with roles {:?}\n", caller.sub, caller.roles),
        Err(_) => "token without a subject\n".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let builder = Auth::builder();
    let auth = match std::env::var("ISSUER") {
        Ok(issuer) => builder.issuer(Issuer::discover(&issuer)?).build()?,
        Err(_) => {
            let dev = DevIssuer::generate("http://127.0.0.1:3000", None)?;
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), "alice".into());
            claims.insert("roles".into(), serde_json::json!(["admin"]));
            println!("TOKEN={}", dev.mint(claims));
            builder.issuer(dev.as_issuer()?).build()?
        }
    };
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(AuthLayer::new(auth))
        .route("/healthz", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
