//! The outbound queue, on disk: a message for remote recipients is written and fsynced
//! with its entry before the client hears `250`, and each recipient's state is written
//! back after every attempt, so a `kill -9` at any moment loses nothing acknowledged
//! and never sends again to a recipient whose server said `250`.
//!
//! Layout: `{queue_dir}/{id}.eml` holds the message, `{queue_dir}/{id}.json` its envelope
//! and per-recipient state. Both are written to temporary names and fsynced, renamed
//! (the entry last: it is what makes the message the queue's), and the directory is
//! fsynced once; removing the entry is the commit point of a finished message. Only the
//! schedule (time and id of each entry) is held in memory, so a hundred thousand
//! deferred messages cost a few MB.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tenantry_core::mail::{AttemptOutcome, NextAttempt, RetrySchedule};

/// Where a queued message came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Submitted by a signed-in mailbox of a tenant.
    Submission {
        /// The tenant.
        tenant_id: String,
        /// The signed-in mailbox.
        mailbox: String,
    },
    /// The platform's own mail (the gateway's outbox).
    Platform {
        /// The outbox message id.
        outbox_id: String,
    },
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Still to deliver.
    Pending,
    /// A remote server said `250`.
    Delivered,
    /// Bounced (permanent failure or expired).
    Failed,
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    /// The address.
    pub address: String,
    /// Where it stands.
    pub status: Status,
    /// Temporary failures so far.
    pub failures: u32,
    /// When it is tried next (seconds since the epoch).
    pub next_attempt_at: i64,
    /// The last reply or error, for `queue show` and the bounce.
    pub last_reply: Option<String>,
    /// The RFC 3463 status of the last reply.
    pub last_status: Option<String>,
    /// The server that gave it.
    pub remote_mta: Option<String>,
}

impl RecipientState {
    /// The domain part, lowercase.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// What one delivery attempt came to for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Delivered, try again, or bounce.
    pub outcome: AttemptOutcome,
    /// The remote's reply (or the local reason), one line.
    pub reply: String,
    /// Its RFC 3463 status.
    pub status: String,
    /// The server that answered.
    pub remote_mta: Option<String>,
}

/// A queued message's envelope and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Queue id.
    pub id: String,
    /// MAIL FROM (empty for the null sender).
    pub from: String,
    /// Where it came from.
    pub origin: Origin,
    /// When it was queued.
    pub queued_at: i64,
    /// Bytes of the message file.
    pub size: u64,
    /// Recipients.
    pub recipients: Vec<RecipientState>,
}

impl Entry {
    /// When it should be looked at next: its earliest pending recipient.
    pub fn next_attempt_at(&self) -> Option<i64> {
        self.recipients
            .iter()
            .filter(|r| r.status == Status::Pending)
            .map(|r| r.next_attempt_at)
            .min()
    }

    /// Records one attempt's outcome for a recipient, as the retry schedule says.
    pub fn record(&mut self, index: usize, attempt: Attempt, schedule: &RetrySchedule, now: i64) {
        let queued_at = self.queued_at;
        let r = &mut self.recipients[index];
        r.last_reply = Some(attempt.reply);
        r.last_status = Some(attempt.status);
        r.remote_mta = attempt.remote_mta;
        match attempt.outcome {
            AttemptOutcome::Delivered => r.status = Status::Delivered,
            AttemptOutcome::Permanent => r.status = Status::Failed,
            AttemptOutcome::Temporary => {
                r.failures += 1;
                match schedule.after_failure(r.failures, queued_at, now) {
                    NextAttempt::At(at) => r.next_attempt_at = at,
                    NextAttempt::GiveUp => {
                        r.status = Status::Failed;
                        r.last_status = Some("4.4.7".into());
                        let last = r.last_reply.take().unwrap_or_default();
                        r.last_reply = Some(format!("delivery time expired; last: {last}"));
                    }
                }
            }
        }
    }

    /// Whether every recipient is delivered or failed.
    pub fn is_done(&self) -> bool {
        self.recipients.iter().all(|r| r.status != Status::Pending)
    }
}

/// The spool and its schedule.
pub struct Queue {
    dir: PathBuf,
    schedule: Mutex<BTreeSet<(i64, String)>>,
    /// Entries an attempt holds now (never two attempts of one message at once).
    busy: Mutex<HashSet<String>>,
    /// When each entry was queued (for the oldest entry's age).
    queued_at: Mutex<std::collections::HashMap<String, i64>>,
    /// Entries deleted while an attempt held them: that attempt must not write them back.
    deleted: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
}

/// Writes `bytes` to `{path}.tmp` and fsyncs it; the caller renames it into place.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(tmp)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Queue {
    /// Opens (or creates) the spool and schedules what it holds; leftovers of a crash
    /// (temporary files, a message without its entry) are removed: they were never
    /// acknowledged.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut schedule = BTreeSet::new();
        let mut live = HashSet::new();
        let mut queued_at = std::collections::HashMap::new();
        let mut messages = Vec::new();
        for item in fs::read_dir(dir)? {
            let path = item?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("tmp") => fs::remove_file(&path)?,
                Some("eml") => messages.push(path),
                Some("json") => {
                    let parsed: Option<Entry> = fs::read(&path)
                        .ok()
                        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
                    match parsed {
                        Some(e) => {
                            // A finished entry left by a crash is due at once: its bounce
                            // and its removal were not done.
                            schedule.insert((e.next_attempt_at().unwrap_or(0), e.id.clone()));
                            queued_at.insert(e.id.clone(), e.queued_at);
                            live.insert(e.id);
                        }
                        None => {
                            // Kept with its message for an operator: it was acknowledged.
                            tracing::error!(path = %path.display(), "unreadable queue entry left in place");
                            if let Some(id) = path.file_stem().and_then(|n| n.to_str()) {
                                live.insert(id.to_string());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for path in messages {
            let id = path.file_stem().and_then(|n| n.to_str()).unwrap_or("");
            if !live.contains(id) {
                fs::remove_file(&path)?;
            }
        }
        Ok(Queue {
            dir: dir.to_path_buf(),
            schedule: Mutex::new(schedule),
            busy: Mutex::new(HashSet::new()),
            queued_at: Mutex::new(queued_at),
            deleted: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
        })
    }

    fn message_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.eml"))
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes a message and its entry durably (blocking I/O: call it off the async
    /// threads); once it returns, the message is the queue's.
    pub fn enqueue(&self, entry: &Entry, message: &[u8]) -> io::Result<()> {
        let message_tmp = write_synced(&self.message_path(&entry.id), message)?;
        let bytes = serde_json::to_vec(entry).map_err(io::Error::other)?;
        let entry_tmp = write_synced(&self.entry_path(&entry.id), &bytes)?;
        fs::rename(message_tmp, self.message_path(&entry.id))?;
        fs::rename(entry_tmp, self.entry_path(&entry.id))?;
        sync_dir(&self.dir)?;
        self.queued_at
            .lock()
            .expect("queued lock")
            .insert(entry.id.clone(), entry.queued_at);
        if let Some(at) = entry.next_attempt_at() {
            self.schedule
                .lock()
                .expect("schedule lock")
                .insert((at, entry.id.clone()));
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Writes an entry's state durably.
    pub fn save(&self, entry: &Entry) -> io::Result<()> {
        if self
            .deleted
            .lock()
            .expect("deleted lock")
            .contains(&entry.id)
        {
            return Ok(());
        }
        let bytes = serde_json::to_vec(entry).map_err(io::Error::other)?;
        let tmp = write_synced(&self.entry_path(&entry.id), &bytes)?;
        fs::rename(tmp, self.entry_path(&entry.id))?;
        sync_dir(&self.dir)
    }

    /// An entry as stored.
    pub fn load(&self, id: &str) -> io::Result<Entry> {
        let bytes = fs::read(self.entry_path(id))?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }

    /// A message's bytes.
    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        fs::read(self.message_path(id))
    }

    /// Removes a finished (or deleted) message.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        if self.busy.lock().expect("busy lock").contains(id) {
            self.deleted
                .lock()
                .expect("deleted lock")
                .insert(id.to_string());
        }
        self.schedule
            .lock()
            .expect("schedule lock")
            .retain(|(_, e)| e != id);
        self.queued_at.lock().expect("queued lock").remove(id);
        for path in [self.entry_path(id), self.message_path(id)] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        sync_dir(&self.dir)
    }

    /// Puts an entry back on the schedule at its next attempt.
    pub fn reschedule(&self, entry: &Entry) {
        if self
            .deleted
            .lock()
            .expect("deleted lock")
            .contains(&entry.id)
        {
            return;
        }
        let mut schedule = self.schedule.lock().expect("schedule lock");
        schedule.retain(|(_, e)| e != &entry.id);
        if let Some(at) = entry.next_attempt_at() {
            schedule.insert((at, entry.id.clone()));
        }
        drop(schedule);
        self.wake.notify_one();
    }

    /// Takes up to `max` entries due at `now` that no attempt holds, marking them busy.
    pub fn take_due(&self, now: i64, max: usize) -> Vec<String> {
        let mut schedule = self.schedule.lock().expect("schedule lock");
        let mut busy = self.busy.lock().expect("busy lock");
        let due: Vec<(i64, String)> = schedule
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, id)| !busy.contains(id))
            .take(max)
            .cloned()
            .collect();
        for item in &due {
            schedule.remove(item);
            busy.insert(item.1.clone());
        }
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// Releases an entry taken with [`Queue::take_due`].
    pub fn release(&self, id: &str) {
        self.busy.lock().expect("busy lock").remove(id);
        self.deleted.lock().expect("deleted lock").remove(id);
        self.wake.notify_one();
    }

    /// When the earliest entry is due, if any.
    pub fn next_due(&self) -> Option<i64> {
        self.schedule
            .lock()
            .expect("schedule lock")
            .first()
            .map(|(at, _)| *at)
    }

    /// Waits for a new or rescheduled entry.
    pub async fn changed(&self) {
        self.wake.notified().await;
    }

    /// Messages in the queue and the oldest one's queueing time (for metrics).
    pub fn depth(&self) -> usize {
        self.schedule.lock().expect("schedule lock").len()
            + self.busy.lock().expect("busy lock").len()
    }

    /// When the oldest queued message was queued.
    pub fn oldest(&self) -> Option<i64> {
        self.queued_at
            .lock()
            .expect("queued lock")
            .values()
            .min()
            .copied()
    }

    /// Every entry id, in schedule order (for `queue list`).
    pub fn ids(&self) -> Vec<String> {
        let schedule = self.schedule.lock().expect("schedule lock");
        let busy = self.busy.lock().expect("busy lock");
        busy.iter()
            .cloned()
            .chain(schedule.iter().map(|(_, id)| id.clone()))
            .collect()
    }

    /// Makes every pending recipient of an entry due now (`queue retry`).
    pub fn retry_now(&self, id: &str, now: i64) -> io::Result<Entry> {
        if self.busy.lock().expect("busy lock").contains(id) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "a delivery attempt is in progress",
            ));
        }
        let mut entry = self.load(id)?;
        for r in &mut entry.recipients {
            if r.status == Status::Pending {
                r.next_attempt_at = now;
            }
        }
        self.save(&entry)?;
        self.reschedule(&entry);
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, now: i64) -> Entry {
        Entry {
            id: id.into(),
            from: "ann@paris.test".into(),
            origin: Origin::Submission {
                tenant_id: "t".into(),
                mailbox: "ann@paris.test".into(),
            },
            queued_at: now,
            size: 5,
            recipients: vec![RecipientState {
                address: "x@remote.test".into(),
                status: Status::Pending,
                failures: 0,
                next_attempt_at: now,
                last_reply: None,
                last_status: None,
                remote_mta: None,
            }],
        }
    }

    #[test]
    fn survives_reopening_and_cleans_crash_leftovers() {
        let dir = std::env::temp_dir().join(format!("tenantry-queue-{}", crate::ids::random_id()));
        let q = Queue::open(&dir).unwrap();
        q.enqueue(&entry("a", 100), b"hello").unwrap();
        q.enqueue(&entry("b", 50), b"world").unwrap();
        fs::write(dir.join("orphan.eml"), b"never acknowledged").unwrap();
        fs::write(dir.join("c.json.tmp"), b"{").unwrap();
        drop(q);
        let q = Queue::open(&dir).unwrap();
        assert_eq!(q.ids(), ["b", "a"]);
        assert!(!dir.join("orphan.eml").exists());
        assert!(!dir.join("c.json.tmp").exists());
        assert_eq!(q.message("a").unwrap(), b"hello");
        assert_eq!(q.take_due(75, 10), ["b"]);
        assert!(q.take_due(1000, 10) == ["a"], "b is busy, a is due");
        q.release("b");
        q.remove("b").unwrap();
        assert!(q.load("b").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_finished_entry_left_by_a_crash_is_due_at_once() {
        let dir = std::env::temp_dir().join(format!("tenantry-queue-{}", crate::ids::random_id()));
        let q = Queue::open(&dir).unwrap();
        let mut done = entry("d", 100);
        done.recipients[0].status = Status::Failed;
        q.enqueue(&done, b"bounced").unwrap();
        fs::write(dir.join("broken.json"), b"{not json").unwrap();
        fs::write(dir.join("broken.eml"), b"acknowledged").unwrap();
        drop(q);
        let q = Queue::open(&dir).unwrap();
        assert_eq!(
            q.take_due(0, 10),
            ["d"],
            "its bounce and removal are still to do"
        );
        assert!(
            dir.join("broken.eml").exists(),
            "an unreadable entry keeps its message"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outcomes_follow_the_schedule() {
        let schedule = RetrySchedule::default();
        let mut e = entry("a", 0);
        let later = Attempt {
            outcome: AttemptOutcome::Temporary,
            reply: "451 later".into(),
            status: "4.0.0".into(),
            remote_mta: None,
        };
        e.record(0, later.clone(), &schedule, 0);
        assert_eq!(e.recipients[0].next_attempt_at, 300);
        assert!(!e.is_done());
        e.record(0, later, &schedule, 5 * 86_400);
        assert_eq!(e.recipients[0].status, Status::Failed);
        assert_eq!(e.recipients[0].last_status.as_deref(), Some("4.4.7"));
        assert!(e.is_done());
    }
}
