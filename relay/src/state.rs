//! The relay's durable state in an embedded libSQL database: the directory replica
//! and the usage outbox.
//!
//! The replica is stored row by row (`kind`, `key`, JSON body) with its version and the
//! time of the last successful sync, so a restarted relay decides recipients at once,
//! from what it last knew, for as long as that is fresh enough. The outbox holds usage
//! counted per domain and day until the gateway acknowledges the batch that carries it.

use anyhow::Context;
use libsql_client::{Config, Statement, SyncClient, Value};
use std::sync::Mutex;
use tenantry_core::mail::{Directory, DirectoryDelta};

/// The database. The local libSQL connection is synchronous and not `Sync`: calls are
/// short and serialised by the mutex.
pub struct State {
    db: Mutex<SyncClient>,
}

/// One row of usage: a domain on a day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageItem {
    /// Mail domain.
    pub domain: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Messages delivered (one per mailbox).
    pub messages: i64,
    /// Bytes delivered.
    pub bytes: i64,
    /// Bytes stored in the domain at the time of counting.
    pub storage_bytes: i64,
}

/// A batch as pushed to `POST /v1/relay/usage`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageBatch {
    /// Idempotency key: the gateway applies a batch id once.
    pub batch_id: String,
    /// The counts.
    pub items: Vec<UsageItem>,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS directory (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key))",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_pending (domain TEXT NOT NULL, day TEXT NOT NULL, messages INTEGER NOT NULL, bytes INTEGER NOT NULL, storage_bytes INTEGER NOT NULL, PRIMARY KEY (domain, day))",
    "CREATE TABLE IF NOT EXISTS usage_batches (batch_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL)",
];

fn text(value: impl Into<String>) -> Value {
    Value::Text {
        value: value.into(),
    }
}

fn int(value: i64) -> Value {
    Value::Integer { value }
}

impl State {
    /// Opens (and creates) the database at a `file:` URL.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let path = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("file:"))
            .with_context(|| format!("state_db {url:?} must be a file: URL"))?;
        if let Some(parent) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let config = Config::new(format!("file://{path}").as_str())?;
        let db = SyncClient::from_config(config).with_context(|| format!("opening {url}"))?;
        db.batch(SCHEMA.iter().copied())
            .context("creating the state schema")?;
        Ok(State { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, SyncClient> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn meta(&self, key: &str) -> anyhow::Result<Option<i64>> {
        let rows = self.db().execute(Statement::with_args(
            "SELECT value FROM meta WHERE key = ?",
            &[text(key)],
        ))?;
        rows.rows.first().map(|r| r.try_get::<i64>(0)).transpose()
    }

    /// The stored replica and when it was last synced (seconds since the epoch).
    pub fn load_directory(&self) -> anyhow::Result<(Directory, Option<i64>)> {
        let version = self.meta("directory_version")?.unwrap_or(0);
        let synced_at = self.meta("synced_at")?;
        let rows = self.db().execute("SELECT kind, body FROM directory")?;
        let mut snapshot = DirectoryDelta {
            version: u64::try_from(version).unwrap_or(0),
            full: true,
            ..DirectoryDelta::default()
        };
        for row in &rows.rows {
            let kind: &str = row.try_get(0)?;
            let body: &str = row.try_get(1)?;
            match kind {
                "domain" => snapshot.domains.push(serde_json::from_str(body)?),
                "mailbox" => snapshot.mailboxes.push(serde_json::from_str(body)?),
                "alias" => snapshot.aliases.push(serde_json::from_str(body)?),
                other => anyhow::bail!("unknown directory row kind {other:?}"),
            }
        }
        let mut directory = Directory::default();
        directory.apply(snapshot)?;
        Ok((directory, synced_at))
    }

    /// Persists a delta that the in-memory replica accepted, and the sync time.
    pub fn store_delta(&self, delta: &DirectoryDelta, synced_at: i64) -> anyhow::Result<()> {
        let mut statements = Vec::new();
        if delta.full {
            statements.push(Statement::new("DELETE FROM directory"));
        }
        let mut row = |kind: &str, key: &str, deleted: bool, body: String| {
            statements.push(if deleted {
                Statement::with_args("DELETE FROM directory WHERE kind = ? AND key = ?", &[text(kind), text(key)])
            } else {
                Statement::with_args(
                    "INSERT INTO directory (kind, key, body) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                    &[text(kind), text(key), text(body)],
                )
            });
        };
        for d in &delta.domains {
            row("domain", &d.domain, d.deleted, serde_json::to_string(d)?);
        }
        for m in &delta.mailboxes {
            row("mailbox", &m.address, m.deleted, serde_json::to_string(m)?);
        }
        for a in &delta.aliases {
            row("alias", &a.address, a.deleted, serde_json::to_string(a)?);
        }
        let version = i64::try_from(delta.version).context("directory version overflows")?;
        statements.push(Self::set_meta("directory_version", version));
        statements.push(Self::set_meta("synced_at", synced_at));
        self.db()
            .batch(statements)
            .context("storing the directory delta")?;
        Ok(())
    }

    fn set_meta(key: &str, value: i64) -> Statement {
        Statement::with_args(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[text(key), int(value)],
        )
    }

    /// Adds counted usage to the outbox.
    pub fn add_usage(&self, items: &[UsageItem]) -> anyhow::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let statements = items.iter().map(|item| {
            Statement::with_args(
                "INSERT INTO usage_pending (domain, day, messages, bytes, storage_bytes) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (domain, day) DO UPDATE SET messages = messages + excluded.messages, \
                 bytes = bytes + excluded.bytes, storage_bytes = excluded.storage_bytes",
                &[text(&item.domain), text(&item.day), int(item.messages), int(item.bytes), int(item.storage_bytes)],
            )
        });
        self.db()
            .batch(statements)
            .context("adding usage to the outbox")?;
        Ok(())
    }

    /// The oldest unacknowledged batch, sealing the pending usage into a new batch when
    /// none is waiting. The same batch id is offered until it is acknowledged.
    pub fn next_batch(&self, new_batch_id: &str, now: i64) -> anyhow::Result<Option<UsageBatch>> {
        let waiting = self
            .db()
            .execute("SELECT body FROM usage_batches ORDER BY created_at, batch_id LIMIT 1")?;
        if let Some(row) = waiting.rows.first() {
            return Ok(Some(serde_json::from_str(row.try_get::<&str>(0)?)?));
        }
        let pending = self.db().execute("SELECT domain, day, messages, bytes, storage_bytes FROM usage_pending ORDER BY day, domain")
            ?;
        if pending.rows.is_empty() {
            return Ok(None);
        }
        let items = pending
            .rows
            .iter()
            .map(|r| {
                Ok(UsageItem {
                    domain: r.try_get::<&str>(0)?.to_string(),
                    day: r.try_get::<&str>(1)?.to_string(),
                    messages: r.try_get(2)?,
                    bytes: r.try_get(3)?,
                    storage_bytes: r.try_get(4)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let batch = UsageBatch {
            batch_id: new_batch_id.to_string(),
            items,
        };
        self.db()
            .batch([
                Statement::with_args(
                    "INSERT INTO usage_batches (batch_id, body, created_at) VALUES (?, ?, ?)",
                    &[
                        text(&batch.batch_id),
                        text(serde_json::to_string(&batch)?),
                        int(now),
                    ],
                ),
                Statement::new("DELETE FROM usage_pending"),
            ])
            .context("sealing a usage batch")?;
        Ok(Some(batch))
    }

    /// Forgets a batch the gateway acknowledged.
    pub fn acknowledge_batch(&self, batch_id: &str) -> anyhow::Result<()> {
        self.db().execute(Statement::with_args(
            "DELETE FROM usage_batches WHERE batch_id = ?",
            &[text(batch_id)],
        ))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_core::limits::Limit;
    use tenantry_core::mail::{DomainEntry, DomainStatus};

    fn state(name: &str) -> State {
        let dir = std::env::temp_dir().join(format!("relay-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        State::open(&format!("file:{}", dir.join("state.db").display())).unwrap()
    }

    #[test]
    fn directory_survives_a_reopen() {
        let state = state("dir");
        let delta = DirectoryDelta {
            version: 4,
            full: true,
            domains: vec![DomainEntry {
                tenant_id: "t".into(),
                domain: "a.example".into(),
                status: DomainStatus::Active,
                max_mailboxes: Limit::Max(3),
                max_storage_mb: Limit::Max(10),
                version: 4,
                deleted: false,
            }],
            ..Default::default()
        };
        state.store_delta(&delta, 1000).unwrap();
        let (directory, synced) = state.load_directory().unwrap();
        assert_eq!((directory.version(), synced), (4, Some(1000)));
        assert!(directory.domain("a.example").is_some());
        let mut tombstone = delta.clone();
        tombstone.full = false;
        tombstone.version = 5;
        tombstone.domains[0].deleted = true;
        state.store_delta(&tombstone, 1001).unwrap();
        let (directory, _) = state.load_directory().unwrap();
        assert!(directory.domain("a.example").is_none());
    }

    #[test]
    fn usage_batches_are_offered_until_acknowledged() {
        let state = state("usage");
        assert_eq!(state.next_batch("b0", 1).unwrap(), None);
        let item = |messages| UsageItem {
            domain: "a.example".into(),
            day: "2026-11-23".into(),
            messages,
            bytes: 10 * messages,
            storage_bytes: 99,
        };
        state.add_usage(&[item(1)]).unwrap();
        state.add_usage(&[item(2)]).unwrap();
        let batch = state.next_batch("b1", 2).unwrap().unwrap();
        assert_eq!(batch.batch_id, "b1");
        assert_eq!(batch.items, vec![item(3)]);
        state.add_usage(&[item(5)]).unwrap();
        let again = state.next_batch("b2", 3).unwrap().unwrap();
        assert_eq!(
            again.batch_id, "b1",
            "an unacknowledged batch is offered again"
        );
        state.acknowledge_batch("b1").unwrap();
        let next = state.next_batch("b3", 4).unwrap().unwrap();
        assert_eq!((next.batch_id.as_str(), next.items[0].messages), ("b3", 5));
    }
}
