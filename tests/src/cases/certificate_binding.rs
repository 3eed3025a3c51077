//! Certificate-bound tokens (RFC 8705): a token whose `cnf.x5t#S256` names a client
//! certificate is accepted only with that certificate, which the gateway that ended the TLS
//! session forwards in `AUTH_MTLS_CERT_HEADER`: URL-encoded PEM (nginx's
//! `$ssl_client_escaped_cert`) or an Envoy `X-Forwarded-Client-Cert` element. Certificates
//! are real ones, made with `rcgen`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::Case;
use super::support::{Remote, assert_granted, assert_refused_as, claims, claims_with, remote};
use crate::keys::{b64, keys, mint};
use crate::sample::{Resp, Sample};

/// What the gateway forwards the certificate in (the sample is configured with this
/// spelling; header names are case-insensitive).
const CERT_HEADER: &str = "X-Client-Cert";
/// The shared secret only the gateway knows: the header is trusted only behind it.
const SECRET: &str = "mtls-gateway-secret-2a7c9e1f4b0d8635";

/// What `encodeURIComponent` leaves alone (RFC 3986 unreserved characters and `!*'()`):
/// everything else of the PEM, line breaks included, is percent-encoded, as gateways do.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A client certificate: its DER, its PEM and its subject.
struct ClientCert {
    der: Vec<u8>,
    pem: String,
}

impl ClientCert {
    /// A fresh self-signed certificate for `name` (a new key pair each time).
    fn new(name: &str) -> Self {
        let certified =
            rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("client certificate");
        Self {
            der: certified.cert.der().to_vec(),
            pem: certified.cert.pem(),
        }
    }

    /// RFC 8705 §3.1 `x5t#S256`: base64url of the SHA-256 of the DER.
    fn thumbprint(&self) -> String {
        b64(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.der,
        ))
    }

    /// The PEM, URL-encoded, as nginx's `$ssl_client_escaped_cert` forwards it.
    fn escaped(&self) -> String {
        utf8_percent_encode(&self.pem, URI_COMPONENT).to_string()
    }

    /// One Envoy `X-Forwarded-Client-Cert` element: `Hash` (hex SHA-256 of the DER), `Cert`
    /// (the URL-encoded PEM) and `Subject`, quoted as Envoy quotes values.
    fn xfcc(&self) -> String {
        let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "Hash={hash};Cert=\"{}\";Subject=\"CN=rcgen self signed cert\"",
            self.escaped()
        )
    }
}

/// A sample behind a gateway that forwards client certificates in [`CERT_HEADER`].
async fn mtls_remote(bin: &str) -> Remote {
    remote(
        bin,
        &[
            ("AUTH_MTLS_CERT_HEADER", CERT_HEADER),
            ("SHARED_SECRET", SECRET),
        ],
    )
    .await
}

/// A token of `issuer` bound to `cert` (RFC 8705 §3.1: `cnf.x5t#S256`).
fn bound_token(issuer: &str, cert: &ClientCert) -> String {
    let claims: Value = claims_with(issuer, json!({ "cnf": { "x5t#S256": cert.thumbprint() } }));
    mint(&keys().ec256, &claims)
}

/// `GET /protected` through the gateway: the shared secret, the bearer token, and one
/// certificate header field per value.
async fn get_with_certs(s: &Sample, token: &str, values: &[&str]) -> Resp {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![
        ("x-shared-secret", SECRET),
        ("authorization", bearer.as_str()),
    ];
    headers.extend(values.iter().map(|value| ("x-client-cert", *value)));
    s.get("/protected", &headers).await
}

#[track_caller]
fn assert_refused(resp: &Resp, what: &str) {
    assert_refused_as(resp, 401, "Bearer", "invalid_token", what);
}

/// RFC 8705 §3 and contract ("accepted only when that equals the base64url SHA-256 of the
/// forwarded certificate's DER"): a certificate-bound token is accepted with its
/// certificate, forwarded as URL-encoded PEM or as an Envoy XFCC element (whatever the
/// order of its fields), and refused `401 invalid_token` with another client's certificate.
async fn certificate_bound_token_is_accepted_only_with_its_certificate(bin: &str) {
    let r = mtls_remote(bin).await;
    let cert = ClientCert::new("client.example.test");
    let other = ClientCert::new("client.example.test");
    let token = bound_token(&r.idp.issuer(), &cert);
    let reordered = format!(
        "By=spiffe://api.example.test/gateway;{};URI=spiffe://client.example.test",
        cert.xfcc()
    );
    for (what, value) in [
        ("URL-encoded PEM", cert.escaped()),
        ("XFCC element", cert.xfcc()),
        ("XFCC element with By and URI", reordered),
    ] {
        let resp = get_with_certs(&r.sample, &token, &[&value]).await;
        assert_granted(&resp, what);
        assert_eq!(
            resp.json["user"]["cnf"]["x5t#S256"],
            cert.thumbprint(),
            "{what}: {}",
            resp.text
        );
    }
    assert_refused(
        &get_with_certs(&r.sample, &token, &[&other.escaped()]).await,
        "another certificate as PEM",
    );
    assert_refused(
        &get_with_certs(&r.sample, &token, &[&other.xfcc()]).await,
        "another certificate as XFCC",
    );
}

/// RFC 8705 §3 binds only the tokens that say so, contract ("without a certificate ... it
/// is `401 invalid_token`"): without a certificate header, or with an empty one, a
/// certificate-bound token is refused, while a token without `cnf` needs no certificate.
async fn only_certificate_bound_tokens_need_a_certificate(bin: &str) {
    let r = mtls_remote(bin).await;
    let unbound = mint(&keys().ec256, &claims(&r.idp.issuer()));
    assert_granted(
        &get_with_certs(&r.sample, &unbound, &[]).await,
        "unbound token, no certificate",
    );
    let cert = ClientCert::new("client.example.test");
    let token = bound_token(&r.idp.issuer(), &cert);
    assert_refused(
        &get_with_certs(&r.sample, &token, &[]).await,
        "bound token, no certificate header",
    );
    assert_refused(
        &get_with_certs(&r.sample, &token, &[""]).await,
        "bound token, empty certificate header",
    );
}

/// Contract ("Never a `500`"; a header that holds no certificate is no certificate): a
/// malformed certificate header refuses a certificate-bound token with `401
/// invalid_token`.
async fn malformed_certificate_header_is_refused(bin: &str) {
    let r = mtls_remote(bin).await;
    let cert = ClientCert::new("client.example.test");
    let token = bound_token(&r.idp.issuer(), &cert);
    let not_der = utf8_percent_encode(
        &format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 300])
        ),
        URI_COMPONENT,
    )
    .to_string();
    let not_base64 = utf8_percent_encode(
        "-----BEGIN CERTIFICATE-----\n%%%% not base64 %%%%\n-----END CERTIFICATE-----\n",
        URI_COMPONENT,
    )
    .to_string();
    let escaped = cert.escaped();
    let truncated = escaped[..escaped.len() / 2].to_owned();
    let unterminated = format!("Hash=00;Cert=\"{escaped}");
    for (what, value) in [
        ("garbage", "not a certificate".to_owned()),
        ("bad percent-encoding", "%ZZ%".to_owned()),
        ("PEM of bytes that are not DER", not_der),
        ("PEM that is not base64", not_base64),
        ("truncated PEM", truncated),
        ("XFCC with an unterminated Cert", unterminated),
        ("XFCC without Cert", "Hash=00;Subject=\"CN=x\"".to_owned()),
        ("XFCC with an empty Cert", "Cert=\"\"".to_owned()),
    ] {
        let resp = get_with_certs(&r.sample, &token, &[&value]).await;
        assert_refused(&resp, what);
    }
}

/// Contract ("A header holding more than one certificate or XFCC element is refused the
/// same way"): two certificates in one value, two XFCC elements, and two header fields are
/// refused `401 invalid_token`, even when the first is the right one.
async fn several_certificates_are_refused(bin: &str) {
    let r = mtls_remote(bin).await;
    let cert = ClientCert::new("client.example.test");
    let other = ClientCert::new("client.example.test");
    let token = bound_token(&r.idp.issuer(), &cert);
    let two_pems =
        utf8_percent_encode(&format!("{}{}", cert.pem, other.pem), URI_COMPONENT).to_string();
    let same_twice =
        utf8_percent_encode(&format!("{}{}", cert.pem, cert.pem), URI_COMPONENT).to_string();
    let two_elements = format!("{},{}", cert.xfcc(), other.xfcc());
    let escaped = cert.escaped();
    let other_escaped = other.escaped();
    for (what, values) in [
        ("two PEM certificates in one value", vec![two_pems.as_str()]),
        ("the same PEM twice", vec![same_twice.as_str()]),
        ("two XFCC elements", vec![two_elements.as_str()]),
        (
            "two header fields",
            vec![escaped.as_str(), other_escaped.as_str()],
        ),
        (
            "the same header field twice",
            vec![escaped.as_str(), escaped.as_str()],
        ),
    ] {
        let resp = get_with_certs(&r.sample, &token, &values).await;
        assert_refused(&resp, what);
    }
}

/// Contract ("a binding is never silently ignored"): without `AUTH_MTLS_CERT_HEADER`, a
/// token carrying `cnf.x5t#S256` is refused `401 invalid_token`, even with its certificate
/// in a header the sample was not told to trust.
async fn certificate_bound_token_is_refused_without_the_header_setting(bin: &str) {
    let r = remote(bin, &[("SHARED_SECRET", SECRET)]).await;
    let cert = ClientCert::new("client.example.test");
    let token = bound_token(&r.idp.issuer(), &cert);
    assert_refused(
        &get_with_certs(&r.sample, &token, &[&cert.escaped()]).await,
        "cnf.x5t#S256 without AUTH_MTLS_CERT_HEADER",
    );
}

/// Contract ("The header is trusted only behind the gateway, so `AUTH_MTLS_CERT_HEADER`
/// without `SHARED_SECRET` is a start-up error"): it stops start-up naming a variable of
/// the pair, while the same configuration with the secret starts.
async fn certificate_header_without_shared_secret_stops_startup(bin: &str) {
    let issuer = ("AUTH_ISSUER", "https://idp.example");
    let header = ("AUTH_MTLS_CERT_HEADER", CERT_HEADER);
    drop(Sample::start(bin, &[issuer, header, ("SHARED_SECRET", SECRET)]).await);
    let (code, stderr) = Sample::start_failure(bin, &[issuer, header]).await;
    assert!(code.is_some_and(|c| c != 0), "started (exit {code:?})");
    assert!(
        stderr.contains("AUTH_MTLS_CERT_HEADER") || stderr.contains("SHARED_SECRET"),
        "the error names neither variable:\n{stderr}"
    );
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(certificate_bound_token_is_accepted_only_with_its_certificate),
    case!(only_certificate_bound_tokens_need_a_certificate),
    case!(malformed_certificate_header_is_refused),
    case!(several_certificates_are_refused),
    case!(certificate_bound_token_is_refused_without_the_header_setting),
    case!(certificate_header_without_shared_secret_stops_startup),
];
