//! `AUTH_TOKEN_HEADER` and `AUTH_TOKEN_COOKIE`: where the bearer token of the ordinary mode
//! is found, for a gateway that forwards a JWT in a header of its own choosing.

use api_auth::TokenSource;

use crate::config::ConfigError;

/// The token source the two variables describe (`None`: both unset, the `Authorization`
/// bearer). Names are checked by the library; a refusal names the variable.
pub fn from_vars(
    header: Option<&str>,
    cookie: Option<&str>,
) -> Result<Option<TokenSource>, ConfigError> {
    if header.is_none() && cookie.is_none() {
        return Ok(None);
    }
    let source = match header {
        Some(name) => TokenSource::header(name)
            .map_err(|e| ConfigError::new("AUTH_TOKEN_HEADER", e.to_string()))?,
        None => TokenSource::authorization(),
    };
    let source = match cookie {
        Some(name) => source
            .or_cookie(name)
            .map_err(|e| ConfigError::new("AUTH_TOKEN_COOKIE", e.to_string()))?,
        None => source,
    };
    Ok(Some(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_blamed_on_their_variable() {
        assert_eq!(from_vars(None, None), Ok(None));
        let source = from_vars(Some("X-Jwt-Assertion"), Some("jwt"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (source.header_name(), source.cookie_name()),
            ("x-jwt-assertion", Some("jwt"))
        );
        assert_eq!(
            from_vars(Some("x jwt"), None).unwrap_err().var,
            "AUTH_TOKEN_HEADER"
        );
        assert_eq!(
            from_vars(None, Some("a;b")).unwrap_err().var,
            "AUTH_TOKEN_COOKIE"
        );
    }
}
