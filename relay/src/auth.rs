//! SMTP AUTH against the app passwords of the directory replica: the core says who may
//! sign in, `argon2` recomputes the digest off the async threads, the core compares it.
//! Failures are throttled per client address and per account with the core's
//! [`FailureLog`], counted before the hash so parallel guesses cannot slip past.

use crate::clock;
use crate::relay::Relay;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tenantry_core::auth::password::{PasswordScheme, StoredHash};
use tenantry_core::auth::throttle::FailureLog;
use tenantry_core::mail::Reply;
use tenantry_core::mail::submission::{self, replies};
use tracing::{info, warn};

/// Failure logs kept at most; the oldest keys go first when full (an attacker spraying
/// addresses cannot grow memory without bound).
const MAX_THROTTLED_KEYS: usize = 100_000;

/// Verified (credential, password) pairs remembered, so a client that signs in for every
/// message does not pay the slow hash every time (as Dovecot's auth cache does).
const MAX_CACHED: usize = 10_000;

#[derive(Default)]
pub struct Authenticator {
    failures: Mutex<HashMap<String, FailureLog>>,
    /// SHA-256 of (credential id, stored hash, password) of a pair that verified. A
    /// revoked or changed credential no longer matches its key.
    verified: Mutex<HashMap<[u8; 32], i64>>,
    /// Credential ids and when they were last used, for the usage report.
    used: Mutex<HashMap<String, i64>>,
}

fn cache_key(id: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [id, hash, password] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Recomputes the digest of `password` under the stored hash and compares (CPU-bound).
fn verify(stored: &str, password: &str) -> bool {
    let Ok(stored) = StoredHash::parse(stored) else {
        warn!("an app password's stored hash is not a supported PHC string");
        return false;
    };
    let mut digest = vec![0u8; stored.digest.len()];
    let ok = match stored.scheme {
        PasswordScheme::Argon2id {
            memory_kib,
            time,
            parallelism,
        } => argon2::Params::new(memory_kib, time, parallelism, Some(digest.len()))
            .ok()
            .and_then(|params| {
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(password.as_bytes(), &stored.salt, &mut digest)
                    .ok()
            })
            .is_some(),
        PasswordScheme::Pbkdf2Sha256 { iterations } => {
            pbkdf2::pbkdf2_hmac::<Sha256>(
                password.as_bytes(),
                &stored.salt,
                iterations,
                &mut digest,
            );
            true
        }
    };
    ok && stored.matches(&digest)
}

impl Authenticator {
    fn begin(&self, keys: &[String], now: i64) -> Result<(), Reply> {
        let mut failures = self.failures.lock().expect("failures lock");
        if keys.iter().any(|k| {
            failures
                .get_mut(k)
                .is_some_and(|log| log.retry_after(now).is_some())
        }) {
            return Err(replies::AUTH_THROTTLED);
        }
        if failures.len() + keys.len() > MAX_THROTTLED_KEYS {
            failures.retain(|_, log| log.retry_after(now).is_some());
            if failures.len() + keys.len() > MAX_THROTTLED_KEYS {
                failures.clear();
            }
        }
        for key in keys {
            let _ = failures.entry(key.clone()).or_default().begin(now);
        }
        Ok(())
    }

    fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().expect("failures lock");
        for key in keys {
            if let Some(log) = failures.get_mut(key) {
                log.forgive();
                if log.is_empty() {
                    failures.remove(key);
                }
            }
        }
    }

    /// Takes the credentials used since the last call, with their last use.
    pub fn take_used(&self) -> Vec<(String, i64)> {
        std::mem::take(&mut *self.used.lock().expect("used lock"))
            .into_iter()
            .collect()
    }

    /// Puts back uses a push could not deliver (newer ones win).
    pub fn restore_used(&self, items: Vec<(String, i64)>) {
        let mut used = self.used.lock().expect("used lock");
        for (id, at) in items {
            let slot = used.entry(id).or_insert(at);
            *slot = (*slot).max(at);
        }
    }
}

/// Signs `username` in with `password`: the mailbox, or the reply to refuse with.
pub async fn authenticate(
    relay: &Arc<Relay>,
    client: IpAddr,
    username: &str,
    password: &str,
) -> Result<String, Reply> {
    let now = clock::now_secs();
    let auth = &relay.authenticator;
    let account = username.to_ascii_lowercase();
    let keys = [format!("ip:{client}"), format!("account:{account}")];
    if let Err(reply) = auth.begin(&keys, now) {
        relay.metrics.auth("throttled");
        info!(%client, "AUTH throttled");
        return Err(reply);
    }
    let directory = relay.directory();
    let candidates: Vec<(String, String)> = match submission::sign_in(&directory, &account) {
        Ok(sign_in) => sign_in
            .credentials
            .iter()
            .map(|c| (c.id.clone(), c.hash.clone()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut matched = None;
    for (id, hash) in candidates {
        let key = cache_key(&id, &hash, password);
        if auth.verified.lock().expect("cache lock").contains_key(&key) {
            matched = Some(id);
            break;
        }
        let password = password.to_string();
        let hash_for_check = hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify(&hash_for_check, &password))
            .await
            .unwrap_or(false);
        if ok {
            let mut cache = auth.verified.lock().expect("cache lock");
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key, now);
            matched = Some(id);
            break;
        }
    }
    match matched {
        Some(id) => {
            auth.succeeded(&keys);
            auth.used.lock().expect("used lock").insert(id, now);
            relay.metrics.auth("succeeded");
            info!(%client, mailbox = %account, "AUTH succeeded");
            Ok(account)
        }
        None => {
            relay.metrics.auth("failed");
            info!(%client, "AUTH failed");
            Err(replies::AUTH_FAILED)
        }
    }
}
