//! The read-only view of a request that the checks need.

/// What [`crate::Auth`] reads from a request. Framework adapters implement it over their
/// own request types; [`HttpRequestHead`] covers every framework built on the `http` crate.
pub trait RequestHead {
    /// Every value of the header `name` (given in lower case), in order of appearance.
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]>;

    /// The request path, without the query string.
    fn path(&self) -> &str;

    /// The path with its query string, as the client sent it.
    fn path_and_query(&self) -> &str;

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
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestHead<'a> {
    headers: &'a http::HeaderMap,
    uri: &'a http::Uri,
}

impl<'a> HttpRequestHead<'a> {
    /// Views a request's headers and URI.
    pub fn new(headers: &'a http::HeaderMap, uri: &'a http::Uri) -> Self {
        Self { headers, uri }
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
}
