//! Dovecot's view of the replica, written where `dovecot.dir` says:
//!
//! - `accounts/{domain}`: one line per mailbox that may sign in to read (the core's
//!   `reading::accounts_by_domain`): `address TAB home TAB quota_rule TAB hash hash…`,
//!   read by `tenantry-relay dovecot-auth` (Dovecot's checkpassword passdb and userdb).
//!   A file is replaced by rename, so a login reads the old or the new one, never half;
//!   a domain that may no longer sign in loses its file.
//! - `certificates/{domain}/{upload id}/cert.pem` + `key.pem` and `certificates.conf`
//!   (`local_name` blocks Dovecot includes), then `reload_command`: Dovecot serves the
//!   new certificate by SNI without a restart. Each upload gets its own directory, so a
//!   reload never pairs one upload's certificate with another's key.

use crate::maildir::Maildir;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tenantry_core::limits::Limit;
use tenantry_core::mail::Directory;
use tenantry_core::mail::reading::accounts_by_domain;
use tracing::{info, warn};

/// A certificate to hand to Dovecot: the domain, the upload id, the names it serves,
/// its chain (PEM) and its PKCS#8 key (DER).
pub struct OpenedCertificate {
    /// The domain.
    pub domain: String,
    /// The upload.
    pub id: String,
    /// The SNI names.
    pub names: Vec<String>,
    /// The chain, PEM.
    pub chain_pem: String,
    /// The key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
}

/// Dovecot's quota rule for a mailbox quota (`storage=0` is Dovecot's "no limit").
fn quota_rule(quota: Limit) -> String {
    match quota {
        Limit::Unlimited => "*:storage=0".into(),
        Limit::Max(0) => "*:storage=1".into(),
        Limit::Max(mb) => format!("*:storage={mb}M"),
    }
}

/// Writes `contents` to `path` by rename, unless it already holds them; `true` if written.
/// The temporary file is `.{name}.{pid}.{n}.tmp` beside it, created new: a domain name never
/// starts with a dot, so it is nobody's file, and two writers never share one.
fn replace(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<bool> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    if fs::read(path).is_ok_and(|existing| existing == contents) {
        return Ok(false);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&temporary, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(true)
}

/// One line of `accounts/{domain}`: what `dovecot-auth` needs to answer a login. Written
/// here and read there, so the format lives in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLine {
    /// The mailbox, lowercase.
    pub address: String,
    /// Its Maildir.
    pub home: String,
    /// Dovecot's quota rule.
    pub quota_rule: String,
    /// Its app passwords' PHC strings.
    pub hashes: Vec<String>,
}

impl AccountLine {
    /// `address TAB home TAB quota_rule TAB hash hash…` and a newline.
    pub fn render(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\n",
            self.address,
            self.home,
            self.quota_rule,
            self.hashes.join(" ")
        )
    }

    /// A line [`AccountLine::render`] wrote; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split('\t');
        let line = AccountLine {
            address: fields.next()?.to_string(),
            home: fields.next()?.to_string(),
            quota_rule: fields.next()?.to_string(),
            hashes: fields.next()?.split(' ').map(str::to_string).collect(),
        };
        fields.next().is_none().then_some(line)
    }
}

/// The account lines of every domain whose mailboxes may sign in.
pub fn account_files(directory: &Directory, maildir: &Maildir) -> BTreeMap<String, String> {
    accounts_by_domain(directory)
        .into_iter()
        .map(|(domain, accounts)| {
            let mut text = String::new();
            for account in accounts {
                let line = AccountLine {
                    address: account.address.to_string(),
                    home: maildir.mailbox_dir(account.address).display().to_string(),
                    quota_rule: quota_rule(account.quota_mb),
                    hashes: account.hashes.iter().map(|h| h.to_string()).collect(),
                };
                text.push_str(&line.render());
            }
            (domain.to_string(), text)
        })
        .collect()
}

/// Brings `{dir}/accounts/` in line with the replica.
pub fn write_accounts(dir: &Path, directory: &Directory, maildir: &Maildir) -> anyhow::Result<()> {
    let accounts_dir = dir.join("accounts");
    fs::create_dir_all(&accounts_dir)
        .with_context(|| format!("creating {}", accounts_dir.display()))?;
    let files = account_files(directory, maildir);
    let mut changed = 0;
    for (domain, text) in &files {
        changed += usize::from(replace(&accounts_dir.join(domain), text.as_bytes(), 0o600)?);
    }
    for entry in fs::read_dir(&accounts_dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && !files.contains_key(&name) {
            fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
            changed += 1;
        }
    }
    if changed > 0 {
        info!(changed, domains = files.len(), "Dovecot accounts written");
    }
    Ok(())
}

fn key_pem(der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// Brings `{dir}/certificates/` and `certificates.conf` in line with the uploaded
/// certificates (each with the names the core assigned it); runs `reload_command` when the
/// configuration changed. `false` when the reload failed: the configuration is then removed,
/// so the next call writes it again and retries.
pub fn write_certificates(
    dir: &Path,
    certificates: &[OpenedCertificate],
    reload_command: &[String],
) -> anyhow::Result<bool> {
    let root = dir.join("certificates");
    let mut conf = String::from(
        "# Written by tenantry-relay from its directory replica: the certificates tenants\n# uploaded, served by SNI. Do not edit; include it with !include_try.\n",
    );
    let mut kept: BTreeSet<PathBuf> = BTreeSet::new();
    for certificate in certificates {
        let upload = root.join(&certificate.domain).join(&certificate.id);
        fs::create_dir_all(&upload).with_context(|| format!("creating {}", upload.display()))?;
        replace(
            &upload.join("cert.pem"),
            certificate.chain_pem.as_bytes(),
            0o644,
        )?;
        replace(
            &upload.join("key.pem"),
            key_pem(&certificate.key_pkcs8).as_bytes(),
            0o600,
        )?;
        for name in &certificate.names {
            conf.push_str(&format!(
                "local_name {name} {{\n  ssl_cert = <{}\n  ssl_key = <{}\n}}\n",
                upload.join("cert.pem").display(),
                upload.join("key.pem").display()
            ));
        }
        kept.insert(upload);
    }
    fs::create_dir_all(&root)?;
    let conf_path = dir.join("certificates.conf");
    if replace(&conf_path, conf.as_bytes(), 0o644)? && !reload_command.is_empty() {
        let outcome = std::process::Command::new(&reload_command[0])
            .args(&reload_command[1..])
            .output();
        let failure = match outcome {
            Ok(output) if output.status.success() => None,
            Ok(output) => Some(format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(error) => Some(error.to_string()),
        };
        if let Some(failure) = failure {
            warn!(%failure, "dovecot.reload_command failed; retried at the next sync, Dovecot keeps its previous certificates meanwhile");
            // Written again (and reloaded) next time; the files Dovecot still uses stay.
            let _ = fs::remove_file(&conf_path);
            return Ok(false);
        }
        info!(
            certificates = certificates.len(),
            "Dovecot reloaded for its certificates"
        );
    }
    // Uploads no longer served: removed once the configuration no longer names them.
    for domain in fs::read_dir(&root)?.flatten() {
        for upload in fs::read_dir(domain.path())?.flatten() {
            if !kept.contains(&upload.path()) {
                let _ = fs::remove_dir_all(upload.path());
            }
        }
        let _ = fs::remove_dir(domain.path());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rules_follow_the_mailbox_quota() {
        assert_eq!(quota_rule(Limit::Max(500)), "*:storage=500M");
        assert_eq!(quota_rule(Limit::Unlimited), "*:storage=0");
        assert_eq!(quota_rule(Limit::Max(0)), "*:storage=1");
    }

    #[test]
    fn account_lines_read_back_as_written() {
        let line = AccountLine {
            address: "ana@a.example".into(),
            home: "/var/mail/a.example/ana".into(),
            quota_rule: "*:storage=500M".into(),
            hashes: vec!["$argon2id$v=19$a".into(), "$argon2id$v=19$b".into()],
        };
        let text = line.render();
        assert_eq!(AccountLine::parse(text.trim_end()), Some(line));
        assert_eq!(AccountLine::parse("ana@a.example\t/home"), None);
        assert_eq!(AccountLine::parse("a\tb\tc\td\te"), None);
    }

    #[test]
    fn files_are_replaced_whole_and_only_when_changed() {
        let dir = std::env::temp_dir().join(format!("relay-dovecot-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.example");
        assert!(replace(&path, b"one\n", 0o600).unwrap());
        assert!(!replace(&path, b"one\n", 0o600).unwrap());
        assert!(replace(&path, b"two\n", 0o600).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"two\n");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        let pem = key_pem(&[1u8; 100]);
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----\n") && pem.lines().all(|l| l.len() <= 64)
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
