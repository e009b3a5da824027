//! SMTP AUTH's per-account failure rule (the core's [`FailureLog`]: 5 failures in 15
//! minutes) for Dovecot's logins, each a checkpassword process of its own: one file per
//! account under `{dir}/throttle/`, read and written under an exclusive lock. It holds
//! the account's failure log and the keys of the passwords that verified (SHA-256 of the
//! stored hash and the password, as the relay's own cache keeps them), so the right
//! password still signs in while guesses are throttled, and a throttled guess is
//! refused without its slow hash. That key is a fast hash of the password: a copy of
//! the directory lets guesses be tested at SHA-256 speed; app passwords are 120 random
//! bits, which no guessing at any speed reaches, and the files are the relay user's, 0600.

use crate::auth::cache_key;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use tenantry_core::auth::throttle::FailureLog;

/// Verified keys kept per account (a mailbox has at most 20 app passwords).
const MAX_VERIFIED: usize = 32;

#[derive(Default, Serialize, Deserialize)]
struct Record {
    failures: FailureLog,
    /// Hex keys, the newest last.
    verified: Vec<String>,
}

/// One account's record, locked until dropped.
pub struct AccountRecord {
    file: File,
    record: Record,
}

impl AccountRecord {
    /// Opens and locks the record of `address` (an empty one the first time). The file is
    /// named by the address's SHA-256, so no address can reach outside the directory.
    pub fn open(dir: &Path, address: &str) -> io::Result<Self> {
        let directory = dir.join("throttle");
        std::fs::create_dir_all(&directory)?;
        let name = hex(&Sha256::digest(address.as_bytes()));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(directory.join(name))?;
        file.lock()?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        // A record that does not parse (a crash mid-write) starts again empty.
        let record = serde_json::from_str(&text).unwrap_or_default();
        Ok(AccountRecord { file, record })
    }

    /// Whether this password verified against this stored hash before.
    pub fn verified(&self, stored_hash: &str, password: &str) -> bool {
        let key = hex(&cache_key("", stored_hash, password));
        self.record.verified.contains(&key)
    }

    /// Lets a login through to its hash at `now`, counted as a failure until it
    /// [`succeeded`](Self::succeeded); or the seconds until another may be tried.
    pub fn begin(&mut self, now: i64) -> io::Result<Result<(), i64>> {
        let outcome = self.record.failures.begin(now);
        if outcome.is_ok() {
            self.save()?;
        }
        Ok(outcome)
    }

    /// The login let through at `began_at` succeeded with this password: its own failure
    /// is taken back (not a concurrent guess's) and the pair remembered.
    pub fn succeeded(
        &mut self,
        stored_hash: &str,
        password: &str,
        began_at: i64,
    ) -> io::Result<()> {
        self.record.failures.forgive_at(began_at);
        let key = hex(&cache_key("", stored_hash, password));
        self.record.verified.retain(|k| k != &key);
        self.record.verified.push(key);
        if self.record.verified.len() > MAX_VERIFIED {
            self.record.verified.remove(0);
        }
        self.save()
    }

    fn save(&mut self) -> io::Result<()> {
        let text = serde_json::to_vec(&self.record).map_err(io::Error::other)?;
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(&text)
    }
}

fn hex(bytes: &[u8]) -> String {
    tenantry_core::encoding::hex_encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_throttle_and_a_verified_password_is_remembered() {
        let dir = std::env::temp_dir().join(format!("login-throttle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let address = "ann@hopital-paris.example";
        for attempt in 0..5 {
            let mut record = AccountRecord::open(&dir, address).unwrap();
            assert_eq!(
                record.begin(1_000 + attempt).unwrap(),
                Ok(()),
                "attempt {attempt}"
            );
        }
        let mut record = AccountRecord::open(&dir, address).unwrap();
        assert!(
            record.begin(1_010).unwrap().is_err(),
            "the sixth is throttled"
        );
        assert!(!record.verified("$argon2id$h", "right"));
        record.succeeded("$argon2id$h", "right", 1_004).unwrap();
        drop(record);
        let record = AccountRecord::open(&dir, address).unwrap();
        assert!(record.verified("$argon2id$h", "right"));
        assert!(!record.verified("$argon2id$h", "wrong"));
        assert!(!record.verified("$argon2id$other", "right"));
        drop(record);
        let other = AccountRecord::open(&dir, "eve@clinique-lyon.example").unwrap();
        assert!(!other.verified("$argon2id$h", "right"), "per account");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
