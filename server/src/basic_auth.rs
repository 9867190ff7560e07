//! `basic_auth_users`: HTTP basic auth against bcrypt hashes, as exporter-toolkit
//! checks it.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10, more on an ARM
//! board), so outcomes are remembered: a scraper sending the same credentials every
//! second pays one bcrypt, not one per scrape. The caches are keyed by a SHA-256 of
//! (user, stored hash, password), never the password itself, and a changed hash in the
//! config misses them. Accepted and refused pairs are kept apart, each bounded by
//! [`CACHE_ENTRIES`], so a flood of wrong guesses cannot evict a scraper's entry.
//! A bcrypt runs on the blocking pool, one at a time (as exporter-toolkit's mutex
//! has it), so guessing costs a client its request timeout, not the server its cores.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, PoisonError};

use axum::http::HeaderValue;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest;

/// Remembered outcomes, accepted and refused each: exporter-toolkit's cache size.
pub(crate) const CACHE_ENTRIES: usize = 100;

pub(crate) struct BasicAuth {
    accepted: Mutex<DigestSet>,
    refused: Mutex<DigestSet>,
    /// One bcrypt at a time.
    bcrypt: tokio::sync::Semaphore,
}

impl BasicAuth {
    pub(crate) fn new() -> BasicAuth {
        BasicAuth {
            accepted: Mutex::new(DigestSet::default()),
            refused: Mutex::new(DigestSet::default()),
            bcrypt: tokio::sync::Semaphore::new(1),
        }
    }

    /// Whether `authorization` names one of `users` with the right password.
    /// `users` must not be empty (empty means no authentication at all).
    pub(crate) async fn allows(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&HeaderValue>,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (known, hash) = match users.get(&user) {
            Some(hash) => (true, hash),
            // An unknown user costs a bcrypt too (against a configured hash, bound
            // to fail), so timing does not tell which users exist.
            None => match users.values().next() {
                Some(hash) => (false, hash),
                None => return false,
            },
        };
        let key = cache_key(&user, hash, &password);
        if lock(&self.accepted).contains(&key) {
            return known;
        }
        if lock(&self.refused).contains(&key) {
            return false;
        }
        let Ok(_turn) = self.bcrypt.acquire().await else {
            return false;
        };
        let hash = hash.clone();
        let matched = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .is_ok_and(|verified| verified.unwrap_or(false));
        let allowed = known && matched;
        if allowed {
            lock(&self.accepted).insert(key);
        } else {
            lock(&self.refused).insert(key);
        }
        allowed
    }
}

fn lock(set: &Mutex<DigestSet>) -> std::sync::MutexGuard<'_, DigestSet> {
    set.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `Basic base64(user:password)`, as Go's `Request.BasicAuth` reads it.
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

type Digest = [u8; 32];

/// SHA-256 of the three fields, each length-prefixed so no two triples collide.
fn cache_key(user: &str, hash: &str, password: &str) -> Digest {
    let mut context = digest::Context::new(&digest::SHA256);
    for field in [user, hash, password] {
        context.update(&(field.len() as u64).to_be_bytes());
        context.update(field.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// At most [`CACHE_ENTRIES`] digests; a full set forgets an arbitrary one.
#[derive(Default)]
struct DigestSet(HashSet<Digest>);

impl DigestSet {
    fn contains(&self, key: &Digest) -> bool {
        self.0.contains(key)
    }

    fn insert(&mut self, key: Digest) {
        if self.0.len() >= CACHE_ENTRIES {
            if let Some(evicted) = self.0.iter().next().copied() {
                self.0.remove(&evicted);
            }
        }
        self.0.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn basic(credentials: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials))).unwrap()
    }

    #[test]
    fn reads_the_header_as_go_does() {
        let parsed = |v: &str| parse_basic(&HeaderValue::from_str(v).unwrap());
        assert_eq!(
            parse_basic(&basic("alice:pa:ss")),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(
            parsed(&format!("basic {}", STANDARD.encode("a:b"))),
            Some(("a".into(), "b".into()))
        );
        assert_eq!(parsed("Bearer abc"), None);
        assert_eq!(parsed("Basic !!!"), None);
        assert_eq!(parse_basic(&basic("no-colon")), None);
    }

    #[tokio::test]
    async fn checks_and_remembers() {
        let hash = bcrypt::hash("secret", 8).unwrap();
        let users = BTreeMap::from([("alice".to_string(), hash)]);
        let auth = BasicAuth::new();
        let right = basic("alice:secret");

        let start = Instant::now();
        assert!(auth.allows(&users, Some(&right)).await);
        let first = start.elapsed();
        // Remembered: twenty more checks cost less than the one bcrypt did.
        let start = Instant::now();
        for _ in 0..20 {
            assert!(auth.allows(&users, Some(&right)).await);
        }
        assert!(
            start.elapsed() < first,
            "{:?} vs {first:?}",
            start.elapsed()
        );

        assert!(!auth.allows(&users, Some(&basic("alice:wrong"))).await);
        assert!(!auth.allows(&users, Some(&basic("bob:secret"))).await);
        assert!(!auth.allows(&users, None).await);
        // A refused pair is remembered as refused, never as accepted.
        assert!(!auth.allows(&users, Some(&basic("alice:wrong"))).await);
        assert!(!auth.allows(&users, Some(&basic("bob:secret"))).await);

        // A new hash for the user (a reloaded config) is checked afresh.
        let rehashed = BTreeMap::from([("alice".to_string(), bcrypt::hash("other", 4).unwrap())]);
        assert!(!auth.allows(&rehashed, Some(&right)).await);
        assert!(auth.allows(&rehashed, Some(&basic("alice:other"))).await);
    }

    #[test]
    fn caches_are_bounded() {
        let mut set = DigestSet::default();
        for i in 0..CACHE_ENTRIES * 3 {
            set.insert(cache_key("u", "h", &i.to_string()));
        }
        assert_eq!(set.0.len(), CACHE_ENTRIES);
    }
}
