//! One test per check of RFC 9449 §4.3, with real proofs signed by real keys.

use std::sync::Mutex;

use jsonwebtoken::Algorithm as Signing;
use serde_json::{Value, json};
use test_keys::{TestKey, b64, sign_raw};

use super::*;
use crate::sender::replay::ReplayStoreError;
use crate::sender::replay_memory::MemoryReplayStore;

const NOW: i64 = 1_750_000_000;
const ORIGIN: &str = "https://api.example.com";
const HTU: &str = "https://api.example.com/protected";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
const MAX_AGE: i64 = 60;
const LEEWAY: i64 = 30;

fn verifier_with(store: Arc<dyn ReplayStore>) -> DpopVerifierBuilder {
    DpopVerifier::builder(PublicOrigin::parse(ORIGIN).unwrap(), store)
        .max_age(Duration::from_secs(MAX_AGE.unsigned_abs()))
        .leeway(Duration::from_secs(LEEWAY.unsigned_abs()))
}

fn verifier() -> DpopVerifier {
    verifier_with(Arc::new(MemoryReplayStore::new(1000)))
        .build()
        .unwrap()
}

fn ath(token: &str) -> String {
    b64(digest(&SHA256, token.as_bytes()))
}

/// The header name of the key's algorithm.
fn alg_name(key: &TestKey) -> String {
    format!("{:?}", key.alg)
}

fn header(key: &TestKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": alg_name(key), "jwk": key.jwk})
}

fn claims() -> Value {
    json!({
        "jti": format!("jti-{}", fastrand::u64(..)),
        "htm": "GET",
        "htu": HTU,
        "iat": NOW,
        "ath": ath(TOKEN),
    })
}

/// A proof with this header and these claims, signed by `key` with its algorithm.
fn sign(key: &TestKey, header: &Value, claims: &Value) -> String {
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        &key.encoding,
        key.alg,
    )
}

fn good_proof(key: &TestKey) -> String {
    sign(key, &header(key), &claims())
}

async fn check(verifier: &DpopVerifier, proof: &str) -> Result<ProofOutcome, DpopError> {
    check_request(verifier, proof, "GET", "/protected").await
}

async fn check_request(
    verifier: &DpopVerifier,
    proof: &str,
    method: &str,
    path_and_query: &str,
) -> Result<ProofOutcome, DpopError> {
    let request = Request {
        method,
        path_and_query,
        access_token: TOKEN,
        bound_to: None,
    };
    verifier.verify_at(proof, &request, NOW).await
}

#[track_caller]
fn assert_defect(result: Result<ProofOutcome, DpopError>, defect: ProofDefect) {
    assert_eq!(result, Err(DpopError::InvalidProof(defect)));
}

/// Signs `claims` changed by `edit` with a fresh P-256 key, and checks it.
async fn check_claims_edited(edit: impl FnOnce(&mut Value)) -> Result<ProofOutcome, DpopError> {
    let key = TestKey::p256("k");
    let mut claims = claims();
    edit(&mut claims);
    check(&verifier(), &sign(&key, &header(&key), &claims)).await
}

#[tokio::test]
async fn good_proofs_of_every_key_type_are_accepted_with_their_thumbprint() {
    let verifier = verifier();
    for key in [
        TestKey::p256("p256"),
        TestKey::p384("p384"),
        TestKey::ed25519("ed"),
        TestKey::rsa("rsa"),
    ] {
        let outcome = check(&verifier, &good_proof(&key)).await.unwrap();
        assert_eq!(Some(outcome.jkt()), jwk_thumbprint(&key.jwk).as_deref());
        assert!(outcome.is_bound_to(&jwk_thumbprint(&key.jwk).unwrap()));
    }
    // RSA-PSS, and RFC 9864's name for EdDSA over Ed25519.
    let rsa = TestKey::rsa("rsa");
    let pss = sign_raw(
        &json!({"typ":"dpop+jwt","alg":"PS256","jwk":rsa.jwk}).to_string(),
        &claims().to_string(),
        &rsa.encoding,
        Signing::PS256,
    );
    assert!(check(&verifier, &pss).await.is_ok());
    let ed = TestKey::ed25519("ed");
    let fully_specified = sign(
        &ed,
        &json!({"typ":"dpop+jwt","alg":"Ed25519","jwk":ed.jwk}),
        &claims(),
    );
    assert!(check(&verifier, &fully_specified).await.is_ok());
}

// Check 2: a well-formed JWS, bounded in size.

#[tokio::test]
async fn an_oversized_proof_is_refused() {
    let key = TestKey::p256("k");
    let mut claims = claims();
    claims["pad"] = json!("x".repeat(MAX_DPOP_PROOF_BYTES));
    assert_defect(
        check(&verifier(), &sign(&key, &header(&key), &claims)).await,
        ProofDefect::TooLarge,
    );
}

#[tokio::test]
async fn a_proof_that_is_not_a_compact_jws_is_refused() {
    let key = TestKey::p256("k");
    let good = good_proof(&key);
    let (signing_input, signature) = good.rsplit_once('.').unwrap();
    for bad in [
        String::new(),
        signing_input.to_owned(),
        format!("{good}.{signature}"),
        format!("{signing_input}.{signature}="),
        format!("{signing_input}.+{}", &signature[1..]),
        format!("{}.{good}", b64("{}")),
        format!(
            "{}.{}.{signature}",
            b64(header(&key).to_string()),
            b64("[1]")
        ),
    ] {
        let result = check(&verifier(), &bad).await;
        assert!(
            matches!(
                result,
                Err(DpopError::InvalidProof(
                    ProofDefect::Malformed | ProofDefect::Signature
                ))
            ),
            "{bad}: {result:?}"
        );
    }
    // Well signed, but the claims are not one JSON object without duplicates.
    for payload in [r#"{"jti":"a","jti":"b"}"#, "[1]", "null"] {
        let proof = sign_raw(&header(&key).to_string(), payload, &key.encoding, key.alg);
        assert_defect(check(&verifier(), &proof).await, ProofDefect::Malformed);
    }
    // A duplicate header member.
    let header_text = format!(
        r#"{{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256","jwk":{}}}"#,
        key.jwk
    );
    let proof = sign_raw(&header_text, &claims().to_string(), &key.encoding, key.alg);
    assert_defect(check(&verifier(), &proof).await, ProofDefect::Malformed);
}

#[tokio::test]
async fn a_crit_header_is_refused() {
    let key = TestKey::p256("k");
    let mut header = header(&key);
    header["crit"] = json!(["exp"]);
    assert_defect(
        check(&verifier(), &sign(&key, &header, &claims())).await,
        ProofDefect::Extension,
    );
}

// Check 4: `typ`.

#[tokio::test]
async fn typ_must_be_exactly_dpop_jwt() {
    let key = TestKey::p256("k");
    for typ in [
        None,
        Some(json!("JWT")),
        Some(json!("DPoP+JWT")),
        Some(json!("application/dpop+jwt")),
        Some(json!(1)),
    ] {
        let mut header = header(&key);
        match &typ {
            Some(value) => header["typ"] = value.clone(),
            None => {
                header.as_object_mut().unwrap().remove("typ");
            }
        }
        assert_defect(
            check(&verifier(), &sign(&key, &header, &claims())).await,
            ProofDefect::Type,
        );
    }
}

// Check 5: an asymmetric algorithm of the allow-list that fits the key.

#[tokio::test]
async fn none_symmetric_and_unlisted_algorithms_are_refused() {
    let key = TestKey::p256("k");
    let mut none = header(&key);
    none["alg"] = json!("none");
    let unsigned = format!("{}.{}.", b64(none.to_string()), b64(claims().to_string()));
    assert_defect(check(&verifier(), &unsigned).await, ProofDefect::Malformed);
    let unsigned = format!(
        "{}.{}.c2ln",
        b64(none.to_string()),
        b64(claims().to_string())
    );
    assert_defect(check(&verifier(), &unsigned).await, ProofDefect::Algorithm);

    let mut hs = header(&key);
    hs["alg"] = json!("HS256");
    let secret = jsonwebtoken::EncodingKey::from_secret(b"secret");
    let proof = sign_raw(
        &hs.to_string(),
        &claims().to_string(),
        &secret,
        Signing::HS256,
    );
    assert_defect(check(&verifier(), &proof).await, ProofDefect::Algorithm);

    let only_es256 = verifier_with(Arc::new(MemoryReplayStore::new(10)))
        .algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    let ed = TestKey::ed25519("ed");
    assert_defect(
        check(&only_es256, &good_proof(&ed)).await,
        ProofDefect::Algorithm,
    );
    assert!(check(&only_es256, &good_proof(&key)).await.is_ok());
}

#[tokio::test]
async fn an_algorithm_that_does_not_fit_the_key_is_refused() {
    let ec = TestKey::p256("k");
    let ed = TestKey::ed25519("ed");
    // Signed by the Ed25519 key, but its header names ES256 with the Ed25519 key's JWK.
    let header = json!({"typ":"dpop+jwt","alg":"ES256","jwk":ed.jwk});
    assert_defect(
        check(&verifier(), &sign(&ed, &header, &claims())).await,
        ProofDefect::KeyAlgorithmMismatch,
    );
    // A JWK whose own `alg` is another algorithm.
    let mut jwk = ec.jwk.clone();
    jwk["alg"] = json!("ES384");
    let header = json!({"typ":"dpop+jwt","alg":"ES256","jwk":jwk});
    assert_defect(
        check(&verifier(), &sign(&ec, &header, &claims())).await,
        ProofDefect::UnusableKey,
    );
}

// Checks 3 and 7: a `jwk` holding a public key only, held to the key set's checks.

#[tokio::test]
async fn a_proof_without_jwk_is_refused() {
    let key = TestKey::p256("k");
    let mut header = header(&key);
    header.as_object_mut().unwrap().remove("jwk");
    header["kid"] = json!("k");
    assert_defect(
        check(&verifier(), &sign(&key, &header, &claims())).await,
        ProofDefect::MissingKey,
    );
}

#[tokio::test]
async fn a_jwk_with_any_private_member_is_refused() {
    let key = TestKey::p256("k");
    for member in PRIVATE_MEMBERS {
        let mut header = header(&key);
        header["jwk"][member] = json!("AQAB");
        assert_defect(
            check(&verifier(), &sign(&key, &header, &claims())).await,
            ProofDefect::PrivateKey,
        );
    }
}

#[tokio::test]
async fn weak_or_invalid_keys_are_refused_as_in_key_sets() {
    let key = TestKey::p256("k");
    let rsa = TestKey::rsa("rsa");
    let mut short_rsa = rsa.jwk.clone();
    short_rsa["n"] = json!(b64([0xC5u8; 128])); // 1024 bits
    let mut even_exponent = rsa.jwk.clone();
    even_exponent["e"] = json!(b64([1u8, 0, 0]));
    let mut off_curve = key.jwk.clone();
    off_curve["y"] = key.jwk["x"].clone();
    let mut padded = key.jwk.clone();
    padded["x"] = json!(format!("{}=", key.jwk["x"].as_str().unwrap()));
    let mut encryption = key.jwk.clone();
    encryption["use"] = json!("enc");
    for (alg, jwk) in [
        ("RS256", short_rsa),
        ("RS256", even_exponent),
        ("ES256", off_curve),
        ("ES256", padded),
        ("ES256", encryption),
        // The Ed25519 identity, a small-order point that verifies forged signatures.
        (
            "EdDSA",
            json!({"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        ),
        ("ES256", json!({"kty":"oct","alg":"ES256"})),
        ("ES256", json!("a key")),
    ] {
        let header = json!({"typ":"dpop+jwt","alg":alg,"jwk":jwk});
        assert_defect(
            check(&verifier(), &sign(&key, &header, &claims())).await,
            ProofDefect::UnusableKey,
        );
    }
}

// Check 6: the signature.

#[tokio::test]
async fn a_proof_signed_by_another_key_is_refused() {
    let key = TestKey::p256("k");
    let other = TestKey::p256("other");
    assert_defect(
        check(&verifier(), &sign(&other, &header(&key), &claims())).await,
        ProofDefect::Signature,
    );
    // A valid proof whose claims were changed after signing.
    let good = good_proof(&key);
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut changed = claims();
    changed["htm"] = json!("POST");
    let payload = b64(changed.to_string());
    parts[1] = &payload;
    assert_defect(
        check(&verifier(), &parts.join(".")).await,
        ProofDefect::Signature,
    );
}

// Check 3: required claims.

#[tokio::test]
async fn each_required_claim_must_be_present() {
    for name in ["jti", "htm", "htu", "iat", "ath"] {
        let result = check_claims_edited(|claims| {
            claims.as_object_mut().unwrap().remove(name);
        })
        .await;
        assert_defect(result, ProofDefect::MissingClaim(name));
    }
}

#[tokio::test]
async fn claims_of_the_wrong_type_are_refused() {
    for (name, value) in [
        ("jti", json!(5)),
        ("htm", json!(["GET"])),
        ("htu", json!(5)),
        ("iat", json!(NOW.to_string())),
        ("iat", json!(1.75e9)),
        ("ath", json!({})),
    ] {
        let result = check_claims_edited(|claims| claims[name] = value.clone()).await;
        assert_defect(result, ProofDefect::InvalidClaim(name));
    }
}

#[tokio::test]
async fn jti_is_bounded() {
    let result = check_claims_edited(|claims| claims["jti"] = json!("")).await;
    assert_defect(result, ProofDefect::InvalidClaim("jti"));
    let result =
        check_claims_edited(|claims| claims["jti"] = json!("j".repeat(MAX_DPOP_JTI_BYTES + 1)))
            .await;
    assert_defect(result, ProofDefect::InvalidClaim("jti"));
    let result =
        check_claims_edited(|claims| claims["jti"] = json!("j".repeat(MAX_DPOP_JTI_BYTES))).await;
    assert!(result.is_ok());
}

// Check 8: `htm`.

#[tokio::test]
async fn htm_must_be_the_request_method() {
    let key = TestKey::p256("k");
    let verifier = verifier();
    assert_defect(
        check_request(&verifier, &good_proof(&key), "POST", "/protected").await,
        ProofDefect::Method,
    );
    let mut claims = claims();
    claims["htm"] = json!("get");
    assert_defect(
        check(&verifier, &sign(&key, &header(&key), &claims)).await,
        ProofDefect::Method,
    );
}

// Check 9: `htu`.

#[tokio::test]
async fn htu_must_be_the_request_uri_after_normalisation() {
    let key = TestKey::p256("k");
    let verifier = verifier();
    for (htu, path) in [
        ("HTTPS://API.EXAMPLE.COM:443/protected", "/protected"),
        (
            "https://api.example.com/protected?x=1#top",
            "/protected?page=2",
        ),
        (
            "https://api.example.com/%7Ealice/./x/../items",
            "/~alice/items",
        ),
        ("https://api.example.com/a%2fb", "/a%2Fb"),
    ] {
        let mut claims = claims();
        claims["htu"] = json!(htu);
        let proof = sign(&key, &header(&key), &claims);
        assert!(
            check_request(&verifier, &proof, "GET", path).await.is_ok(),
            "{htu} for {path}"
        );
    }
    for (htu, path) in [
        ("http://api.example.com/protected", "/protected"),
        ("https://api.example.com:8443/protected", "/protected"),
        ("https://other.example.com/protected", "/protected"),
        ("https://api.example.com/admin", "/protected"),
        ("https://api.example.com/protected/", "/protected"),
        ("https://api.example.com/a%2Fb", "/a/b"),
        ("/protected", "/protected"),
        ("not a url", "/protected"),
    ] {
        let mut claims = claims();
        claims["htu"] = json!(htu);
        let proof = sign(&key, &header(&key), &claims);
        assert_defect(
            check_request(&verifier, &proof, "GET", path).await,
            ProofDefect::Uri,
        );
    }
}

// Check 11: `iat`.

#[tokio::test]
async fn iat_must_be_within_the_maximum_age_and_the_leeway() {
    let oldest = NOW - MAX_AGE - LEEWAY;
    assert!(
        check_claims_edited(|c| c["iat"] = json!(oldest))
            .await
            .is_ok()
    );
    assert_defect(
        check_claims_edited(|c| c["iat"] = json!(oldest - 1)).await,
        ProofDefect::Stale,
    );
    assert!(
        check_claims_edited(|c| c["iat"] = json!(NOW + LEEWAY))
            .await
            .is_ok()
    );
    assert_defect(
        check_claims_edited(|c| c["iat"] = json!(NOW + LEEWAY + 1)).await,
        ProofDefect::IssuedInFuture,
    );
    assert_defect(
        check_claims_edited(|c| c["iat"] = json!(i64::MIN)).await,
        ProofDefect::Stale,
    );
    assert_defect(
        check_claims_edited(|c| c["iat"] = json!(i64::MAX)).await,
        ProofDefect::IssuedInFuture,
    );
}

// Check 12: `ath`, and the key the token is bound to.

#[tokio::test]
async fn ath_must_hash_the_access_token() {
    assert_defect(
        check_claims_edited(|c| c["ath"] = json!(ath("another token"))).await,
        ProofDefect::AccessTokenHash,
    );
    let padded = format!("{}=", ath(TOKEN));
    assert_defect(
        check_claims_edited(|c| c["ath"] = json!(padded)).await,
        ProofDefect::AccessTokenHash,
    );
}

#[tokio::test]
async fn a_proof_of_another_key_than_the_tokens_is_refused_before_it_is_remembered() {
    let key = TestKey::p256("k");
    let verifier = verifier();
    let proof = good_proof(&key);
    let other_jkt = jwk_thumbprint(&TestKey::p256("other").jwk).unwrap();
    let request = |bound_to| Request {
        method: "GET",
        path_and_query: "/protected",
        access_token: TOKEN,
        bound_to,
    };
    assert_eq!(
        verifier
            .verify_at(&proof, &request(Some(&other_jkt)), NOW)
            .await,
        Err(DpopError::InvalidProof(ProofDefect::KeyBinding))
    );
    // Not remembered: the same proof is accepted with the right binding.
    let jkt = jwk_thumbprint(&key.jwk).unwrap();
    let outcome = verifier.verify_at(&proof, &request(Some(&jkt)), NOW).await;
    assert_eq!(outcome.map(|o| o.jkt().to_owned()), Ok(jkt));
}

// RFC 9449 §11.1: replays.

#[tokio::test]
async fn a_proof_is_accepted_once() {
    let key = TestKey::p256("k");
    let verifier = verifier();
    let proof = good_proof(&key);
    assert!(check(&verifier, &proof).await.is_ok());
    assert_defect(check(&verifier, &proof).await, ProofDefect::Replayed);
    // The same `jti` from another key is another proof.
    let other = TestKey::p256("other");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(proof.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        check(&verifier, &sign(&other, &header(&other), &claims))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_refused_proof_is_not_remembered() {
    let key = TestKey::p256("k");
    let verifier = verifier();
    let proof = good_proof(&key);
    assert_defect(
        check_request(&verifier, &proof, "POST", "/protected").await,
        ProofDefect::Method,
    );
    assert!(check(&verifier, &proof).await.is_ok());
}

/// Records the lifetimes asked of a memory store.
struct Recording {
    store: MemoryReplayStore,
    ttls: Mutex<Vec<Duration>>,
}

impl ReplayStore for Recording {
    fn check_and_remember<'a>(
        &'a self,
        key: &'a ReplayKey,
        ttl: Duration,
    ) -> super::super::replay::ReplayFuture<'a> {
        self.ttls.lock().unwrap().push(ttl);
        self.store.check_and_remember(key, ttl)
    }
}

#[tokio::test]
async fn a_jti_is_remembered_until_its_proof_could_no_longer_be_accepted() {
    let recording = Arc::new(Recording {
        store: MemoryReplayStore::new(10),
        ttls: Mutex::new(Vec::new()),
    });
    let verifier = verifier_with(Arc::clone(&recording) as Arc<dyn ReplayStore>)
        .build()
        .unwrap();
    let key = TestKey::p256("k");
    for iat in [NOW, NOW - 50, NOW + 20] {
        let mut claims = claims();
        claims["iat"] = json!(iat);
        assert!(
            check(&verifier, &sign(&key, &header(&key), &claims))
                .await
                .is_ok()
        );
    }
    // `iat` + max age + leeway - now, and a second for rounding.
    let expected: Vec<Duration> = [NOW, NOW - 50, NOW + 20]
        .iter()
        .map(|iat| Duration::from_secs((iat + MAX_AGE + LEEWAY - NOW + 1).unsigned_abs()))
        .collect();
    assert_eq!(*recording.ttls.lock().unwrap(), expected);
}

/// A store that cannot be reached.
struct Unreachable;

impl ReplayStore for Unreachable {
    fn check_and_remember<'a>(
        &'a self,
        _key: &'a ReplayKey,
        _ttl: Duration,
    ) -> super::super::replay::ReplayFuture<'a> {
        Box::pin(std::future::ready(Err(ReplayStoreError::Unavailable(
            "connection refused",
        ))))
    }
}

#[tokio::test]
async fn an_unavailable_store_refuses_the_proof() {
    let verifier = verifier_with(Arc::new(Unreachable)).build().unwrap();
    let key = TestKey::p256("k");
    let refusal = check(&verifier, &good_proof(&key)).await.unwrap_err();
    assert_eq!(
        refusal,
        DpopError::ReplayStoreUnavailable(ReplayStoreError::Unavailable("connection refused"))
    );
    assert_eq!(refusal.status(), 503);
}

// Check 10: nonces (RFC 9449 §9).

#[tokio::test]
async fn nonces_issued_by_another_replica_sharing_the_secret_are_accepted() {
    let replica = |store: Arc<dyn ReplayStore>| {
        verifier_with(store)
            .nonces(DpopNonces::from_secret(b"fleet secret, 32 bytes or more: 9f2c").unwrap())
            .build()
            .unwrap()
    };
    let store: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(10));
    let (a, b) = (replica(Arc::clone(&store)), replica(store));
    let key = TestKey::p256("k");

    assert_eq!(check(&b, &good_proof(&key)).await, Err(DpopError::UseNonce));

    let mut claims = claims();
    claims["nonce"] = json!(a.nonces().unwrap().issue_at(NOW));
    assert!(check(&b, &sign(&key, &header(&key), &claims)).await.is_ok());

    // A nonce of long ago, or of another secret, is refused the same way.
    for nonce in [
        a.nonces().unwrap().issue_at(NOW - 1000),
        DpopNonces::from_secret(b"another fleet secret, 32 bytes: 77d0")
            .unwrap()
            .issue_at(NOW),
    ] {
        let mut claims = claims.clone();
        claims["jti"] = json!(format!("jti-{}", fastrand::u64(..)));
        claims["nonce"] = json!(nonce);
        assert_eq!(
            check(&b, &sign(&key, &header(&key), &claims)).await,
            Err(DpopError::UseNonce)
        );
    }
}

#[tokio::test]
async fn a_nonce_does_not_hide_other_defects() {
    let verifier = verifier_with(Arc::new(MemoryReplayStore::new(10)))
        .nonces(DpopNonces::from_secret(b"fleet secret, 32 bytes or more: 9f2c").unwrap())
        .build()
        .unwrap();
    let key = TestKey::p256("k");
    assert_defect(
        check_request(&verifier, &good_proof(&key), "DELETE", "/protected").await,
        ProofDefect::Method,
    );
}

#[test]
fn the_configuration_is_checked() {
    let build = |builder: DpopVerifierBuilder| builder.build().map(|_| ()).unwrap_err();
    let store = || Arc::new(MemoryReplayStore::new(10)) as Arc<dyn ReplayStore>;
    assert_eq!(
        build(verifier_with(store()).algorithms([Algorithm::ES256, Algorithm::HS256])),
        crate::DpopConfigError::SymmetricAlgorithm
    );
    assert_eq!(
        build(verifier_with(store()).algorithms([])),
        crate::DpopConfigError::NoAlgorithm
    );
    for age in [0, 301] {
        assert_eq!(
            build(verifier_with(store()).max_age(Duration::from_secs(age))),
            crate::DpopConfigError::MaxAgeOutOfRange
        );
    }
    assert_eq!(
        build(verifier_with(store()).leeway(Duration::from_secs(301))),
        crate::DpopConfigError::LeewayOutOfRange
    );
    let verifier = verifier_with(store())
        .algorithms([Algorithm::ES256, Algorithm::EdDSA, Algorithm::ES256])
        .build()
        .unwrap();
    assert_eq!(verifier.algorithms(), [Algorithm::ES256, Algorithm::EdDSA]);
    assert_eq!(verifier.challenge(None), r#"DPoP algs="ES256 EdDSA""#);
    assert_eq!(
        verifier.challenge(Some(&DpopError::InvalidProof(ProofDefect::Stale))),
        r#"DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="DPoP proof is too old""#
    );
}

#[test]
fn verification_can_run_on_any_thread() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let verifier = verifier();
    assert_send_sync(&verifier);
    // Web frameworks run handlers on a multi-threaded runtime: the future must be `Send`.
    let future = verifier.verify("proof", "GET", "/protected", TOKEN);
    assert_send(&future);
    let future = verifier.verify_for_token("proof", "GET", "/protected", TOKEN, "jkt");
    assert_send(&future);
}

// The memory store's fair share, with real proofs.

#[tokio::test]
async fn a_flooding_key_gets_429_and_every_other_key_is_still_served() {
    // A capacity of 1000: over half full past 500 entries, a key's share 10.
    let store = Arc::new(MemoryReplayStore::new(1000));
    let verifier = verifier_with(Arc::clone(&store) as Arc<dyn ReplayStore>)
        .build()
        .unwrap();
    let (flood, other, modest) = (
        TestKey::p256("flood"),
        TestKey::ed25519("other"),
        TestKey::p256("modest"),
    );
    // While the store is at most half full, the flooding key is served however many it
    // holds: its 501st proof takes the store over half.
    for n in 0..501 {
        assert!(
            check(&verifier, &good_proof(&flood)).await.is_ok(),
            "fresh proof {n} of the flooding key was refused"
        );
    }
    assert_eq!(store.live(), 501);
    let refusal = check(&verifier, &good_proof(&flood)).await.unwrap_err();
    let DpopError::TooManyProofs { retry_after_secs } = refusal else {
        panic!("the flooding key was not refused for its share: {refusal:?}");
    };
    // Until its entries expire: each is remembered 91 s (and a second of rounding).
    assert!((1..=92).contains(&retry_after_secs), "{retry_after_secs}");
    assert_eq!(refusal.status(), 429);
    assert_eq!(refusal.retry_after_secs(), Some(retry_after_secs));
    // Every further fresh proof of it is refused, and takes no room.
    for _ in 0..50 {
        assert!(matches!(
            check(&verifier, &good_proof(&flood)).await,
            Err(DpopError::TooManyProofs { .. })
        ));
    }
    assert_eq!(store.live(), 501);

    // Another key is served, up to its share and one more; then it is refused in turn.
    for n in 0..11 {
        assert!(
            check(&verifier, &good_proof(&other)).await.is_ok(),
            "fresh proof {n} of another key was refused"
        );
    }
    assert!(matches!(
        check(&verifier, &good_proof(&other)).await,
        Err(DpopError::TooManyProofs { .. })
    ));
    // A key under its share is never refused for the store's sake, and its replays are
    // still replays.
    let mut last = String::new();
    for _ in 0..10 {
        last = good_proof(&modest);
        assert!(check(&verifier, &last).await.is_ok());
    }
    assert_defect(check(&verifier, &last).await, ProofDefect::Replayed);
    assert_eq!(store.live(), 501 + 11 + 10);
}
