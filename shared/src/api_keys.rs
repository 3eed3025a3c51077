//! API keys (`X-API-Key`), stored as SHA-256 digests and compared in constant time.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::credential_error::CredentialError;

type Digest = [u8; 32];

fn sha256(bytes: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// The owner of a presented API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyUser {
    /// The name the key was configured under.
    pub name: String,
}

/// The accepted API keys. Only digests are kept, so a memory dump or a `Debug` print
/// reveals no key.
///
/// ```
/// use api_auth::{ApiKeys, Auth, AuthError, HttpRequestHead, Issuer, KeySource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let keys = ApiKeys::parse("reporting:rk_9f2c1e7a, billing:bk_41d0b3c8")?;
/// assert_eq!(keys.len(), 2);
/// assert_eq!(format!("{keys:?}"), r#"ApiKeys { names: ["reporting", "billing"] }"#);
///
/// let auth = Auth::builder()
///     .issuer(Issuer::new("https://login.example.com", KeySource::jwks_document(jwks))?)
///     .api_keys(keys)
///     .build()?;
///
/// let request = http::Request::get("/reports").header("x-api-key", "bk_41d0b3c8").body(())?;
/// let owner = auth.api_key_user(&HttpRequestHead::new(request.headers(), request.uri()))?;
/// assert_eq!(owner.name, "billing");
///
/// let request = http::Request::get("/reports").header("x-api-key", "guessed").body(())?;
/// let refused = auth.api_key_user(&HttpRequestHead::new(request.headers(), request.uri()));
/// assert_eq!(refused, Err(AuthError::InvalidApiKey));
///
/// // A list that cannot be meant as written is refused, naming the entry.
/// assert_eq!(
///     ApiKeys::parse("reporting:rk_9f2c1e7a,billing").unwrap_err().to_string(),
///     "entry 2 is not name:key"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ApiKeys {
    entries: Vec<(String, Digest)>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ApiKeys").field("names", &names).finish()
    }
}

impl ApiKeys {
    /// Parses `name:key,name:key` (the `API_KEYS` format). Whitespace around a name is
    /// ignored (`alice:k1, bob:k2`); a key with leading or trailing whitespace is an error,
    /// since no header value can carry it, and so is whitespace after the last key or before
    /// a comma, which belongs to a key.
    pub fn parse(list: &str) -> Result<Self, CredentialError> {
        let mut keys = Self {
            entries: Vec::new(),
        };
        for (index, pair) in list.split(',').enumerate() {
            // Only the name's side: what follows the colon, to the comma, is the key.
            let pair = pair.trim_start();
            let Some((name, key)) = pair.split_once(':') else {
                return Err(CredentialError::NotNameKey(index + 1));
            };
            let name = name.trim();
            if key.trim() != key {
                return Err(CredentialError::KeyWhitespace(index + 1));
            }
            if name.is_empty() || key.is_empty() {
                return Err(CredentialError::EmptyEntry(index + 1));
            }
            let digest = sha256(key.as_bytes());
            if keys.entries.iter().any(|(_, d)| *d == digest) {
                return Err(CredentialError::RepeatedKey(index + 1));
            }
            keys.entries.push((name.to_owned(), digest));
        }
        Ok(keys)
    }

    /// One key under `name` (the development mode's demo key).
    pub fn single(name: &str, key: &str) -> Self {
        Self {
            entries: vec![(name.to_owned(), sha256(key.as_bytes()))],
        }
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The owner of `presented`, if it is one of the keys. Every stored digest is compared,
    /// without early exit, so timing says nothing about which key matched or how closely.
    pub fn lookup(&self, presented: &[u8]) -> Option<ApiKeyUser> {
        let candidate = sha256(presented);
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u32;
        for (i, (_, digest)) in self.entries.iter().enumerate() {
            let hit = digest.ct_eq(&candidate);
            // Index counts fit in u32: keys come from one environment variable.
            index.conditional_assign(&(i as u32), hit);
            found |= hit;
        }
        bool::from(found).then(|| ApiKeyUser {
            name: self.entries[index as usize].0.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_owner_of_each_key() {
        let keys = ApiKeys::parse("alice:key-a, bob :key-b").unwrap();
        assert_eq!(keys.lookup(b"key-a").unwrap().name, "alice");
        assert_eq!(keys.lookup(b"key-b").unwrap().name, "bob");
        assert_eq!(keys.lookup(b"key-c"), None);
        assert_eq!(keys.lookup(b""), None);
        assert_eq!(keys.lookup(b"key-a "), None);
    }

    #[test]
    fn rejects_malformed_lists() {
        for bad in [
            "alice",
            "alice:",
            ":key",
            "a:k,,b:j",
            "a:k,b:k",
            "a: k",
            "a:\tk,b:j",
            "a: ",
        ] {
            assert!(ApiKeys::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn whitespace_after_a_key_is_refused_as_part_of_the_key() {
        for (bad, entry) in [
            ("alice:topsecret ", 1),
            ("alice:topsecret\t", 1),
            ("alice:k1 ,bob:k2", 1),
            ("alice:k1, bob:k2 ", 2),
        ] {
            assert_eq!(
                ApiKeys::parse(bad).err(),
                Some(CredentialError::KeyWhitespace(entry)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_shows_names_only() {
        let keys = ApiKeys::parse("alice:super-secret-key").unwrap();
        let text = format!("{keys:?}");
        assert!(
            text.contains("alice") && !text.contains("super-secret"),
            "{text}"
        );
    }
}
