//! The read-only view of a request that the checks need.

/// What [`crate::Auth`] reads from a request. Framework adapters implement it over their
/// own request types; [`HttpRequestHead`] covers every framework built on the `http` crate.
///
/// An adapter for a request type that is not built on `http`:
///
/// ```
/// use api_auth::{ApiKeys, Auth, Issuer, KeySource, RequestHead};
///
/// /// A request as some framework hands it over.
/// struct IncomingRequest {
///     target: String,
///     headers: Vec<(String, Vec<u8>)>,
/// }
///
/// impl RequestHead for IncomingRequest {
///     fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
///         self.headers
///             .iter()
///             .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
///             .map(|(_, value)| value.as_slice())
///     }
///
///     fn path(&self) -> &str {
///         self.target.split_once('?').map_or(&self.target, |(path, _)| path)
///     }
///
///     fn path_and_query(&self) -> &str {
///         &self.target
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .api_keys(ApiKeys::parse("reporting:rk_9f2c1e7a")?)
///     .build()?;
/// let request = IncomingRequest {
///     target: "/reports?month=2024-05".to_owned(),
///     headers: vec![("X-API-Key".to_owned(), b"rk_9f2c1e7a".to_vec())],
/// };
/// assert_eq!(auth.api_key_user(&request)?.name, "reporting");
/// # Ok(())
/// # }
/// ```
pub trait RequestHead {
    /// Every value of the header `name` (given in lower case), in order of appearance.
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]>;

    /// The request path, without the query string.
    fn path(&self) -> &str;

    /// The path with its query string, as the client sent it.
    fn path_and_query(&self) -> &str;

    /// The request method (`GET`), which a DPoP proof signs (RFC 9449 §4.2 `htm`). The default
    /// says it is unknown, and then every DPoP proof is refused: an adapter for a service
    /// that accepts DPoP-bound tokens must provide it.
    fn method(&self) -> Option<&str> {
        None
    }

    /// The authority of an absolute-form request target (`GET http://api.example.com/x`), if
    /// the request has one. The default says it has none: an adapter whose framework keeps
    /// only the path and query of the target cannot tell, and then `Host` decides.
    fn target_authority(&self) -> Option<&str> {
        None
    }

    /// The request's host: the authority of an absolute-form target, which RFC 9112 §3.2.2
    /// makes the host whatever `Host` says, else the only `Host` header; an error when `Host`
    /// appears more than once.
    fn host(&self) -> Result<Option<&[u8]>, RepeatedHeader> {
        match self.target_authority() {
            Some(authority) => Ok(Some(authority.as_bytes())),
            None => self.single_header("host"),
        }
    }

    /// The only value of header `name`; an error when it appears more than once.
    fn single_header(&self, name: &str) -> Result<Option<&[u8]>, RepeatedHeader> {
        let mut values = self.header_values(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(RepeatedHeader),
            None => Ok(first),
        }
    }
}

/// A header that must appear at most once appeared several times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("header appears more than once")]
pub struct RepeatedHeader;

/// A [`RequestHead`] over `http` crate types (axum, warp, poem, hyper, …).
///
/// ```
/// use api_auth::{Auth, AuthError, HttpRequestHead, Issuer, KeySource, RequestHead};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .build()?;
///
/// let request = http::Request::get("/orders?page=2")
///     .header("authorization", "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln")
///     .body(())?;
/// let head = HttpRequestHead::new(request.headers(), request.uri());
/// assert_eq!(head.path(), "/orders");
/// assert_eq!(head.path_and_query(), "/orders?page=2");
/// assert_eq!(auth.bearer_token(&head)?, "eyJhbGciOiJFZERTQSJ9.e30.c2ln");
///
/// // An absolute-form target names the host, whatever `Host` says (RFC 9112 §3.2.2).
/// let absolute = http::Request::get("http://api.example.com/orders")
///     .header("host", "elsewhere.example")
///     .body(())?;
/// let head = HttpRequestHead::new(absolute.headers(), absolute.uri());
/// assert_eq!(head.path(), "/orders");
/// assert_eq!(head.host()?, Some(&b"api.example.com"[..]));
///
/// let basic = http::Request::get("/orders")
///     .header("authorization", "Basic YWxpY2U6c2VjcmV0")
///     .body(())?;
/// let head = HttpRequestHead::new(basic.headers(), basic.uri());
/// assert_eq!(auth.bearer_token(&head), Err(AuthError::MissingToken));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestHead<'a> {
    headers: &'a http::HeaderMap,
    uri: &'a http::Uri,
    method: Option<&'a http::Method>,
}

impl<'a> HttpRequestHead<'a> {
    /// Views a request's headers and URI. Without the method, every DPoP proof is refused:
    /// a service that accepts DPoP-bound tokens uses [`of`](Self::of) or
    /// [`from_parts`](Self::from_parts).
    pub fn new(headers: &'a http::HeaderMap, uri: &'a http::Uri) -> Self {
        Self {
            headers,
            uri,
            method: None,
        }
    }

    /// Views a request's method, headers and URI: everything a DPoP proof is checked against.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self::from_parts(request.method(), request.headers(), request.uri())
    }

    /// Views a request's method, headers and URI, given apart (as an extractor over
    /// `http::request::Parts` has them).
    pub fn from_parts(
        method: &'a http::Method,
        headers: &'a http::HeaderMap,
        uri: &'a http::Uri,
    ) -> Self {
        Self {
            headers,
            uri,
            method: Some(method),
        }
    }
}

impl RequestHead for HttpRequestHead<'_> {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .get_all(name)
            .iter()
            .map(http::HeaderValue::as_bytes)
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    fn path_and_query(&self) -> &str {
        self.uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
    }

    fn target_authority(&self) -> Option<&str> {
        self.uri.authority().map(http::uri::Authority::as_str)
    }

    fn method(&self) -> Option<&str> {
        self.method.map(http::Method::as_str)
    }
}
