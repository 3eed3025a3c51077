//! [`CredentialError`]: an API key list or shared secret that cannot be used.

/// Why an API key list ([`ApiKeys`](crate::ApiKeys)) or a shared secret
/// ([`SharedSecret`](crate::SharedSecret)) was refused. Never repeats the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// An empty secret.
    #[error("is empty")]
    Empty,
    /// A shared secret shorter than [`SharedSecret::MIN_BYTES`](crate::SharedSecret::MIN_BYTES).
    #[error("is shorter than {min} bytes")]
    TooShort {
        /// The minimum length, in bytes.
        min: usize,
    },
    /// A previous shared secret equal to the current one.
    #[error("is the same as the current secret")]
    SameAsCurrent,
    /// Leading or trailing whitespace, which a header value can never carry.
    #[error("has leading or trailing whitespace, which a header value never carries")]
    Whitespace,
    /// An API key list entry without a `:` between name and key (entries count from 1).
    #[error("entry {0} is not name:key")]
    NotNameKey(usize),
    /// An API key list entry whose key has leading or trailing whitespace.
    #[error("entry {0} has a key with leading or trailing whitespace")]
    KeyWhitespace(usize),
    /// An API key list entry with an empty name or key.
    #[error("entry {0} has an empty name or key")]
    EmptyEntry(usize),
    /// An API key list entry whose key another entry already has.
    #[error("entry {0} repeats another entry's key")]
    RepeatedKey(usize),
}
