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

pub struct Authenticator {
    failures: Mutex<HashMap<String, FailureLog>>,
    /// SHA-256 of (credential id, stored hash, password) of a pair that verified. A
    /// revoked or changed credential no longer matches its key.
    verified: Mutex<HashMap<[u8; 32], i64>>,
    /// Credential ids and when they were last used, for the usage report.
    used: Mutex<HashMap<String, i64>>,
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Slow hashes in progress at once, relay-wide (each costs ~19 MiB and a core): guesses
    /// spread over many accounts wait here instead of filling memory.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl Default for Authenticator {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Authenticator {
            failures: Mutex::default(),
            verified: Mutex::default(),
            used: Mutex::default(),
            turns: Mutex::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }
}

pub(crate) fn cache_key(id: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [id, hash, password] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Recomputes the digest of `password` under the stored hash and compares (CPU-bound).
pub(crate) fn verify(stored: &str, password: &str) -> bool {
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
    fn throttled(&self, keys: &[&str], now: i64) -> bool {
        let mut failures = self.failures.lock().expect("failures lock");
        keys.iter().any(|k| {
            failures
                .get_mut(*k)
                .is_some_and(|log| log.retry_after(now).is_some())
        })
    }

    /// Counts an attempt on `key` as a failure now (forgiven if it succeeds).
    fn begin(&self, key: &str, now: i64) {
        let mut failures = self.failures.lock().expect("failures lock");
        if failures.len() >= MAX_THROTTLED_KEYS {
            failures.retain(|_, log| log.retry_after(now).is_some());
            if failures.len() >= MAX_THROTTLED_KEYS {
                failures.clear();
            }
        }
        let _ = failures.entry(key.to_string()).or_default().begin(now);
    }

    fn forgive(&self, key: &str) {
        let mut failures = self.failures.lock().expect("failures lock");
        if let Some(log) = failures.get_mut(key) {
            log.forgive();
            if log.is_empty() {
                failures.remove(key);
            }
        }
    }

    /// The account's turn to verify: one hash at a time per account, so concurrent
    /// sessions of a client wait for the first verification (and then find it in the
    /// cache) while parallel guesses against one account get no more tries.
    fn account_turn(&self, account: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().expect("turns lock");
        if turns.len() >= MAX_THROTTLED_KEYS {
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        turns.entry(account.to_string()).or_default().clone()
    }

    fn cached(&self, key: &[u8; 32]) -> bool {
        self.verified.lock().expect("cache lock").contains_key(key)
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
///
/// A pair verified before is accepted from the cache whatever the throttle says (the
/// owner of a password is not locked out by someone else's guesses; a guess is never in
/// the cache). Otherwise a throttled client address or account is refused; the account's
/// attempt is counted before the hash, the address's after it.
pub async fn authenticate(
    relay: &Arc<Relay>,
    client: IpAddr,
    username: &str,
    password: &str,
) -> Result<String, Reply> {
    let now = clock::now_secs();
    let auth = &relay.authenticator;
    let account = username.to_ascii_lowercase();
    let (ip_key, account_key) = (format!("ip:{client}"), format!("account:{account}"));
    let directory = relay.directory();
    let candidates: Vec<(String, [u8; 32], String)> =
        match submission::sign_in(&directory, &account) {
            Ok(sign_in) => sign_in
                .credentials
                .iter()
                .map(|c| {
                    (
                        c.id.clone(),
                        cache_key(&c.id, &c.hash, password),
                        c.hash.clone(),
                    )
                })
                .collect(),
            Err(_) => Vec::new(),
        };
    let hit = |candidates: &[(String, [u8; 32], String)]| {
        candidates
            .iter()
            .find(|(_, key, _)| auth.cached(key))
            .map(|(id, _, _)| id.clone())
    };
    let mut matched = hit(&candidates);
    if matched.is_none() {
        if auth.throttled(&[&ip_key, &account_key], now) {
            relay.metrics.auth("throttled");
            info!(%client, "AUTH throttled");
            return Err(replies::AUTH_THROTTLED);
        }
        let turn = auth.account_turn(&account);
        let _turn = turn.lock().await;
        // Another session of the same client may have verified meanwhile, or parallel
        // guesses spent the account's tries.
        matched = hit(&candidates);
        if matched.is_none() && auth.throttled(&[&ip_key, &account_key], clock::now_secs()) {
            relay.metrics.auth("throttled");
            info!(%client, "AUTH throttled");
            return Err(replies::AUTH_THROTTLED);
        }
        if matched.is_none() {
            auth.begin(&account_key, now);
            for (id, key, hash) in &candidates {
                let (hash, password) = (hash.clone(), password.to_string());
                let permit = auth
                    .hashing
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("never closed");
                let ok = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    verify(&hash, &password)
                })
                .await
                .unwrap_or(false);
                if ok {
                    let mut cache = auth.verified.lock().expect("cache lock");
                    if cache.len() >= MAX_CACHED {
                        cache.clear();
                    }
                    cache.insert(*key, now);
                    matched = Some(id.clone());
                    break;
                }
            }
            if matched.is_some() {
                auth.forgive(&account_key);
            } else {
                auth.begin(&ip_key, now);
            }
        }
    }
    match matched {
        Some(id) => {
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
