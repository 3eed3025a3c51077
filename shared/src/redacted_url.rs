//! URLs as they may be shown: in logs, metric labels, errors and `Debug` output.
//!
//! A key set URL may carry credentials: a user name and password
//! (`https://user:password@host/keys`), used for the request as HTTP Basic authentication,
//! or a query that signs it (a pre-signed URL's `?sig=...`, a token in `?key=...`). So a URL
//! is only ever shown as its scheme, host, port and path; its user information, query and
//! fragment never appear in logs, metric labels, `/healthz` or errors.

use std::fmt;

use url::Url;

/// Displays a URL as its scheme, host, port and path: no user name, password, query or
/// fragment.
///
/// ```ignore
/// let url = Url::parse("https://user:pw@idp.example/keys?sig=abc")?;
/// assert_eq!(Redacted(&url).to_string(), "https://idp.example/keys");
/// ```
#[derive(Clone, Copy)]
pub(crate) struct Redacted<'a>(pub(crate) &'a Url);

impl Redacted<'_> {
    /// Whether the URL carries a user name or a password.
    pub(crate) fn has_credentials(url: &Url) -> bool {
        !url.username().is_empty() || url.password().is_some()
    }
}

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        if !Self::has_credentials(url) && url.query().is_none() && url.fragment().is_none() {
            return f.write_str(url.as_str());
        }
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        // Both only fail for URLs that cannot have credentials at all (no host, `file:`),
        // and those have none to remove.
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

/// A URL given as text, shown as [`Redacted`] shows it; text that is not a URL loses what
/// would be its user information, query and fragment.
pub(crate) fn redact_text(value: &str) -> String {
    match Url::parse(value) {
        Ok(url) => Redacted(&url).to_string(),
        // Not a URL, yet it may still hold `user:password@` in what would be its authority,
        // or a credential in what would be its query.
        Err(_) => {
            let value = value.find(['?', '#']).map_or(value, |end| &value[..end]);
            match value.split_once("://") {
                Some((scheme, rest)) => {
                    let authority_end = rest.find('/').unwrap_or(rest.len());
                    let (authority, path) = rest.split_at(authority_end);
                    let host = authority
                        .rsplit_once('@')
                        .map_or(authority, |(_, host)| host);
                    format!("{scheme}://{host}{path}")
                }
                None => value.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_host_port_and_path_are_shown() {
        for (given, shown) in [
            (
                "https://user:pw@idp.example/keys?x=1",
                "https://idp.example/keys",
            ),
            (
                "https://idp.example:8443/keys.json?sig=SECRET&exp=1#frag",
                "https://idp.example:8443/keys.json",
            ),
            (
                "https://idp.example/keys#SECRET",
                "https://idp.example/keys",
            ),
            ("https://idp.example/?SECRET", "https://idp.example/"),
            (
                "http://user@idp.example:8080/k",
                "http://idp.example:8080/k",
            ),
            ("http://:pw@idp.example/k", "http://idp.example/k"),
            ("https://idp.example/keys", "https://idp.example/keys"),
        ] {
            let url = Url::parse(given).unwrap();
            assert_eq!(Redacted(&url).to_string(), shown);
            assert_eq!(format!("{:?}", Redacted(&url)), format!("{shown:?}"));
            assert_eq!(redact_text(given), shown);
        }
    }

    #[test]
    fn text_that_is_not_a_url_loses_user_information_query_and_fragment() {
        assert_eq!(redact_text("http://us er:pw@[bad/k"), "http://[bad/k");
        assert_eq!(redact_text("http://u:p@ss@[bad/k@x"), "http://[bad/k@x");
        assert_eq!(redact_text("http://[bad/k?sig=SECRET"), "http://[bad/k");
        assert_eq!(redact_text("http://[bad?a@b/k"), "http://[bad");
        assert_eq!(redact_text("not a url#SECRET"), "not a url");
        assert_eq!(redact_text("urn:gateway"), "urn:gateway");
    }
}
