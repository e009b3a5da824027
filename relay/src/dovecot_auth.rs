//! `tenantry-relay dovecot-auth DIR REPLY…`: Dovecot's checkpassword program, for its
//! passdb and userdb, reading what the relay wrote in `DIR/accounts/` (see `dovecot`).
//!
//! Dovecot writes `user NUL password NUL` on file descriptor 3. A password lookup checks
//! the password against the mailbox's app passwords with the code SMTP AUTH uses; a
//! userdb lookup (`AUTHORIZED=1`, from LDA or doveadm) checks none and answers
//! `AUTHORIZED=2`. On success the program sets `USER`, `HOME` and the quota rule and
//! executes the reply program Dovecot named; otherwise it exits 1 (wrong password),
//! 3 (no such account) or 111 (temporary failure: Dovecot says so to the client).
//! Failures are throttled per account as SMTP AUTH's are (`login_throttle`).

use crate::dovecot::AccountLine;
use crate::login_throttle::AccountRecord;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tenantry_core::mail::Address;

const WRONG_PASSWORD: i32 = 1;
const NO_SUCH_ACCOUNT: i32 = 3;
const TEMPORARY_FAILURE: i32 = 111;

fn find(dir: &Path, address: &Address) -> Result<Option<AccountLine>, i32> {
    let path = dir.join("accounts").join(address.domain());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            eprintln!(
                "tenantry-relay dovecot-auth: reading {}: {error}",
                path.display()
            );
            return Err(TEMPORARY_FAILURE);
        }
    };
    Ok(text
        .lines()
        .filter_map(AccountLine::parse)
        .find(|account| account.address == address.as_str()))
}

/// A slot to hash in: at most one slow hash per core at once across every login Dovecot
/// runs (each a process of its own), as SMTP AUTH is capped inside the relay, so a burst
/// of logins from many addresses cannot take every core. A lock file per slot in
/// `{dir}/locks/`; the lock goes with the process (or with the exec of the reply).
fn hashing_slot(dir: &Path) -> Option<File> {
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
    let locks = dir.join("locks");
    let _ = std::fs::create_dir_all(&locks);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for slot in 0..slots {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(locks.join(slot.to_string()));
            if let Ok(file) = file
                && file.try_lock().is_ok()
            {
                return Some(file);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks a login's password under the account's failure rule: a password that verified
/// before signs in at once (even while guesses are throttled); another is hashed only if
/// the account may still be tried, counted as a failure until it matches.
fn check_password(dir: &Path, account: &AccountLine, password: &str) -> Result<(), i32> {
    let trouble = |error: std::io::Error| {
        eprintln!(
            "tenantry-relay dovecot-auth: the login record of {}: {error}",
            account.address
        );
        TEMPORARY_FAILURE
    };
    let mut record = AccountRecord::open(dir, &account.address).map_err(trouble)?;
    if account
        .hashes
        .iter()
        .any(|hash| record.verified(hash, password))
    {
        return Ok(());
    }
    let began_at = crate::clock::now_secs();
    if let Err(wait) = record.begin(began_at).map_err(trouble)? {
        eprintln!(
            "tenantry-relay dovecot-auth: {} throttled for {wait} s",
            account.address
        );
        return Err(WRONG_PASSWORD);
    }
    // The lock is not held over the hash: other logins of the account go on meanwhile.
    drop(record);
    let Some(_slot) = hashing_slot(dir) else {
        eprintln!("tenantry-relay dovecot-auth: every hashing slot stayed busy for 10 s");
        return Err(TEMPORARY_FAILURE);
    };
    let Some(hash) = account
        .hashes
        .iter()
        .find(|hash| crate::auth::verify(hash, password))
    else {
        return Err(WRONG_PASSWORD);
    };
    let mut record = AccountRecord::open(dir, &account.address).map_err(trouble)?;
    record.succeeded(hash, password, began_at).map_err(trouble)
}

/// Runs the program; returns the exit status when it does not execute the reply.
pub fn run(dir: &Path, reply: &[OsString]) -> i32 {
    let Some((program, reply_args)) = reply.split_first() else {
        eprintln!("tenantry-relay dovecot-auth: no reply program (run by Dovecot's checkpassword)");
        return 2;
    };
    let mut input = Vec::with_capacity(512);
    let read =
        std::fs::File::open("/dev/fd/3").and_then(|fd| fd.take(4096).read_to_end(&mut input));
    if let Err(error) = read {
        eprintln!("tenantry-relay dovecot-auth: reading file descriptor 3: {error}");
        return 2;
    }
    let mut parts = input.split(|b| *b == 0);
    let username = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let password = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let Ok(address) = Address::parse(&username) else {
        return NO_SUCH_ACCOUNT;
    };
    let account = match find(dir, &address) {
        Ok(Some(account)) => account,
        Ok(None) => return NO_SUCH_ACCOUNT,
        Err(status) => return status,
    };
    // Only plaintext mechanisms are configured: stored credentials are never handed out.
    if std::env::var_os("CREDENTIALS_LOOKUP").is_some() {
        return WRONG_PASSWORD;
    }
    let userdb_lookup = std::env::var("AUTHORIZED").is_ok_and(|v| v == "1");
    if !userdb_lookup {
        if password.is_empty() {
            return WRONG_PASSWORD;
        }
        if let Err(status) = check_password(dir, &account, &password) {
            return status;
        }
    }
    let mut command = std::process::Command::new(program);
    command
        .args(reply_args)
        .env("USER", &account.address)
        .env("HOME", &account.home)
        .env("userdb_quota_rule", &account.quota_rule)
        .env("EXTRA", "userdb_quota_rule");
    if userdb_lookup {
        command.env("AUTHORIZED", "2");
    }
    let error = command.exec();
    eprintln!(
        "tenantry-relay dovecot-auth: running {}: {error}",
        program.to_string_lossy()
    );
    TEMPORARY_FAILURE
}
