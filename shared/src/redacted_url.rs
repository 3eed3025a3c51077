//! URLs as they may be shown: in logs, metric labels, errors and `Debug` output.
//!
//! A key set URL may carry credentials (`https://user:password@host/keys`); they are used
//! for the request (as HTTP Basic authentication) and never shown anywhere else.

use std::fmt;

use url::Url;

/// Displays a URL with its user name and password removed.
///
/// ```ignore
/// let url = Url::parse("https://user:pw@idp.example/keys")?;
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
        if !Self::has_credentials(self.0) {
            return f.write_str(self.0.as_str());
        }
        let mut shown = self.0.clone();
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

/// A URL given as text, shown without credentials; text that is not a URL is shown as is.
pub(crate) fn redact_text(value: &str) -> String {
    match Url::parse(value) {
        Ok(url) => Redacted(&url).to_string(),
        // Not a URL, yet it may still hold `user:password@` in what would be its authority.
        Err(_) => match value.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (authority, tail) = rest.split_at(authority_end);
                let host = authority
                    .rsplit_once('@')
                    .map_or(authority, |(_, host)| host);
                format!("{scheme}://{host}{tail}")
            }
            None => value.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_and_everything_else_kept() {
        for (given, shown) in [
            (
                "https://user:pw@idp.example/keys?x=1",
                "https://idp.example/keys?x=1",
            ),
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
    fn text_that_is_not_a_url_loses_what_precedes_an_at_sign() {
        assert_eq!(redact_text("http://us er:pw@[bad/k"), "http://[bad/k");
        assert_eq!(redact_text("http://u:p@ss@[bad/k@x"), "http://[bad/k@x");
        assert_eq!(redact_text("urn:gateway"), "urn:gateway");
    }
}
