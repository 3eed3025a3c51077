//! Certificate-bound access tokens behind a gateway (RFC 8705 §3): the client certificate
//! the gateway forwards in a header, and its `x5t#S256` thumbprint.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::percent_decode_str;
use x509_cert::Certificate;
use x509_cert::der::Decode;

use super::thumbprint::thumbprints_match;
use super::xfcc;

/// The longest header value read, in bytes: a certificate of several kilobytes, URL-encoded
/// (up to three bytes a character), with room for XFCC's other fields.
pub const MAX_FORWARDED_CERT_BYTES: usize = 16 * 1024;

/// The PEM label of a certificate (RFC 7468 §5.1).
const CERTIFICATE_LABEL: &str = "CERTIFICATE";

/// The client certificate a TLS-terminating gateway forwarded, checked to be one
/// well-formed X.509 certificate.
///
/// The header value is either the URL-encoded PEM that nginx's `$ssl_client_escaped_cert`
/// gives, or an Envoy `X-Forwarded-Client-Cert` value of one element with a `Cert="..."`
/// field (URL-encoded PEM too). More than one element, or more than one certificate, is
/// refused: the gateway must set the header, not append to what the client sent.
///
/// ```
/// use api_auth::{CertBindingError, ForwardedCertificate};
///
/// # let der = rcgen::generate_simple_self_signed(vec!["client".into()])?.cert.der().to_vec();
/// # let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der));
/// # let nginx_header: String =
/// #     percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).collect();
/// // `nginx_header` is `$ssl_client_escaped_cert`: `-----BEGIN%20CERTIFICATE-----%0AMIIB...`
/// let cert = ForwardedCertificate::from_header(&nginx_header)?;
/// // `cnf_x5t_s256` is the token's verified `cnf["x5t#S256"]` claim.
/// # let cnf_x5t_s256 = cert.x5t_s256().to_owned();
/// assert!(cert.is_bound_to(&cnf_x5t_s256));
///
/// assert_eq!(
///     ForwardedCertificate::from_header("By=spiffe://gw;Hash=ab"),
///     Err(CertBindingError::NoCertificate)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedCertificate {
    der: Vec<u8>,
    x5t_s256: String,
}

/// Why a forwarded certificate header cannot be used (the token is then refused,
/// `401 invalid_token`). The text never repeats the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertBindingError {
    /// Longer than [`MAX_FORWARDED_CERT_BYTES`].
    #[error("the forwarded client certificate header is too large")]
    TooLarge,
    /// Empty, not URL-encoded PEM, or not a well-formed XFCC value.
    #[error("the forwarded client certificate header is malformed")]
    Malformed,
    /// An XFCC value with more than one element.
    #[error("the forwarded client certificate header holds more than one element")]
    MultipleElements,
    /// More than one certificate (PEM blocks, or `Cert` fields).
    #[error("the forwarded client certificate header holds more than one certificate")]
    MultipleCertificates,
    /// An XFCC element without a `Cert` field.
    #[error("the forwarded client certificate header holds no certificate")]
    NoCertificate,
    /// A PEM block that is not a DER-encoded X.509 certificate.
    #[error("the forwarded client certificate is not an X.509 certificate")]
    NotACertificate,
}

impl ForwardedCertificate {
    /// Reads the header value: URL-encoded PEM (nginx), or an XFCC element (Envoy).
    pub fn from_header(value: &str) -> Result<Self, CertBindingError> {
        if value.len() > MAX_FORWARDED_CERT_BYTES {
            return Err(CertBindingError::TooLarge);
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(CertBindingError::Malformed);
        }
        // URL-encoded PEM decodes to text starting with dashes (which some proxies encode,
        // nginx does not); an XFCC element starts with a key, and must be split into its
        // fields before its `Cert` is decoded.
        let decoded = percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| CertBindingError::Malformed)?;
        if decoded.starts_with("-----") {
            return Self::from_pem(decoded.trim());
        }
        let field = xfcc::cert_field(value)?;
        let pem_text = percent_decode_str(&field)
            .decode_utf8()
            .map_err(|_| CertBindingError::Malformed)?;
        Self::from_pem(pem_text.trim())
    }

    /// Reads one PEM certificate, and nothing else.
    fn from_pem(text: &str) -> Result<Self, CertBindingError> {
        let begin = format!("-----BEGIN {CERTIFICATE_LABEL}-----");
        let end = format!("-----END {CERTIFICATE_LABEL}-----");
        if !text.starts_with(&begin) || !text.ends_with(&end) {
            return Err(CertBindingError::Malformed);
        }
        let blocks = pem::parse_many(text).map_err(|_| CertBindingError::Malformed)?;
        let block = match blocks.as_slice() {
            [one] => one,
            [] => return Err(CertBindingError::Malformed),
            _ => return Err(CertBindingError::MultipleCertificates),
        };
        if block.tag() != CERTIFICATE_LABEL {
            return Err(CertBindingError::Malformed);
        }
        let der = block.contents();
        // One DER-encoded certificate (RFC 5280 §4.1), nothing after it. Its signature and
        // validity are the gateway's to check, which verified the TLS client certificate.
        Certificate::from_der(der).map_err(|_| CertBindingError::NotACertificate)?;
        Ok(Self {
            x5t_s256: URL_SAFE_NO_PAD.encode(digest(&SHA256, der)),
            der: der.to_vec(),
        })
    }

    /// The certificate, DER-encoded.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The base64url SHA-256 of the DER (RFC 8705 §3.1 `x5t#S256`).
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// Whether a token's `cnf["x5t#S256"]` names this certificate (RFC 8705 §3),
    /// compared in constant time.
    pub fn is_bound_to(&self, cnf_x5t_s256: &str) -> bool {
        thumbprints_match(cnf_x5t_s256, &self.x5t_s256)
    }
}

#[cfg(test)]
mod tests {
    use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

    use super::*;

    fn certificate(name: &str) -> Vec<u8> {
        rcgen::generate_simple_self_signed(vec![name.to_owned()])
            .unwrap()
            .cert
            .der()
            .to_vec()
    }

    fn pem_of(der: &[u8]) -> String {
        pem::encode(&pem::Pem::new(CERTIFICATE_LABEL, der.to_vec()))
    }

    /// What nginx's `$ssl_client_escaped_cert` escapes (`ngx_escape_uri`'s URI component
    /// set, for the characters PEM holds): line breaks, spaces, `+`, `/` and `=`.
    const NGINX: &AsciiSet = &CONTROLS.add(b' ').add(b'+').add(b'/').add(b'=');

    /// What nginx's `$ssl_client_escaped_cert` gives.
    fn url_encoded(text: &str) -> String {
        utf8_percent_encode(text, NGINX).to_string()
    }

    fn thumbprint(der: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(digest(&SHA256, der))
    }

    #[test]
    fn nginx_escaped_pem_gives_the_certificate_thumbprint() {
        let der = certificate("client.example");
        let header = url_encoded(&pem_of(&der));
        assert!(
            header.starts_with("-----BEGIN%20CERTIFICATE-----%0D%0A"),
            "{header}"
        );
        let cert = ForwardedCertificate::from_header(&header).unwrap();
        assert_eq!(cert.der(), der);
        // Encoded by a proxy that escapes every character but letters and digits.
        let aggressive = utf8_percent_encode(&pem_of(&der), NON_ALPHANUMERIC).to_string();
        assert_eq!(
            ForwardedCertificate::from_header(&aggressive),
            Ok(cert.clone())
        );
        assert_eq!(cert.x5t_s256(), thumbprint(&der));
        assert!(cert.is_bound_to(&thumbprint(&der)));
        assert!(!cert.is_bound_to(&thumbprint(&certificate("other.example"))));
    }

    #[test]
    fn an_envoy_xfcc_element_gives_the_certificate_thumbprint() {
        let der = certificate("client.example");
        let header = format!(
            r#"By=spiffe://cluster.local/ns/default/sa/api;Hash=0123abcd;Cert="{}";Subject="CN=client.example,O=Example";URI=spiffe://cluster.local/ns/default/sa/client"#,
            url_encoded(&pem_of(&der))
        );
        let cert = ForwardedCertificate::from_header(&header).unwrap();
        assert_eq!(cert.x5t_s256(), thumbprint(&der));
    }

    #[test]
    fn more_than_one_certificate_or_element_is_refused() {
        let one = pem_of(&certificate("a.example"));
        let two = format!("{one}{}", pem_of(&certificate("b.example")));
        assert_eq!(
            ForwardedCertificate::from_header(&url_encoded(&two)),
            Err(CertBindingError::MultipleCertificates)
        );
        let element = format!(r#"Hash=ab;Cert="{}""#, url_encoded(&one));
        assert_eq!(
            ForwardedCertificate::from_header(&format!("{element},{element}")),
            Err(CertBindingError::MultipleElements)
        );
        assert_eq!(
            ForwardedCertificate::from_header(&format!(r#"Cert="{}""#, url_encoded(&two))),
            Err(CertBindingError::MultipleCertificates)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let der = certificate("client.example");
        let good = url_encoded(&pem_of(&der));
        let not_a_cert = url_encoded(&pem_of(b"\x30\x03\x02\x01\x01"));
        let trailing = url_encoded(&pem_of(&[der.as_slice(), &[0]].concat()));
        let other_label = url_encoded(&pem::encode(&pem::Pem::new("PUBLIC KEY", der.clone())));
        for (value, error) in [
            ("", CertBindingError::Malformed),
            ("   ", CertBindingError::Malformed),
            (
                "-----BEGIN%20CERTIFICATE-----%0AAAAA",
                CertBindingError::Malformed,
            ),
            (&good[..good.len() / 2], CertBindingError::Malformed),
            (
                "-----BEGIN%20CERTIFICATE-----%0A%FF%0A-----END%20CERTIFICATE-----",
                CertBindingError::Malformed,
            ),
            (&not_a_cert, CertBindingError::NotACertificate),
            (&trailing, CertBindingError::NotACertificate),
            (&other_label, CertBindingError::Malformed),
            ("Cert=\"unterminated", CertBindingError::Malformed),
        ] {
            assert_eq!(
                ForwardedCertificate::from_header(value),
                Err(error),
                "{value}"
            );
        }
        assert_eq!(
            ForwardedCertificate::from_header(&"A".repeat(MAX_FORWARDED_CERT_BYTES + 1)),
            Err(CertBindingError::TooLarge)
        );
    }
}
