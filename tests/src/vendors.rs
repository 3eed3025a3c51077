//! The gateways' own formats, generated on loopback with real keys, as their vendors
//! document them:
//!
//! - Cloudflare Access, "Validate JWTs" and "Application token"
//!   (<https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/>,
//!   <https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/application-token/>):
//!   RS256 tokens in `Cf-Access-Jwt-Assertion` (and the `CF_Authorization` cookie) with an `aud`
//!   array holding the AUD tag, `iss` the team domain, `type: app`; the certs document at
//!   `/cdn-cgi/access/certs` holds `keys` and the same keys as X.509 certificates in
//!   `public_cert` and `public_certs`.
//! - Google Cloud IAP, "Securing your app with signed headers"
//!   (<https://cloud.google.com/iap/docs/signed-headers-howto>): ES256 tokens in
//!   `x-goog-iap-jwt-assertion`, `iss` `https://cloud.google.com/iap`, `aud`
//!   `/projects/<number>/global/backendServices/<id>` or `/projects/<number>/apps/<id>`,
//!   keys as a JWK set at `https://www.gstatic.com/iap/verify/public_key-jwk`.
//! - AWS Application Load Balancer, "User claims encoding and signature verification"
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#user-claims-encoding>):
//!   `x-amzn-oidc-data`, a JWT whose header carries `alg` ES256, `kid`, `signer` (the load
//!   balancer's ARN), `iss`, `client` and `exp`, whose segments are base64url *with* padding,
//!   and whose key is one PEM file per `kid` at
//!   `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::keys::{b64, now};
use test_keys::pem;

/// A Cloudflare Access team domain (the `iss` of its tokens).
pub const CF_TEAM: &str = "https://acme.cloudflareaccess.com";
/// An Application Audience (AUD) tag: 64 hex characters, as the dashboard shows it.
pub const CF_AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
/// Where Cloudflare publishes a team's keys, under the team domain.
pub const CF_CERTS_PATH: &str = "/cdn-cgi/access/certs";
/// IAP's issuer.
pub const IAP_ISSUER: &str = "https://cloud.google.com/iap";
/// An IAP audience of the load balancer form.
pub const IAP_BACKEND_AUDIENCE: &str =
    "/projects/123456789012/global/backendServices/4567890123456789";
/// An IAP audience of the App Engine form.
pub const IAP_APP_AUDIENCE: &str = "/projects/123456789012/apps/acme-orders";
/// The path of IAP's JWK set on `www.gstatic.com`.
pub const IAP_KEYS_PATH: &str = "/iap/verify/public_key-jwk";
/// The load balancer under test.
pub const ALB_ARN: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/50dc6c495c0c9188";
/// Another load balancer of the same region (the same keys sign for it).
pub const OTHER_ALB_ARN: &str = "arn:aws:elasticloadbalancing:eu-west-1:999999999999:loadbalancer/app/attacker/0123456789abcdef";
/// The OAuth client id the load balancer authenticates with.
pub const ALB_CLIENT: &str = "4fb2ud9rmdgnd0ak3n6p1ddm5k";
/// The identity provider the load balancer authenticates with (`iss` of its header).
pub const ALB_IDP: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI";

/// A signing key of a gateway: its `kid`, its private half and its public forms.
pub struct GatewayKey {
    /// The key id.
    pub kid: String,
    /// The private key.
    pub encoding: EncodingKey,
    /// The public JWK as the vendor publishes it.
    pub jwk: Value,
    /// The public key as a PEM `PUBLIC KEY`.
    pub public_pem: String,
    /// A self-signed X.509 certificate of the key, PEM (Cloudflare's `public_cert`).
    pub cert_pem: Option<String>,
}

/// A Cloudflare-style RSA-2048 key with its certificate; Cloudflare's kids are 64 hex digits.
pub fn cloudflare_key(kid: &str) -> GatewayKey {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let pkcs8 = key.as_der().expect("RSA export");
    let public = key.public_key();
    let spki = public.as_der().expect("RSA public export");
    let signer = rcgen::KeyPair::try_from(pkcs8.as_ref()).expect("rcgen RSA import");
    let params = rcgen::CertificateParams::new(vec!["acme.cloudflareaccess.com".to_owned()])
        .expect("certificate parameters");
    let cert = params
        .self_signed(&signer)
        .expect("self-signed certificate");
    GatewayKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .expect("RSA import"),
        jwk: json!({
            "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
            "e": b64(public.exponent().big_endian_without_leading_zero()),
            "n": b64(public.modulus().big_endian_without_leading_zero()),
        }),
        public_pem: pem("PUBLIC KEY", spki.as_ref()),
        cert_pem: Some(cert.pem()),
    }
}

/// A P-256 key as IAP publishes it (`alg`, `crv`, `kid`, `kty`, `use`, `x`, `y`), also
/// usable as an ALB key (its PEM).
pub fn p256_key(kid: &str) -> GatewayKey {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .expect("EC key generation");
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("EC");
    let point = key.public_key().as_ref().to_vec();
    let spki = key.public_key().as_der().expect("EC public export");
    GatewayKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "alg": "ES256", "crv": "P-256", "kid": kid, "kty": "EC", "use": "sig",
            "x": b64(&point[1..=32]), "y": b64(&point[33..]),
        }),
        public_pem: pem("PUBLIC KEY", spki.as_ref()),
        cert_pem: None,
    }
}

/// The certs document of a Cloudflare Access team: `keys`, plus `public_cert` (the current
/// key's certificate) and `public_certs` (every key's), which a verifier ignores.
pub fn cloudflare_certs(keys: &[&GatewayKey]) -> Value {
    let certs: Vec<Value> = keys
        .iter()
        .map(|key| json!({ "kid": key.kid, "cert": key.cert_pem }))
        .collect();
    json!({
        "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>(),
        "public_cert": certs.first(),
        "public_certs": certs,
    })
}

/// The claims of a Cloudflare Access application token for `aud`.
pub fn cloudflare_claims(aud: &str) -> Value {
    let now = now();
    json!({
        "aud": [aud],
        "email": "alice@example.com",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "iss": CF_TEAM,
        "type": "app",
        "identity_nonce": "6ei69kawdKzMIAPF",
        "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
        "country": "US",
    })
}

/// An IAP JWK set of these keys.
pub fn iap_jwks(keys: &[&GatewayKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
}

/// The claims of an IAP assertion for `aud`.
pub fn iap_claims(aud: &str) -> Value {
    let now = now();
    json!({
        "aud": aud,
        "email": "alice@example.com",
        "exp": now + 600,
        "iat": now,
        "hd": "example.com",
        "iss": IAP_ISSUER,
        "sub": "accounts.google.com:118230234234234234234",
        "google": { "access_levels": ["accessPolicies/123/accessLevels/corp"] },
    })
}

/// A compact JWS of `header` and `claims` signed ES256 or RS256 by `key` (unpadded, as JOSE
/// writes it).
pub fn sign(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    crate::keys::sign_raw(&header.to_string(), &claims.to_string(), key, alg)
}

/// The header of an ALB assertion signed with `kid`, for the load balancer under test.
pub fn alb_header(kid: &str) -> Value {
    json!({
        "alg": "ES256",
        "kid": kid,
        "signer": ALB_ARN,
        "iss": ALB_IDP,
        "client": ALB_CLIENT,
        "exp": now() + 120,
    })
}

/// The user claims of an ALB assertion (the identity provider's userinfo).
pub fn alb_claims() -> Value {
    json!({
        "sub": "9a7f3c2e-1b4d-4e8f-a6c5-0d2b9e8f7a61",
        "email": "alice@example.com",
        "username": "alice",
        "exp": now() + 120,
        "iss": ALB_IDP,
    })
}

/// JSON text whose base64 encoding needs padding: a trailing blank (insignificant JSON
/// whitespace, RFC 8259 §2) when its length is a multiple of 3.
fn padded_json(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len().is_multiple_of(3) {
        text.push(' ');
    }
    text
}

/// An ALB assertion: ES256 over the segments as the load balancer writes them, base64url
/// with `=` padding (each of the three segments ends with `=`).
pub fn alb_token(header: &Value, claims: &Value, key: &EncodingKey) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE.encode(padded_json(header)),
        URL_SAFE.encode(padded_json(claims))
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), key, Algorithm::ES256).expect("ES256 signing");
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("jsonwebtoken writes base64url");
    let token = format!("{input}.{}", URL_SAFE.encode(signature));
    debug_assert!(token.split('.').all(|segment| segment.ends_with('=')));
    token
}

struct KeyServerState {
    pems: Mutex<HashMap<String, String>>,
    fetches: Mutex<HashMap<String, usize>>,
    cache_control: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The region's key endpoint of the ALB on loopback: `GET /<kid>` answers that key's PEM, or
/// `404`; every request is counted by the path it asked for.
pub struct AlbKeyServer {
    state: Arc<KeyServerState>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

async fn serve_key(State(state): State<Arc<KeyServerState>>, Path(kid): Path<String>) -> Response {
    *lock(&state.fetches).entry(kid.clone()).or_default() += 1;
    let Some(pem) = lock(&state.pems).get(&kid).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        pem,
    )
        .into_response();
    if let Some(value) = lock(&state.cache_control)
        .as_deref()
        .and_then(|v| v.parse().ok())
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn count_other(State(state): State<Arc<KeyServerState>>, uri: axum::http::Uri) -> Response {
    *lock(&state.fetches)
        .entry(uri.path().to_owned())
        .or_default() += 1;
    StatusCode::NOT_FOUND.into_response()
}

impl AlbKeyServer {
    /// Starts a key server publishing these keys.
    pub async fn start(keys: &[&GatewayKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind key server");
        let addr = listener.local_addr().expect("key server address");
        let state = Arc::new(KeyServerState {
            pems: Mutex::new(
                keys.iter()
                    .map(|key| (key.kid.clone(), key.public_pem.clone()))
                    .collect(),
            ),
            fetches: Mutex::new(HashMap::new()),
            cache_control: Mutex::new(None),
        });
        let app = Router::new()
            .route("/{kid}", get(serve_key))
            .fallback(count_other)
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            state,
            addr,
            server,
        }
    }

    /// What `AUTH_ALB_KEY_URL` is set to: the URL the `kid` is appended to.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Publishes one more key.
    pub fn publish(&self, key: &GatewayKey) {
        lock(&self.state.pems).insert(key.kid.clone(), key.public_pem.clone());
    }

    /// Sets the `Cache-Control` header of key responses.
    pub fn set_cache_control(&self, value: &str) {
        *lock(&self.state.cache_control) = Some(value.to_owned());
    }

    /// How many times `kid` was requested.
    pub fn fetches_of(&self, kid: &str) -> usize {
        lock(&self.state.fetches).get(kid).copied().unwrap_or(0)
    }

    /// How many requests the server received, for any path.
    pub fn fetches(&self) -> usize {
        lock(&self.state.fetches).values().sum()
    }
}

impl Drop for AlbKeyServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
