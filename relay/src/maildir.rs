//! Maildir delivery that never loses an acknowledged message.
//!
//! A message is written to `tmp/`, the file is fsynced, renamed into `new/`, and `new/`
//! itself is fsynced, in that order, before the caller may answer 250. A crash at any
//! point leaves either nothing in `new/` or the complete file: `rename` is atomic, and
//! what is left in `tmp/` is never read as mail.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Delivers into `{root}/{domain}/{local}/`.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    hostname: String,
    sequence: AtomicU64,
}

/// Directory name of a mailbox part: bytes that could change the path (`/`, a leading
/// `.`) or are awkward in file names are written as `%XX`.
fn path_component(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for (i, b) in part.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'+' | b'=')
            || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A folder of a mailbox. Maildir++ keeps subfolders as `.Name` directories beside
/// `cur/`, `new/` and `tmp/`, which is how Dovecot's `maildir:~` shows them over IMAP
/// (a local part never starts with `.` here: [`path_component`] escapes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// The mailbox itself.
    Inbox,
    /// Where suspicious mail goes.
    Junk,
}

impl Folder {
    fn within(self, mailbox: PathBuf) -> PathBuf {
        match self {
            Folder::Inbox => mailbox,
            Folder::Junk => mailbox.join(".Junk"),
        }
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl Maildir {
    /// A Maildir tree under `root`; file names carry `hostname`.
    pub fn new(root: PathBuf, hostname: &str) -> Self {
        Maildir {
            root,
            hostname: hostname.replace(['/', ':'], "_"),
            sequence: AtomicU64::new(0),
        }
    }

    /// The mailbox directory of `local@domain`.
    pub fn mailbox_dir(&self, address: &str) -> PathBuf {
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        self.root
            .join(path_component(domain))
            .join(path_component(local))
    }

    fn ensure_mailbox(&self, dir: &Path) -> io::Result<()> {
        if dir.join("new").is_dir() {
            return Ok(());
        }
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        // The new directories must survive a crash too, up to the mail root.
        let mut at = Some(dir);
        while let Some(path) = at.filter(|p| p.starts_with(&self.root)) {
            sync_dir(path)?;
            at = path.parent();
        }
        Ok(())
    }

    fn unique_name(&self, size: usize) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{},S={}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            self.hostname,
            size
        )
    }

    /// Writes `parts` (concatenated) as one message into the inbox of `address` and
    /// returns its path in `new/` once it is durable.
    pub fn deliver(&self, address: &str, parts: &[&[u8]]) -> io::Result<PathBuf> {
        self.deliver_in(address, Folder::Inbox, parts)
    }

    /// As [`Maildir::deliver`], into `folder`.
    pub fn deliver_in(
        &self,
        address: &str,
        folder: Folder,
        parts: &[&[u8]],
    ) -> io::Result<PathBuf> {
        let dir = folder.within(self.mailbox_dir(address));
        self.ensure_mailbox(&dir)?;
        let size = parts.iter().map(|p| p.len()).sum();
        let name = self.unique_name(size);
        let tmp = dir.join("tmp").join(&name);
        let new = dir.join("new").join(&name);
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            for part in parts {
                file.write_all(part)?;
            }
            file.sync_all()?;
            fs::rename(&tmp, &new)?;
            sync_dir(&dir.join("new"))
        })();
        if let Err(error) = result {
            let _ = fs::remove_file(&tmp);
            return Err(error);
        }
        Ok(new)
    }

    /// Bytes stored per mailbox (`new/` and `cur/`), for quotas: `(address, bytes)`.
    pub fn scan_usage(&self) -> io::Result<Vec<(String, u64)>> {
        let mut usage = Vec::new();
        let Ok(domains) = fs::read_dir(&self.root) else {
            return Ok(usage);
        };
        for domain in domains.flatten().filter(|e| e.path().is_dir()) {
            for mailbox in fs::read_dir(domain.path())?
                .flatten()
                .filter(|e| e.path().is_dir())
            {
                let mut bytes = 0;
                let folders = [Folder::Inbox, Folder::Junk].map(|f| f.within(mailbox.path()));
                for sub in folders.iter().flat_map(|f| [f.join("new"), f.join("cur")]) {
                    if let Ok(files) = fs::read_dir(sub) {
                        bytes += files
                            .flatten()
                            .filter_map(|f| f.metadata().ok())
                            .map(|m| m.len())
                            .sum::<u64>();
                    }
                }
                let name = |e: &fs::DirEntry| decode_component(&e.file_name().to_string_lossy());
                usage.push((format!("{}@{}", name(&mailbox), name(&domain)), bytes));
            }
        }
        Ok(usage)
    }
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("maildir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn delivers_into_new_and_leaves_tmp_empty() {
        let root = temp_root("deliver");
        let maildir = Maildir::new(root.clone(), "mx.test");
        let path = maildir
            .deliver(
                "dr.martin@hopital-paris.example",
                &[b"Subject: a\r\n\r\n", b"body\r\n"],
            )
            .unwrap();
        assert!(
            path.starts_with(
                root.join("hopital-paris.example")
                    .join("dr.martin")
                    .join("new")
            )
        );
        assert_eq!(fs::read(&path).unwrap(), b"Subject: a\r\n\r\nbody\r\n");
        let tmp = root.join("hopital-paris.example/dr.martin/tmp");
        assert_eq!(fs::read_dir(tmp).unwrap().count(), 0);
        let second = maildir
            .deliver("dr.martin@hopital-paris.example", &[b"x"])
            .unwrap();
        assert_ne!(path, second, "names are unique");
        let junk = maildir
            .deliver_in("dr.martin@hopital-paris.example", Folder::Junk, &[b"spam"])
            .unwrap();
        assert!(junk.starts_with(root.join("hopital-paris.example/dr.martin/.Junk/new")));
        let usage = maildir.scan_usage().unwrap();
        assert_eq!(
            usage,
            vec![("dr.martin@hopital-paris.example".to_string(), 25)],
            "Junk counts against the quota"
        );
    }

    #[test]
    fn local_parts_cannot_escape_the_mailbox_directory() {
        let root = temp_root("escape");
        let maildir = Maildir::new(root.clone(), "mx");
        let dir = maildir.mailbox_dir("a/../../b@x.example");
        assert!(dir.starts_with(root.join("x.example")));
        assert_eq!(
            dir.file_name().unwrap().to_string_lossy(),
            "a%2F..%2F..%2Fb"
        );
        assert_eq!(decode_component("a%2F..%2F..%2Fb"), "a/../../b");
        assert_eq!(path_component(".hidden"), "%2Ehidden");
    }
}
