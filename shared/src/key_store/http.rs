//! The HTTP side of a key set fetch: bounded requests, the body limit, `max-age`, and the
//! redirect policy (at most three, never from `https` to `http`).

use std::time::Duration;

use url::Url;

use super::Remote;

/// How a fetch answered with an error status is described (followed by the status).
const STATUS_ERROR: &str = "HTTP status ";

/// Whether a fetch error says the server has no such document: a `4xx` status (a key per
/// `kid` that the server does not publish).
pub(super) fn is_absent(error: &str) -> bool {
    error
        .strip_prefix(STATUS_ERROR)
        .is_some_and(|status| status.len() == 3 && status.starts_with('4'))
}

/// Redirects followed per request at most.
const MAX_REDIRECTS: usize = 3;

/// Why a redirect of a key set or discovery request was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum RedirectRefused {
    /// More than [`MAX_REDIRECTS`] in a row.
    #[error("more than 3 redirects")]
    TooMany,
    /// From `https` to anything but `https`: the keys would travel unprotected.
    #[error("redirect from https to plain http")]
    Downgrade,
}

/// Whether to refuse following a redirect to `next`, given the URLs requested so far
/// (`previous` starts with the original request's URL, as `reqwest` reports them).
fn refuse_redirect(previous: &[Url], next: &Url) -> Option<RedirectRefused> {
    if previous.len() > MAX_REDIRECTS {
        return Some(RedirectRefused::TooMany);
    }
    let from_https = previous.iter().any(|url| url.scheme() == "https");
    (from_https && next.scheme() != "https").then_some(RedirectRefused::Downgrade)
}

pub(super) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        match refuse_redirect(attempt.previous(), attempt.url()) {
            Some(refused) => attempt.error(refused),
            None => attempt.follow(),
        }
    })
}

/// GETs `url` with the policy's timeouts and body limit; returns the body and `max-age`.
pub(super) async fn fetch(
    remote: &Remote,
    url: impl reqwest::IntoUrl,
) -> Result<(Vec<u8>, Option<Duration>), String> {
    let limit = remote.policy.max_body_bytes;
    let mut response = remote
        .client
        .get(url)
        // Also bounds a caller-supplied client, whose own timeouts may be longer or unset.
        .timeout(remote.policy.request_timeout)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(format!("{STATUS_ERROR}{}", response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| u64::try_from(limit).is_ok_and(|limit| len > limit))
    {
        return Err(format!("body larger than {limit} bytes"));
    }
    let max_age = response
        .headers()
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body
            .len()
            .checked_add(chunk.len())
            .is_none_or(|len| len > limit)
        {
            return Err(format!("body larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, max_age))
}

fn describe(error: &reqwest::Error) -> String {
    // Short, URL-free descriptions: the URL is logged beside them and error chains are long.
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "body could not be read"
    } else if error.is_redirect() {
        return redirect_refusal(error).map_or_else(
            || "redirect not followed".to_owned(),
            |refused| format!("redirect not followed: {refused}"),
        );
    } else {
        "request failed"
    }
    .to_owned()
}

/// The redirect policy's reason for refusing, somewhere in a `reqwest` error's chain.
fn redirect_refusal(error: &reqwest::Error) -> Option<RedirectRefused> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RedirectRefused>() {
            return Some(*refused);
        }
        source = cause.source();
    }
    None
}

/// The `max-age` directive of one `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("MAX-AGE=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=-5"), None);
    }

    fn urls(list: &[&str]) -> Vec<Url> {
        list.iter().map(|u| Url::parse(u).unwrap()).collect()
    }

    #[test]
    fn follows_at_most_three_redirects() {
        let next = Url::parse("http://idp.test/keys").unwrap();
        let mut previous = urls(&["http://idp.test/a"]);
        for _ in 0..MAX_REDIRECTS {
            assert_eq!(refuse_redirect(&previous, &next), None);
            previous.push(next.clone());
        }
        assert_eq!(
            refuse_redirect(&previous, &next),
            Some(RedirectRefused::TooMany)
        );
    }

    #[test]
    fn never_redirects_from_https_to_http() {
        let https = Url::parse("https://idp.test/keys").unwrap();
        let http = Url::parse("http://idp.test/keys").unwrap();
        assert_eq!(
            refuse_redirect(&urls(&["https://idp.test/a"]), &http),
            Some(RedirectRefused::Downgrade)
        );
        assert_eq!(
            refuse_redirect(&urls(&["https://idp.test/a", "https://cdn.test/b"]), &http),
            Some(RedirectRefused::Downgrade)
        );
        assert_eq!(
            refuse_redirect(&urls(&["https://idp.test/a"]), &https),
            None
        );
        assert_eq!(refuse_redirect(&urls(&["http://idp.test/a"]), &https), None);
        assert_eq!(refuse_redirect(&urls(&["http://idp.test/a"]), &http), None);
    }
}
