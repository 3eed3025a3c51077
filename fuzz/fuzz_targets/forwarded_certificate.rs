//! Arbitrary bytes as the client certificate header a gateway forwards (URL-encoded PEM, or
//! an Envoy `X-Forwarded-Client-Cert` element) through `ForwardedCertificate::from_header`.
//!
//! Every input is read or refused without a panic; one that is read has a 43-character
//! `x5t#S256` (base64url of a SHA-256) and binds a token carrying exactly that thumbprint.

#![no_main]

use api_auth::ForwardedCertificate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    if let Ok(certificate) = ForwardedCertificate::from_header(&value) {
        let thumbprint = certificate.x5t_s256();
        assert_eq!(thumbprint.len(), 43, "{thumbprint}");
        assert!(certificate.is_bound_to(thumbprint));
        assert!(!certificate.der().is_empty());
    }
});
