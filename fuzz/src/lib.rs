//! Shared set-up of the `api-auth` fuzz targets.
//!
//! * [`development_auth`]: an [`Auth`] in development mode, configured as a sample without
//!   `AUTH_ISSUER` would be (token cache off, so that every input runs the full check).
//! * [`StructuredHarness`]: an [`Auth`] that verifies against a key set of freshly generated
//!   keys (RSA, P-256, P-384, Ed25519, from `test-keys`) served over loopback by `test-keys`'
//!   identity provider, plus an HS256 secret, and the signing halves of those keys. Its
//!   inputs are a header and a payload as JSON text, which it encodes and signs, so that the
//!   fuzzer gets past the signature check and into key selection and claim validation.
//!
//! Both targets assert the contract's promise for anything a client sends: a refusal is a
//! `401 invalid_token` with a well-formed challenge, never a panic, a `5xx` or an acceptance
//! that breaks a rule.

use std::time::{SystemTime, UNIX_EPOCH};

use api_auth::{
    Auth, AuthError, Claims, DevIssuer, Issuer, KeySetPolicy, KeySource, REFETCH_COOLDOWN_RANGE,
};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use test_keys::{Idp, TestKey, jwks_of};
use tokio::runtime::Runtime;

/// The `iss` that [`StructuredHarness`] requires.
pub const ISSUER: &str = "https://issuer.fuzz.test";
/// The audience that [`StructuredHarness`] requires in `aud`.
pub const AUDIENCE: &str = "api";
/// The `AUTH_HS256_SECRET` of [`StructuredHarness`].
pub const HS256_SECRET: &str = "fuzz-hs256-secret-0123456789abcdef";
/// The `AUTH_LEEWAY_SECS` of both harnesses (the default).
pub const LEEWAY_SECS: i64 = 30;
/// Key ids in the served key set. The RSA and P-384 keys carry no JWK `alg`; the P-256 key
/// says `ES256` and the Ed25519 key says `EdDSA`, so that both kinds of matching are used.
pub const KIDS: [&str; 4] = ["fuzz-rsa", "fuzz-p256", "fuzz-p384", "fuzz-ed25519"];

/// Every algorithm name `api-auth` may accept under [`StructuredHarness`]'s configuration.
const ACCEPTABLE_ALGS: [&str; 11] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519",
    "HS256",
];

/// The runtime every verification runs on: one thread, created once per process, so that
/// runs are as deterministic as the code under test allows.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime can be built")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An [`Auth`] with the embedded development issuer and the token cache disabled.
pub fn development_auth(runtime: &Runtime) -> Auth {
    let dev = DevIssuer::generate("http://127.0.0.1:8001", None).expect("development issuer");
    let issuer = dev.as_issuer().expect("the issuer's own URL");
    runtime
        .block_on(async { Auth::builder().issuer(issuer).token_cache_size(0).build() })
        .expect("development mode starts")
}

/// Asserts that a refused token gets what the contract promises a client: `401` with an
/// `invalid_token` challenge whose text is a legal header value.
pub fn assert_token_refusal(error: &AuthError) {
    assert!(
        matches!(error, AuthError::InvalidToken(_)),
        "a client's token was refused with {error:?}, not as an invalid token"
    );
    let reply = error.reply();
    assert_eq!(reply.status, 401, "{error:?}");
    let challenge = reply
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| value.as_str())
        .expect("a 401 carries a challenge");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(
        challenge.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "challenge is not a legal header value: {challenge:?}"
    );
}

/// Reads every typed view of verified claims, as route handlers do.
pub fn use_claims(claims: &Claims) {
    let _ = claims.sub();
    let _ = claims.exp();
    let _ = claims.nbf();
    let _ = claims.roles().count();
    let _ = claims.scopes().count();
    let _ = claims.has_role("admin");
    serde_json::to_vec(claims).expect("verified claims serialise");
}

/// Which key signs a structured input: named by the input's third section, else chosen by
/// the header's `alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// RSASSA-PKCS1-v1_5 with the served RSA key.
    Rs(Sha),
    /// RSASSA-PSS with the served RSA key.
    Ps(Sha),
    /// ECDSA with the served P-256 key.
    Es256,
    /// ECDSA with the served P-384 key.
    Es384,
    /// Ed25519 with the served key.
    Ed25519,
    /// HMAC-SHA-256 with the configured `AUTH_HS256_SECRET`.
    Hs256,
    /// HMAC-SHA-256 keyed with the RSA public key (the classic algorithm confusion).
    Hs256PublicKey,
    /// A signature of 64 zero bytes.
    Zeros,
}

/// The digest size of an RSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sha {
    /// SHA-256.
    S256,
    /// SHA-384.
    S384,
    /// SHA-512.
    S512,
}

impl Signer {
    /// The signer whose signatures a token with this `alg` verifies with.
    pub fn for_alg(alg: &str) -> Option<Self> {
        Some(match alg {
            "RS256" => Self::Rs(Sha::S256),
            "RS384" => Self::Rs(Sha::S384),
            "RS512" => Self::Rs(Sha::S512),
            "PS256" => Self::Ps(Sha::S256),
            "PS384" => Self::Ps(Sha::S384),
            "PS512" => Self::Ps(Sha::S512),
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "EdDSA" | "Ed25519" => Self::Ed25519,
            "HS256" => Self::Hs256,
            _ => return None,
        })
    }

    /// Parses the name used in an input's third section: an algorithm name, or
    /// `HS256-public` or `zeros`.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"HS256-public" => Some(Self::Hs256PublicKey),
            b"zeros" => Some(Self::Zeros),
            _ => Self::for_alg(std::str::from_utf8(name).ok()?),
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
        Some(match self {
            Self::Rs(Sha::S256) => &signature::RSA_PKCS1_SHA256,
            Self::Rs(Sha::S384) => &signature::RSA_PKCS1_SHA384,
            Self::Rs(Sha::S512) => &signature::RSA_PKCS1_SHA512,
            Self::Ps(Sha::S256) => &signature::RSA_PSS_SHA256,
            Self::Ps(Sha::S384) => &signature::RSA_PSS_SHA384,
            Self::Ps(Sha::S512) => &signature::RSA_PSS_SHA512,
            _ => return None,
        })
    }
}

/// Freshly generated signing keys and the public key set that describes them.
pub struct SigningKeys {
    jwks: Value,
    rsa: RsaKeyPair,
    p256: EcdsaKeyPair,
    p384: EcdsaKeyPair,
    ed25519: Ed25519KeyPair,
    hs256: hmac::Key,
    rsa_public_hmac: hmac::Key,
    rng: SystemRandom,
}

impl SigningKeys {
    /// Generates one key of each kind (with `test-keys`) and loads their private halves for
    /// signing with aws-lc-rs directly.
    pub fn generate() -> Self {
        let rsa = TestKey::rsa(KIDS[0]).with_jwk_member("use", "sig");
        let p256 = TestKey::p256(KIDS[1]).with_jwk_member("alg", "ES256");
        let p384 = TestKey::p384(KIDS[2]).with_jwk_member("use", "sig");
        let ed25519 = TestKey::ed25519(KIDS[3]).with_jwk_member("alg", "EdDSA");
        Self {
            jwks: jwks_of(&[&rsa.jwk, &p256.jwk, &p384.jwk, &ed25519.jwk]),
            rsa: RsaKeyPair::from_pkcs8(&rsa.pkcs8).expect("RSA key import"),
            p256: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &p256.pkcs8,
            )
            .expect("P-256 key import"),
            p384: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &p384.pkcs8,
            )
            .expect("P-384 key import"),
            ed25519: Ed25519KeyPair::from_pkcs8(&ed25519.pkcs8).expect("Ed25519 key import"),
            hs256: hmac::Key::new(hmac::HMAC_SHA256, HS256_SECRET.as_bytes()),
            rsa_public_hmac: hmac::Key::new(hmac::HMAC_SHA256, &rsa.public_der),
            rng: SystemRandom::new(),
        }
    }

    /// The public JWK set (RFC 7517) of the asymmetric keys, with the ids of [`KIDS`].
    pub fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// Signs `message` (a JWS signing input) as `signer` does, in JWS encoding.
    pub fn sign(&self, signer: Signer, message: &[u8]) -> Vec<u8> {
        if let Some(encoding) = signer.rsa_encoding() {
            let mut signature = vec![0; self.rsa.public_modulus_len()];
            self.rsa
                .sign(encoding, &self.rng, message, &mut signature)
                .expect("RSA signing");
            return signature;
        }
        match signer {
            Signer::Es256 => self.p256.sign(&self.rng, message).map(|s| s.as_ref().to_vec()),
            Signer::Es384 => self.p384.sign(&self.rng, message).map(|s| s.as_ref().to_vec()),
            Signer::Ed25519 => Ok(self.ed25519.sign(message).as_ref().to_vec()),
            Signer::Hs256 => Ok(hmac::sign(&self.hs256, message).as_ref().to_vec()),
            Signer::Hs256PublicKey => {
                Ok(hmac::sign(&self.rsa_public_hmac, message).as_ref().to_vec())
            }
            Signer::Zeros => Ok(vec![0; 64]),
            Signer::Rs(_) | Signer::Ps(_) => unreachable!("RSA is signed above"),
        }
        .expect("ECDSA signing")
    }
}

/// One structured input: `header JSON NUL payload JSON [NUL signer name]`.
///
/// The header and payload are base64url-encoded as they are (so they need not be valid
/// JSON), and the signing input is signed by the named [`Signer`], or by the one the
/// header's `alg` calls for, or else by Ed25519.
#[derive(Debug)]
pub struct StructuredInput<'a> {
    /// Header bytes, before encoding.
    pub header: &'a [u8],
    /// Payload bytes, before encoding.
    pub payload: &'a [u8],
    /// The signer named by the input, if any.
    pub signer: Option<Signer>,
}

impl<'a> StructuredInput<'a> {
    /// Splits fuzzer bytes at the first two NUL bytes (which valid JSON text never holds).
    pub fn split(data: &'a [u8]) -> Self {
        let mut parts = data.splitn(3, |b| *b == 0);
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        let signer = parts.next().and_then(Signer::from_name);
        Self {
            header,
            payload,
            signer,
        }
    }

    /// The header's `alg`, when the header is a JSON object with a string `alg`.
    fn alg(&self) -> Option<String> {
        let header: Value = serde_json::from_slice(self.header).ok()?;
        header.get("alg")?.as_str().map(str::to_owned)
    }

    /// The signer actually used.
    pub fn effective_signer(&self) -> Signer {
        self.signer
            .or_else(|| self.alg().as_deref().and_then(Signer::for_alg))
            .unwrap_or(Signer::Ed25519)
    }
}

/// A remote-key-set deployment with keys this process can sign with.
pub struct StructuredHarness {
    runtime: Runtime,
    auth: Auth,
    keys: SigningKeys,
    /// Serves the key set while the harness lives (on `runtime`, whenever it runs).
    _provider: Idp,
}

impl Default for StructuredHarness {
    fn default() -> Self {
        Self::new()
    }
}

impl StructuredHarness {
    /// Generates the keys, serves their key set on loopback, configures an [`Auth`] with
    /// `AUTH_JWKS_URL`, `AUTH_ISSUER`, `AUTH_AUDIENCE`, `AUTH_HS256_SECRET` and no token
    /// cache, and checks that a well-formed token verifies (which also loads the key set).
    ///
    /// The refetch cooldown is the longest the policy allows (an hour), so that fuzzed unknown
    /// `kid`s are refused from the loaded set instead of refetching it: at most one input an
    /// hour waits on the (loopback) network.
    pub fn new() -> Self {
        let runtime = runtime();
        let keys = SigningKeys::generate();
        let provider = runtime.block_on(Idp::start(keys.jwks()));
        provider.set_cache_control("max-age=86400");
        let source = KeySource::jwks_url(&provider.jwks_url()).expect("JWKS URL");
        let policy = KeySetPolicy {
            // The longest cooldown the policy allows: an unknown kid refetches at most once
            // an hour, so practically never within a fuzzing run.
            refetch_cooldown: *REFETCH_COOLDOWN_RANGE.end(),
            ..KeySetPolicy::default()
        };
        let auth = runtime
            .block_on(async {
                Auth::builder()
                    .issuer(Issuer::new(ISSUER, source)?)
                    .audience(AUDIENCE)
                    .hs256_secret(HS256_SECRET)
                    .token_cache_size(0)
                    .key_set_policy(policy)
                    .build()
            })
            .expect("the remote key set configuration is valid");
        let harness = Self {
            runtime,
            auth,
            keys,
            _provider: provider,
        };
        let payload =
            json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "fuzz", "exp": unix_now() + 3600 });
        let probe = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, KIDS[1]);
        let token = harness.token(&StructuredInput {
            header: probe.as_bytes(),
            payload: payload.to_string().as_bytes(),
            signer: None,
        });
        if let Err(error) = harness.runtime.block_on(harness.auth.verify(&token)) {
            panic!("the harness's own token is refused ({error:?}); is the key set served?");
        }
        assert_eq!(harness.auth.key_sets()[0].count, KIDS.len());
        harness
    }

    /// The compact JWS of an input.
    pub fn token(&self, input: &StructuredInput<'_>) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(input.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(input.payload, &mut token);
        let signature = self.keys.sign(input.effective_signer(), token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// Verifies the input's token and checks the outcome: a refusal must be a proper
    /// `401`, and an acceptance must satisfy every rule the contract states.
    pub fn check(&self, data: &[u8]) {
        let input = StructuredInput::split(data);
        let token = self.token(&input);
        let before = unix_now();
        let result = self.runtime.block_on(self.auth.verify(&token));
        let after = unix_now();
        match result {
            Ok(claims) => {
                assert_acceptable(&input, &token, &claims, before, after);
                use_claims(&claims);
            }
            Err(error) => assert_token_refusal(&error),
        }
    }
}

/// Asserts that an accepted token deserved it (RFC 7515, 7519, 8725 as the contract
/// applies them).
fn assert_acceptable(
    input: &StructuredInput<'_>,
    token: &str,
    claims: &Claims,
    before: i64,
    after: i64,
) {
    assert!(token.len() <= 8 * 1024, "accepted a token over 8 KiB");
    let header: Value = serde_json::from_slice(input.header).expect("accepted header is JSON");
    let header = header.as_object().expect("accepted header is an object");
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .expect("accepted header names alg");
    assert!(ACCEPTABLE_ALGS.contains(&alg), "accepted alg {alg:?}");
    assert_eq!(
        Some(input.effective_signer()),
        Signer::for_alg(alg),
        "accepted a token not signed as its alg says"
    );
    assert!(!header.contains_key("crit"), "accepted a crit header");
    if alg != "HS256" {
        let kid = header.get("kid").and_then(Value::as_str);
        assert!(
            kid.is_none_or(|kid| KIDS.contains(&kid)),
            "accepted unknown kid {kid:?}"
        );
    }

    let payload: Value = serde_json::from_slice(input.payload).expect("accepted payload is JSON");
    assert_eq!(
        &payload,
        &Value::Object(claims.as_map().clone()),
        "claims differ from the payload"
    );
    let exp = payload
        .get("exp")
        .and_then(Value::as_i64)
        .expect("accepted a token without an integer exp");
    assert!(
        exp > before - LEEWAY_SECS,
        "accepted an expired token (exp {exp})"
    );
    if let Some(nbf) = payload.get("nbf") {
        let nbf = nbf.as_i64().expect("accepted a non-integer nbf");
        assert!(
            nbf <= after + LEEWAY_SECS,
            "accepted a token before its nbf ({nbf})"
        );
    }
    assert_eq!(
        payload.get("iss").and_then(Value::as_str),
        Some(ISSUER),
        "accepted a wrong iss"
    );
    let audience_ok = match payload.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    assert!(audience_ok, "accepted a wrong aud");
}
