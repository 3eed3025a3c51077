//! [`TokenSource`]: where in a request the token is found (the `Authorization` bearer, a named
//! header, a cookie).
//!
//! Gateways forward the token they verified, or sign one of their own, in a header of their
//! choosing (Cloudflare Access: `Cf-Access-Jwt-Assertion`, Google Cloud IAP:
//! `x-goog-iap-jwt-assertion`, AWS ALB: `x-amzn-oidc-data`, Kong, Zuplo, Envoy: any). When
//! the token comes from such a header, the `Authorization` header is never read: behind a
//! gateway it is the client's own and proves nothing about the gateway.

use crate::builder::BuildError;
use crate::error::{AuthError, TokenError};
use crate::request::RequestHead;

/// Where [`Auth::authenticate`](crate::Auth::authenticate) takes the token from: a header
/// (the `Authorization` bearer by default, or a named header), and optionally a cookie when
/// that header is absent.
///
/// ```
/// use api_auth::TokenSource;
///
/// // The default: `Authorization: Bearer <token>` (RFC 6750 §2.1).
/// assert_eq!(TokenSource::default(), TokenSource::authorization());
///
/// // A gateway that forwards its JWT in a header of its own, with a cookie for browsers.
/// let source = TokenSource::header("X-Jwt-Assertion")?.or_cookie("jwt")?;
/// assert_eq!(source.header_name(), "x-jwt-assertion");
/// assert_eq!(source.cookie_name(), Some("jwt"));
///
/// // Names are checked (RFC 9110 §5.1, RFC 6265 §4.1.1).
/// assert!(TokenSource::header("X Jwt").is_err());
/// assert!(TokenSource::authorization().or_cookie("a;b").is_err());
/// # Ok::<(), api_auth::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenSource {
    /// The header, lower-cased; `None`: `Authorization` with the `Bearer` scheme.
    header: Option<String>,
    /// The cookie read when the header is absent.
    cookie: Option<String>,
}

impl TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1), the default.
    pub fn authorization() -> Self {
        Self::default()
    }

    /// The header `name` (any case), whose value is the bare token or `Bearer <token>`.
    /// `Authorization` itself means [`TokenSource::authorization`].
    pub fn header(name: &str) -> Result<Self, BuildError> {
        if !is_token(name) {
            return Err(BuildError::InvalidTokenSource {
                kind: "header",
                name: name.to_owned(),
                reason: "not a header name (RFC 9110 section 5.1)",
            });
        }
        let name = name.to_ascii_lowercase();
        Ok(Self {
            header: (name != "authorization").then_some(name),
            cookie: None,
        })
    }

    /// Also reads the cookie `name` (case-sensitive, RFC 6265 §4.1.1) when the header is
    /// absent.
    pub fn or_cookie(mut self, name: &str) -> Result<Self, BuildError> {
        if !is_token(name) {
            return Err(BuildError::InvalidTokenSource {
                kind: "cookie",
                name: name.to_owned(),
                reason: "not a cookie name (RFC 6265 section 4.1.1)",
            });
        }
        self.cookie = Some(name.to_owned());
        Ok(self)
    }

    /// The header read, lower-cased (`authorization` by default).
    pub fn header_name(&self) -> &str {
        self.header.as_deref().unwrap_or("authorization")
    }

    /// The cookie read when the header is absent, if any.
    pub fn cookie_name(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// The token of `request`. `bearer` reads the `Authorization` header (the default
    /// source), so that its rules stay in one place ([`crate::Auth::bearer_token`]).
    pub(crate) fn read<'r>(
        &self,
        request: &'r impl RequestHead,
        bearer: impl FnOnce() -> Result<&'r str, AuthError>,
    ) -> Result<&'r str, AuthError> {
        let name = self.header_name();
        let absent = request.header_values(name).next().is_none();
        match (&self.cookie, absent) {
            (Some(cookie), true) => cookie_value(request, cookie),
            _ if self.header.is_none() => bearer(),
            _ => header_value(request, name),
        }
    }
}

/// The token in a named header: the bare token, or `Bearer <token>`. A gateway sets this
/// header itself, so anything unexpected in it is a bad token (`401 invalid_token`).
fn header_value<'r>(request: &'r impl RequestHead, name: &str) -> Result<&'r str, AuthError> {
    let value = request
        .single_header(name)
        .map_err(|_| malformed("the token header appears more than once"))?
        .ok_or(AuthError::MissingToken)?;
    let value = std::str::from_utf8(value)
        .map_err(|_| malformed("the token header is not text"))?
        .trim_matches([' ', '\t']);
    let token = match value.split_once([' ', '\t']) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            rest.trim_matches([' ', '\t'])
        }
        _ => value,
    };
    bare_token(token)
}

/// The value of cookie `name` across every `Cookie` header (RFC 6265 §5.4; HTTP/2 may split
/// them). A cookie sent twice is refused rather than guessed at.
fn cookie_value<'r>(request: &'r impl RequestHead, name: &str) -> Result<&'r str, AuthError> {
    let mut found = None;
    for header in request.header_values("cookie") {
        for pair in header.split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                continue;
            };
            if &pair[..eq] != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(malformed("the token cookie appears more than once"));
            }
            found = Some(&pair[eq + 1..]);
        }
    }
    let value = found.ok_or(AuthError::MissingToken)?;
    // RFC 6265 §4.1.1: a cookie value may be enclosed in double quotes.
    let value = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    let value =
        std::str::from_utf8(value).map_err(|_| malformed("the token cookie is not text"))?;
    bare_token(value)
}

fn bare_token(token: &str) -> Result<&str, AuthError> {
    if token.is_empty() {
        return Err(malformed("empty token"));
    }
    if token.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(malformed("token contains blanks"));
    }
    Ok(token)
}

fn malformed(reason: &'static str) -> AuthError {
    AuthError::InvalidToken(TokenError::Malformed(reason))
}

/// An RFC 9110 §5.6.2 `token`: the syntax of header names, and of cookie names (RFC 6265
/// §4.1.1 defers to RFC 2616's identical `token`).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpRequestHead;

    fn read_with(source: &TokenSource, headers: &[(&str, &str)]) -> Result<String, AuthError> {
        let mut request = http::Request::get("/");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        let head = HttpRequestHead::new(request.headers(), request.uri());
        source
            .read(&head, || Ok("from-authorization"))
            .map(str::to_owned)
    }

    #[test]
    fn a_named_header_ignores_authorization() {
        let source = TokenSource::header("X-Jwt").unwrap();
        assert_eq!(
            read_with(&source, &[("authorization", "Bearer a.b.c")]),
            Err(AuthError::MissingToken)
        );
        assert_eq!(read_with(&source, &[("x-jwt", "a.b.c")]).unwrap(), "a.b.c");
        assert_eq!(
            read_with(&source, &[("x-jwt", " bearer  a.b.c ")]).unwrap(),
            "a.b.c"
        );
        for bad in ["", "a.b c", "Bearer a b"] {
            assert!(
                matches!(
                    read_with(&source, &[("x-jwt", bad)]),
                    Err(AuthError::InvalidToken(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            read_with(&source, &[("x-jwt", "a.b.c"), ("x-jwt", "a.b.c")]),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn the_cookie_is_read_only_when_the_header_is_absent() {
        let source = TokenSource::header("X-Jwt")
            .unwrap()
            .or_cookie("CF_Authorization")
            .unwrap();
        let cookie = "theme=dark; CF_Authorization=c.o.k; other=x";
        assert_eq!(read_with(&source, &[("cookie", cookie)]).unwrap(), "c.o.k");
        assert_eq!(
            read_with(&source, &[("cookie", cookie), ("x-jwt", "h.e.d")]).unwrap(),
            "h.e.d"
        );
        assert_eq!(
            read_with(&source, &[("cookie", "CF_Authorization=\"q.u.o\"")]).unwrap(),
            "q.u.o"
        );
        assert_eq!(
            read_with(&source, &[("cookie", "cf_authorization=c.o.k")]),
            Err(AuthError::MissingToken),
            "cookie names are case-sensitive"
        );
        assert!(matches!(
            read_with(
                &source,
                &[
                    ("cookie", "CF_Authorization=a"),
                    ("cookie", "CF_Authorization=b")
                ]
            ),
            Err(AuthError::InvalidToken(_))
        ));
        let bearer_or_cookie = TokenSource::authorization().or_cookie("jwt").unwrap();
        assert_eq!(
            read_with(&bearer_or_cookie, &[("cookie", "jwt=c.o.k")]).unwrap(),
            "c.o.k"
        );
        assert_eq!(
            read_with(
                &bearer_or_cookie,
                &[("cookie", "jwt=c.o.k"), ("authorization", "Bearer x")]
            )
            .unwrap(),
            "from-authorization"
        );
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(
            TokenSource::header("AUTHORIZATION").unwrap(),
            TokenSource::authorization()
        );
        for bad in ["", "x jwt", "x:jwt", "x\u{e9}"] {
            assert!(TokenSource::header(bad).is_err(), "{bad:?}");
            assert!(TokenSource::default().or_cookie(bad).is_err(), "{bad:?}");
        }
        assert!(TokenSource::default().or_cookie("a=b").is_err());
    }
}
