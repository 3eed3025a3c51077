//! The origin clients use to reach the API (`AUTH_PUBLIC_URL` in the samples).

use std::fmt;

use url::Url;

/// The public origin of the API (RFC 6454 §4): the scheme, host and port clients use.
///
/// DPoP proofs name it in `htu` (RFC 9449 §4.3) and protected resource metadata names it as
/// `resource` (RFC 9728 §3). Behind a gateway the service cannot see the URL a client used,
/// so it is configured, and only as an origin: a path, query, fragment or credentials are
/// refused, so that there is one way to write it. The scheme is `https`: RFC 9728 §1.2 makes a
/// resource identifier an `https` URL, and RFC 9449 §11.1 relies on TLS to keep proofs from
/// being captured on the way.
///
/// ```
/// use api_auth::PublicOrigin;
///
/// let origin = PublicOrigin::parse("HTTPS://API.Example.com:443")?;
/// assert_eq!(origin.as_str(), "https://api.example.com");
/// assert!(PublicOrigin::parse("https://api.example.com/v1").is_err());
/// # Ok::<(), api_auth::PublicOriginError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PublicOrigin {
    url: Url,
    /// The ASCII serialisation of the origin: scheme, host and a non-default port.
    serialized: String,
}

/// Why a URL cannot serve as the public origin. The text never repeats the URL, which may
/// carry credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicOriginError {
    /// Not an absolute URL.
    #[error("the public URL is not an absolute URL")]
    NotAUrl,
    /// A scheme other than `https`.
    #[error("the public URL's scheme is not https")]
    Scheme,
    /// A user name or password in the URL.
    #[error("the public URL carries a user name or password")]
    Credentials,
    /// A path (other than `/`), a query or a fragment.
    #[error("the public URL is not an origin: it has a path, a query or a fragment")]
    NotAnOrigin,
}

impl PublicOrigin {
    /// Parses `https://host[:port]`; a trailing `/` is allowed.
    pub fn parse(text: &str) -> Result<Self, PublicOriginError> {
        Self::try_from(Url::parse(text).map_err(|_| PublicOriginError::NotAUrl)?)
    }

    /// The origin as text, as RFC 6454 §6.2 serialises it: lower-case scheme and host, the
    /// port only when it is not the scheme's default, no trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    /// The origin as a URL (path `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl TryFrom<Url> for PublicOrigin {
    type Error = PublicOriginError;

    fn try_from(url: Url) -> Result<Self, PublicOriginError> {
        if url.scheme() != "https" {
            return Err(PublicOriginError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PublicOriginError::Credentials);
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(PublicOriginError::NotAnOrigin);
        }
        // `https` URLs always have a host, so their origin is a tuple origin.
        let serialized = url.origin().ascii_serialization();
        Ok(Self { url, serialized })
    }
}

impl fmt::Display for PublicOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialized)
    }
}

impl fmt::Debug for PublicOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicOrigin({:?})", self.serialized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_normalised() {
        for (given, origin) in [
            ("https://api.example.com", "https://api.example.com"),
            ("https://api.example.com/", "https://api.example.com"),
            ("HTTPS://API.EXAMPLE.COM:443", "https://api.example.com"),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
            ("https://[::1]:443/", "https://[::1]"),
        ] {
            assert_eq!(
                PublicOrigin::parse(given).unwrap().as_str(),
                origin,
                "{given}"
            );
        }
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for (given, error) in [
            ("api.example.com", PublicOriginError::NotAUrl),
            ("", PublicOriginError::NotAUrl),
            ("ftp://api.example.com", PublicOriginError::Scheme),
            ("http://api.example.com", PublicOriginError::Scheme),
            (
                "https://u:p@api.example.com",
                PublicOriginError::Credentials,
            ),
            ("https://api.example.com/v1", PublicOriginError::NotAnOrigin),
            ("https://api.example.com/?", PublicOriginError::NotAnOrigin),
            (
                "https://api.example.com#top",
                PublicOriginError::NotAnOrigin,
            ),
        ] {
            assert_eq!(PublicOrigin::parse(given), Err(error), "{given}");
        }
    }
}
