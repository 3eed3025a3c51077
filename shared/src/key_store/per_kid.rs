//! Keys published as one PEM file per `kid` ([`KeySource::PemPerKid`](crate::KeySource::PemPerKid),
//! the AWS ALB's distribution): a [`KeyStore`] per `kid`, created when a token first names
//! it, so each key gets the key set's single flight, refetch cooldown, lifetime clamp and
//! stale allowance.
//!
//! Bounds, since the `kid` comes from the request:
//! - a `kid` that is not a plain identifier (`[A-Za-z0-9-]{1,128}`) is refused before any
//!   fetch, so it can never reach another path (`/`, `..`) or host of the key URL;
//! - at most [`MAX_KIDS`] are held; a new one evicts first a `kid` whose key was never
//!   obtained, then the least recently used;
//! - fetches for `kid`s whose key was never obtained share one budget for the whole source
//!   ([`KidBudget`]): at most 10 start per cooldown, however many distinct `kid`s arrive.
//!   The key is unauthenticated until it is fetched, so the `signer` (public) and a future
//!   `exp` are all it takes to name a fresh `kid`; without the budget each request could
//!   cost a fetch from the region's key server.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use url::Url;

use super::http::is_absent;
use super::kid_budget::{Admission, KidBudget};
use super::{KeySetStatus, KeyStore, Location, Refetch, lock};
use crate::algorithm::{Algorithm, KeyKind};
use crate::error::{AuthError, TokenError};
use crate::jwk::{Fingerprint, KeySet, VerifyingKey, fingerprint};
use crate::policy::KeySetPolicy;

/// The most `kid`s held at once.
pub(crate) const MAX_KIDS: usize = 100;
/// The longest `kid` accepted.
const MAX_KID_LEN: usize = 128;

/// A callback told which keys left a `kid`'s store on a refresh (shared by every store).
pub(crate) type SharedRemovedKeysHook = Arc<dyn Fn(&HashSet<Fingerprint>) + Send + Sync>;

/// One store per `kid`, created on demand.
pub(crate) struct PerKid {
    /// The URL the `kid` is appended to (ends with `/`).
    base: Url,
    algorithm: Algorithm,
    policy: KeySetPolicy,
    client: reqwest::Client,
    on_removed: Option<SharedRemovedKeysHook>,
    /// The metrics and `/healthz` label.
    label: String,
    held: Mutex<Vec<Held>>,
    /// The fetches for `kid`s whose key was never obtained, shared by every `kid`.
    budget: KidBudget,
}

struct Held {
    kid: String,
    store: KeyStore,
    last_used: Instant,
}

/// Whether `kid` may be appended to the key URL: 1 to 128 ASCII letters, digits and `-`.
pub(crate) fn is_plain_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl PerKid {
    pub(crate) fn new(
        base: Url,
        algorithm: Algorithm,
        policy: KeySetPolicy,
        client: reqwest::Client,
        on_removed: Option<SharedRemovedKeysHook>,
        label: String,
    ) -> Self {
        let budget = KidBudget::new(policy.refetch_cooldown);
        Self {
            base,
            algorithm,
            policy,
            client,
            on_removed,
            label,
            held: Mutex::new(Vec::new()),
            budget,
        }
    }

    /// The key for a token: its `kid`'s store's key, fetched (once per cooldown, shared)
    /// when not held. A `kid` the server does not know (`4xx`) is an unknown key (`401`);
    /// a server that cannot be reached, keys unavailable (`503`).
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, AuthError> {
        let Some(kid) = kid.filter(|kid| is_plain_kid(kid)) else {
            return Err(TokenError::UnknownKey.into());
        };
        if !alg.same_as(self.algorithm) {
            return Err(TokenError::KeyMismatch.into());
        }
        let store = self.store_for(kid)?;
        // Only `store_for` starts a fetch, and only when the budget admits it.
        let found = store.key_in_set(Some(kid), alg, Refetch::JoinOnly).await;
        self.export_state();
        match found {
            Err(AuthError::KeysUnavailable { .. })
                if last_error(&store).is_some_and(|error| is_absent(&error)) =>
            {
                Err(TokenError::UnknownKey.into())
            }
            other => other,
        }
    }

    /// The store of `kid`, created (and its fetch started) when not held. A fetch for a
    /// `kid` whose key was never obtained (a new one, or one whose fetch failed and whose
    /// cooldown has passed) starts only when the budget admits it; otherwise the request is
    /// refused without a fetch.
    fn store_for(&self, kid: &str) -> Result<KeyStore, AuthError> {
        let mut held = lock(&self.held);
        // Read once the lock is held: a time read before waiting for it would be early, and a
        // cooldown that ends meanwhile would let a fetch start without the budget.
        let now = Instant::now();
        if let Some(entry) = held.iter_mut().find(|entry| entry.kid == kid) {
            entry.last_used = now;
            let store = entry.store.clone();
            if needs_first_fetch(&store, now) {
                self.admit(kid, now)?;
                // Started here, under the lock, so that the next request for this kid joins
                // it rather than asking the budget again.
                drop(store.refresh());
            }
            return Ok(store);
        }
        self.admit(kid, now)?;
        if held.len() >= MAX_KIDS {
            evict_one(&mut held);
        }
        // The kid is a plain identifier: joined to a base ending in `/`, it is one more
        // path segment, never another path or host.
        let url = self.base.join(kid).map_err(|_| TokenError::UnknownKey)?;
        let hook = self.on_removed.clone().map(|hook| {
            Box::new(move |removed: &HashSet<Fingerprint>| hook(removed)) as super::RemovedKeysHook
        });
        let location = Location::PemKey {
            url,
            kid: kid.to_owned(),
            algorithm: self.algorithm,
        };
        let store = KeyStore::remote(
            location,
            self.policy.clone(),
            Some(self.client.clone()),
            hook,
            self.label.clone(),
        )
        .map_err(|_| AuthError::KeysUnavailable {
            retry_after_secs: self.policy.refetch_cooldown.as_secs().max(1),
        })?;
        tracing::info!(kid, "key not held: fetching it");
        held.push(Held {
            kid: kid.to_owned(),
            store: store.clone(),
            last_used: Instant::now(),
        });
        Ok(store)
    }

    /// Asks the budget for a fetch of the unknown `kid`.
    ///
    /// A refusal is `503` with `Retry-After` ([`AuthError::KeyFetchDeferred`]) rather than
    /// `401`: the key was not looked at, it may well exist (a rotation arriving during a
    /// flood), and a client told to retry keeps its token, where `invalid_token` would say
    /// the token is bad. It is not logged per request: the budget logs one summary line per
    /// cooldown.
    fn admit(&self, kid: &str, now: Instant) -> Result<(), AuthError> {
        match self.budget.admit(kid, now) {
            Admission::Fetch => Ok(()),
            Admission::Refused { retry_after } => Err(AuthError::KeyFetchDeferred {
                retry_after_secs: whole_secs_up(retry_after),
            }),
        }
    }

    /// Whether any held key is this one (token-cache hits re-check it).
    pub(crate) fn holds_key(&self, fingerprint: &Fingerprint) -> bool {
        self.stores()
            .iter()
            .any(|store| store.holds_key(fingerprint))
    }

    /// The state of every held key as one key set, for `/healthz`. Keys are fetched as
    /// tokens name them, so there is nothing to wait for at start-up: always usable.
    pub(crate) fn status(&self) -> KeySetStatus {
        let statuses: Vec<KeySetStatus> = self
            .stores()
            .iter()
            .map(|store| store.status(Some(&self.label)))
            .collect();
        let usable: Vec<&KeySetStatus> = statuses.iter().filter(|s| s.is_usable()).collect();
        KeySetStatus {
            issuer: Some(self.label.clone()),
            source: "remote",
            count: usable.len(),
            age_secs: usable.iter().filter_map(|s| s.age_secs).min(),
            stale: usable.iter().any(|s| s.stale),
            // A kid the server does not know is a refused token, not a failing key source.
            last_error: statuses
                .iter()
                .filter_map(|s| s.last_error.clone())
                .find(|error| !is_absent(error)),
            usable: true,
        }
    }

    fn stores(&self) -> Vec<KeyStore> {
        lock(&self.held)
            .iter()
            .map(|entry| entry.store.clone())
            .collect()
    }

    /// Sets the key gauges for every `kid` together (each store leaves them to this).
    fn export_state(&self) {
        let status = self.status();
        crate::metrics::key_set_state(&self.label, status.count, status.stale);
    }
}

/// Frees one place: a `kid` whose key was never obtained first (its fetch failed, or is
/// still running), else the least recently used.
fn evict_one(held: &mut Vec<Held>) {
    let victim = held
        .iter()
        .enumerate()
        .min_by_key(|(_, entry)| (entry.store.is_usable(), entry.last_used))
        .map(|(index, _)| index);
    if let Some(index) = victim {
        let evicted = held.swap_remove(index);
        tracing::info!(
            kid = evicted.kid,
            "key store full: dropped the least useful kid"
        );
    }
}

/// Whether a request for this held `kid` would start a fetch of a key never obtained: no
/// key held, no fetch running (a request joins a running one for free) and the `kid`'s
/// cooldown over.
fn needs_first_fetch(store: &KeyStore, now: Instant) -> bool {
    let Some(remote) = store.inner.remote.as_ref() else {
        return false;
    };
    if store.inner.current.load().is_some() {
        return false;
    }
    let state = lock(&remote.state);
    state.in_flight.is_none()
        && state
            .last_attempt
            .is_none_or(|at| now.saturating_duration_since(at) >= remote.policy.refetch_cooldown)
}

/// `duration` in whole seconds, rounded up, at least 1 (a `Retry-After` value).
fn whole_secs_up(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    let secs = if duration.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    };
    secs.max(1)
}

fn last_error(store: &KeyStore) -> Option<String> {
    let remote = store.inner.remote.as_ref()?;
    lock(&remote.state).last_error.clone()
}

/// Reads a fetched PEM public key (SubjectPublicKeyInfo) for `kid`, verifying `algorithm`.
/// The point is checked as a JWK's is (on its curve, the curve `algorithm` needs).
pub(super) fn parse_pem(body: &[u8], kid: &str, algorithm: Algorithm) -> Result<KeySet, String> {
    let kind = algorithm.key_kind();
    let (KeyKind::EcP256 | KeyKind::EcP384) = kind else {
        return Err("PEM keys per kid are EC keys".to_owned());
    };
    let pem = crate::pem::parse_fetched(body).map_err(str::to_owned)?;
    if pem.tag() != "PUBLIC KEY" {
        return Err("not a PEM public key".to_owned());
    }
    let verify = if kind == KeyKind::EcP256 {
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED
    } else {
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED
    };
    aws_lc_rs::signature::ParsedPublicKey::new(verify, pem.contents())
        .map_err(|_| format!("not a public key for {algorithm}"))?;
    let text = std::str::from_utf8(body).map_err(|_| "not a PEM document".to_owned())?;
    let key = jsonwebtoken::DecodingKey::from_ec_pem(text.as_bytes())
        .map_err(|_| format!("not a public key for {algorithm}"))?;
    Ok(KeySet::from_keys(vec![Arc::new(VerifyingKey {
        kid: Some(kid.to_owned()),
        kind,
        alg: Some(algorithm),
        key,
        fingerprint: fingerprint(kind, &[pem.contents()]),
    })]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_identifiers_are_kids() {
        for good in [
            "a",
            "7e4f8d32-0b8a-4ea4-ae5a-8b6f1a7e2c10",
            &"k".repeat(128),
        ] {
            assert!(is_plain_kid(good), "{good}");
        }
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            "a.b",
            "%2e%2e",
            "a b",
            "a?b",
            "a#b",
            "a\\b",
            "\u{e9}",
            &"k".repeat(129),
        ] {
            assert!(!is_plain_kid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_pem_key_must_be_on_the_algorithms_curve() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
        };
        let pem_of = |signing| {
            let key = EcdsaKeyPair::generate(signing).unwrap();
            let der = key.public_key().as_der().unwrap();
            pem::encode(&pem::Pem::new("PUBLIC KEY", der.as_ref().to_vec()))
        };
        let p256 = pem_of(&ECDSA_P256_SHA256_FIXED_SIGNING);
        let set = parse_pem(p256.as_bytes(), "k1", Algorithm::ES256).unwrap();
        assert!(set.contains_kid("k1"));
        let p384 = pem_of(&ECDSA_P384_SHA384_FIXED_SIGNING);
        assert!(parse_pem(p384.as_bytes(), "k1", Algorithm::ES256).is_err());
        assert!(parse_pem(b"<html>", "k1", Algorithm::ES256).is_err());
        let certificate = p256.replace("PUBLIC KEY", "CERTIFICATE");
        assert!(parse_pem(certificate.as_bytes(), "k1", Algorithm::ES256).is_err());
    }
}
