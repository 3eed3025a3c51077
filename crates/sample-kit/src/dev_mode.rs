//! Development mode: the embedded issuer that mints tokens for anyone, its demo API key, and
//! minting from a `POST /dev/token` body.
//!
//! Every use the samples make of the library's development-only items goes through the
//! functions here, one each, so that those items can move out of the library by changing this
//! file alone.

use serde_json::Value;

use api_auth::{ApiKeys, Auth, AuthBuilder, AuthError, DevIssuer, DevIssuerError};

/// Makes the development issuer, with a key generated now and `base_url` as its issuer, the
/// only issuer of `builder`; with `demo_key`, its demo API key (named `demo`) is the only API
/// key.
pub fn install(
    builder: AuthBuilder,
    base_url: &str,
    audience: Option<String>,
    demo_key: bool,
) -> Result<AuthBuilder, DevIssuerError> {
    let dev = DevIssuer::generate(base_url, audience)?;
    let builder = if demo_key {
        builder.api_keys(ApiKeys::single("demo", demo_api_key(&dev)))
    } else {
        builder
    };
    Ok(builder.development(dev))
}

/// The development issuer, when this process runs in development mode.
pub fn issuer(auth: &Auth) -> Option<&DevIssuer> {
    auth.dev_issuer()
}

/// Whether this process runs in development mode.
pub fn is_on(auth: &Auth) -> bool {
    auth.is_development()
}

/// The demo API key development mode accepts when `API_KEYS` is unset.
pub fn demo_api_key(dev: &DevIssuer) -> &str {
    dev.demo_api_key()
}

/// A token minted from a `POST /dev/token` body (a JSON object of claims), as the
/// `{"token": ...}` answer, or the refusal of a body that is not one.
pub fn mint_from_body(dev: &DevIssuer, body: &[u8]) -> Result<Value, AuthError> {
    dev.mint_from_body(body)
}
