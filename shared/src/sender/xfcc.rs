//! The `Cert` field of an Envoy `X-Forwarded-Client-Cert` header holding one element.
//!
//! Hand-rolled: no maintained crate parses XFCC, and the grammar is small. Envoy's format
//! (its "x-forwarded-client-cert" documentation): elements separated by `,`; in an element,
//! `key=value` pairs separated by `;`; a value containing `,`, `;` or `=` is in double
//! quotes, inside which `\"` is a quote. Keys are `By`, `Hash`, `Cert`, `Chain`, `Subject`,
//! `URI` and `DNS`; `Cert` is the client's certificate, URL-encoded PEM.

use super::cert_binding::CertBindingError;

/// Splits `text` on `separator` outside double-quoted strings; `None` for an unterminated
/// quote or an escape at the very end.
fn split_outside_quotes(text: &str, separator: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..index]);
            start = index + c.len_utf8();
        }
    }
    if quoted || escaped {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// A value as written: unquoted, or quoted with `\"` and `\\` escapes.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return (!value.contains('"')).then(|| value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            other => out.push(other),
        }
    }
    Some(out)
}

/// The `Cert` value (still URL-encoded) of the header's only element.
pub(super) fn cert_field(header: &str) -> Result<String, CertBindingError> {
    let elements = split_outside_quotes(header, ',').ok_or(CertBindingError::Malformed)?;
    let [element] = elements.as_slice() else {
        // A gateway that appends to the header rather than setting it forwards what the
        // client sent too: which element is the gateway's cannot be known.
        return Err(CertBindingError::MultipleElements);
    };
    let mut cert = None;
    for pair in split_outside_quotes(element, ';').ok_or(CertBindingError::Malformed)? {
        let (key, value) = pair.split_once('=').ok_or(CertBindingError::Malformed)?;
        if key.trim().eq_ignore_ascii_case("cert") {
            if cert.is_some() {
                return Err(CertBindingError::MultipleCertificates);
            }
            cert = Some(unquote(value.trim()).ok_or(CertBindingError::Malformed)?);
        }
    }
    cert.ok_or(CertBindingError::NoCertificate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cert_of_one_element_is_found() {
        assert_eq!(
            cert_field(
                r#"By=spiffe://a;Hash=ab12;Cert="-----BEGIN%20X";Subject="CN=x,O=y";URI=spiffe://b"#
            ),
            Ok("-----BEGIN%20X".to_owned())
        );
        assert_eq!(cert_field("Cert=abc"), Ok("abc".to_owned()));
        assert_eq!(cert_field(r#"cert="a\"b""#), Ok("a\"b".to_owned()));
    }

    #[test]
    fn several_elements_or_certs_are_refused() {
        assert_eq!(
            cert_field(r#"Cert="a",Cert="b""#),
            Err(CertBindingError::MultipleElements)
        );
        assert_eq!(
            cert_field(r#"By=x;Cert="a";Cert="b""#),
            Err(CertBindingError::MultipleCertificates)
        );
        // A comma inside quotes does not split elements.
        assert_eq!(cert_field(r#"Subject="a,b";Cert=c"#), Ok("c".to_owned()));
    }

    #[test]
    fn broken_headers_are_refused() {
        for header in [
            r#"Cert="abc"#,
            r#"Cert="a"b""#,
            "Cert",
            r#"Cert=a"b"#,
            "Cert=\"a\\",
        ] {
            assert_eq!(
                cert_field(header),
                Err(CertBindingError::Malformed),
                "{header}"
            );
        }
        assert_eq!(
            cert_field("By=x;Hash=y"),
            Err(CertBindingError::NoCertificate)
        );
    }
}
