//! The relay's durable state in a libSQL database: the directory replica and the usage
//! outbox.
//!
//! The replica is stored row by row (`kind`, `key`, JSON body) with its version and the
//! time of the last successful sync, so a restarted relay decides recipients at once,
//! from what it last knew, for as long as that is fresh enough. The outbox holds usage
//! counted per domain and day until the gateway acknowledges the batch that carries it.
//!
//! The database is an embedded file (`file:` URL, the default) or a libSQL server
//! (`libsql://`, `https://` or `http://`, spoken to with Hrana-over-HTTP pipelines).

use anyhow::{Context, bail};
use libsql_client::proto::{Stmt, pipeline};
use libsql_client::{Config, ResultSet, Statement, SyncClient, Value};
use serde_json::json;
use std::sync::Mutex;
use tenantry_core::mail::{Directory, DirectoryDelta};
use tracing::info;

/// The database.
pub struct State {
    db: Db,
}

enum Db {
    /// The local libSQL connection is synchronous and not `Sync`: calls are short and
    /// serialised by the mutex.
    Local(Box<Mutex<SyncClient>>),
    Remote(Remote),
}

/// A libSQL server reached over HTTP.
struct Remote {
    http: libsql_client::http::InnerClient,
    pipeline_url: String,
    authorization: String,
}

impl Remote {
    fn new(url: &str, auth_token: Option<&str>) -> anyhow::Result<Self> {
        let base = match url.strip_prefix("libsql://") {
            Some(rest) => format!("https://{rest}"),
            None => url.to_string(),
        };
        let parsed =
            reqwest::Url::parse(&base).with_context(|| format!("state_db {url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            bail!("state_db {url:?} must be a file:, libsql://, https:// or http:// URL");
        }
        Ok(Remote {
            http: libsql_client::http::InnerClient::Reqwest(
                libsql_client::reqwest::HttpClient::new(),
            ),
            pipeline_url: format!("{}/v2/pipeline", base.trim_end_matches('/')),
            authorization: format!("Bearer {}", auth_token.unwrap_or_default()),
        })
    }

    /// Runs statements in one Hrana batch and returns each one's rows. With
    /// `transaction`, they run between BEGIN and COMMIT, each only if the previous one
    /// succeeded, and a failure rolls everything back.
    async fn run(&self, statements: Vec<Sql>, transaction: bool) -> anyhow::Result<Vec<ResultSet>> {
        // The steps are written as JSON because hrana-client-proto 0.2 serialises batch
        // conditions in a form the Hrana spec (and sqld) does not accept.
        let count = statements.len();
        let offset = usize::from(transaction);
        let ok = |step: usize| json!({"type": "ok", "step": step});
        let mut steps = Vec::with_capacity(count + 3);
        if transaction {
            steps.push(json!({"stmt": Stmt::new("BEGIN", false)}));
        }
        for (index, statement) in statements.into_iter().enumerate() {
            let condition = if transaction {
                ok(index)
            } else {
                serde_json::Value::Null
            };
            steps.push(json!({"condition": condition, "stmt": statement.hrana()}));
        }
        if transaction {
            steps.push(json!({"condition": ok(count), "stmt": Stmt::new("COMMIT", false)}));
            steps.push(json!({
                "condition": {"type": "not", "cond": ok(count + 1)},
                "stmt": Stmt::new("ROLLBACK", false),
            }));
        }
        let message = json!({
            "baton": null,
            "requests": [{"type": "batch", "batch": {"steps": steps}}, {"type": "close"}],
        });
        let body = serde_json::to_string(&message)?;
        let mut answer = self
            .http
            .send(self.pipeline_url.clone(), self.authorization.clone(), body)
            .await
            .with_context(|| format!("state_db {}", self.pipeline_url))?;
        if answer.results.is_empty() {
            bail!("state_db: the server answered no result");
        }
        let result = match answer.results.swap_remove(0) {
            pipeline::Response::Ok(pipeline::StreamResponseOk {
                response: pipeline::StreamResponse::Batch(batch),
            }) => batch.result,
            pipeline::Response::Error(error) => bail!("state_db: {}", error.error.message),
            other => bail!("state_db: unexpected answer {other:?}"),
        };
        if let Some(error) = result.step_errors.iter().flatten().next() {
            bail!("state_db: {}", error.message);
        }
        let ran: Vec<_> = result
            .step_results
            .into_iter()
            .skip(offset)
            .take(count)
            .flatten()
            .map(ResultSet::from)
            .collect();
        if ran.len() != count {
            bail!(
                "state_db: {} of {count} statements of the batch ran",
                ran.len()
            );
        }
        Ok(ran)
    }
}

/// A statement either backend can run.
struct Sql {
    text: &'static str,
    args: Vec<Value>,
}

fn sql(text: &'static str, args: Vec<Value>) -> Sql {
    Sql { text, args }
}

impl Sql {
    fn local(self) -> Statement {
        Statement::with_args(self.text, &self.args)
    }

    fn hrana(self) -> Stmt {
        let mut hrana = Stmt::new(self.text, true);
        for arg in self.args {
            hrana.bind(arg);
        }
        hrana
    }
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
    /// Opens (and creates) the database: a `file:` URL, or a libSQL server's URL with
    /// its auth token.
    pub async fn open(url: &str, auth_token: Option<&str>) -> anyhow::Result<Self> {
        let db = match url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("file:"))
        {
            Some(path) => {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let config = Config::new(format!("file://{path}").as_str())?;
                let client =
                    SyncClient::from_config(config).with_context(|| format!("opening {url}"))?;
                Db::Local(Box::new(Mutex::new(client)))
            }
            None => Db::Remote(Remote::new(url, auth_token)?),
        };
        let state = State { db };
        state
            .batch(SCHEMA.iter().map(|text| sql(text, vec![])).collect())
            .await
            .context("creating the state schema")?;
        if let Db::Remote(remote) = &state.db {
            info!(url = %remote.pipeline_url, "state on a libSQL server");
        }
        Ok(state)
    }

    /// One statement's rows.
    async fn query(&self, statement: Sql) -> anyhow::Result<ResultSet> {
        match &self.db {
            Db::Local(client) => Ok(lock(client).execute(statement.local())?),
            Db::Remote(remote) => Ok(remote.run(vec![statement], false).await?.remove(0)),
        }
    }

    /// Statements that apply together or not at all.
    async fn batch(&self, statements: Vec<Sql>) -> anyhow::Result<()> {
        match &self.db {
            Db::Local(client) => {
                lock(client).batch(statements.into_iter().map(Sql::local))?;
            }
            Db::Remote(remote) => {
                remote.run(statements, true).await?;
            }
        }
        Ok(())
    }

    async fn meta(&self, key: &str) -> anyhow::Result<Option<i64>> {
        let rows = self
            .query(sql("SELECT value FROM meta WHERE key = ?", vec![text(key)]))
            .await?;
        rows.rows.first().map(|r| r.try_get::<i64>(0)).transpose()
    }

    /// The stored replica and when it was last synced (seconds since the epoch).
    pub async fn load_directory(&self) -> anyhow::Result<(Directory, Option<i64>)> {
        let version = self.meta("directory_version").await?.unwrap_or(0);
        let synced_at = self.meta("synced_at").await?;
        let rows = self
            .query(sql("SELECT kind, body FROM directory", vec![]))
            .await?;
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
                "credential" => snapshot.credentials.push(serde_json::from_str(body)?),
                "dkim" => snapshot.dkim.push(serde_json::from_str(body)?),
                other => anyhow::bail!("unknown directory row kind {other:?}"),
            }
        }
        let mut directory = Directory::default();
        directory.apply(snapshot)?;
        Ok((directory, synced_at))
    }

    /// Persists a delta that the in-memory replica accepted, and the sync time.
    pub async fn store_delta(&self, delta: &DirectoryDelta, synced_at: i64) -> anyhow::Result<()> {
        let mut statements = Vec::new();
        if delta.full {
            statements.push(sql("DELETE FROM directory", vec![]));
        }
        let mut row = |kind: &str, key: &str, deleted: bool, body: String| {
            statements.push(if deleted {
                sql("DELETE FROM directory WHERE kind = ? AND key = ?", vec![text(kind), text(key)])
            } else {
                sql(
                    "INSERT INTO directory (kind, key, body) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                    vec![text(kind), text(key), text(body)],
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
        for c in &delta.credentials {
            row("credential", &c.id, c.deleted, serde_json::to_string(c)?);
        }
        for k in &delta.dkim {
            // Sealed for the relay: the replica never holds a key in the clear.
            row("dkim", &k.id, k.deleted, serde_json::to_string(k)?);
        }
        let version = i64::try_from(delta.version).context("directory version overflows")?;
        statements.push(set_meta("directory_version", version));
        statements.push(set_meta("synced_at", synced_at));
        self.batch(statements)
            .await
            .context("storing the directory delta")
    }

    /// Adds counted usage to the outbox.
    pub async fn add_usage(&self, items: &[UsageItem]) -> anyhow::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let statements = items
            .iter()
            .map(|item| {
                sql(
                    "INSERT INTO usage_pending (domain, day, messages, bytes, storage_bytes) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (domain, day) DO UPDATE SET messages = messages + excluded.messages, \
                     bytes = bytes + excluded.bytes, storage_bytes = excluded.storage_bytes",
                    vec![text(&item.domain), text(&item.day), int(item.messages), int(item.bytes), int(item.storage_bytes)],
                )
            })
            .collect();
        self.batch(statements)
            .await
            .context("adding usage to the outbox")
    }

    /// The oldest unacknowledged batch, sealing the pending usage into a new batch when
    /// none is waiting. The same batch id is offered until it is acknowledged.
    pub async fn next_batch(
        &self,
        new_batch_id: &str,
        now: i64,
    ) -> anyhow::Result<Option<UsageBatch>> {
        let waiting = self
            .query(sql(
                "SELECT body FROM usage_batches ORDER BY created_at, batch_id LIMIT 1",
                vec![],
            ))
            .await?;
        if let Some(row) = waiting.rows.first() {
            return Ok(Some(serde_json::from_str(row.try_get::<&str>(0)?)?));
        }
        let pending = self
            .query(sql("SELECT domain, day, messages, bytes, storage_bytes FROM usage_pending ORDER BY day, domain", vec![]))
            .await?;
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
        // What was read is subtracted, not deleted: usage added since the read (by
        // another relay sharing a remote state database) stays pending.
        let mut statements = vec![sql(
            "INSERT INTO usage_batches (batch_id, body, created_at) VALUES (?, ?, ?)",
            vec![
                text(&batch.batch_id),
                text(serde_json::to_string(&batch)?),
                int(now),
            ],
        )];
        for item in &batch.items {
            statements.push(sql(
                "UPDATE usage_pending SET messages = messages - ?, bytes = bytes - ? WHERE domain = ? AND day = ?",
                vec![int(item.messages), int(item.bytes), text(&item.domain), text(&item.day)],
            ));
        }
        statements.push(sql(
            "DELETE FROM usage_pending WHERE messages <= 0 AND bytes <= 0",
            vec![],
        ));
        self.batch(statements)
            .await
            .context("sealing a usage batch")?;
        Ok(Some(batch))
    }

    /// Forgets a batch the gateway acknowledged.
    pub async fn acknowledge_batch(&self, batch_id: &str) -> anyhow::Result<()> {
        self.query(sql(
            "DELETE FROM usage_batches WHERE batch_id = ?",
            vec![text(batch_id)],
        ))
        .await?;
        Ok(())
    }
}

fn lock(client: &Mutex<SyncClient>) -> std::sync::MutexGuard<'_, SyncClient> {
    client
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_meta(key: &str, value: i64) -> Sql {
    sql(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        vec![text(key), int(value)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_core::limits::Limit;
    use tenantry_core::mail::{DomainEntry, DomainStatus};

    async fn state(name: &str) -> State {
        let dir = std::env::temp_dir().join(format!("relay-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        State::open(&format!("file:{}", dir.join("state.db").display()), None)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn directory_survives_a_reopen() {
        let state = state("dir").await;
        let delta = DirectoryDelta {
            version: 4,
            full: true,
            domains: vec![DomainEntry {
                tenant_id: "t".into(),
                domain: "a.example".into(),
                status: DomainStatus::Active,
                max_mailboxes: Limit::Max(3),
                max_storage_mb: Limit::Max(10),
                sending: Default::default(),
                dmarc_handling: Default::default(),
                spam: Default::default(),
                version: 4,
                deleted: false,
            }],
            ..Default::default()
        };
        state.store_delta(&delta, 1000).await.unwrap();
        let (directory, synced) = state.load_directory().await.unwrap();
        assert_eq!((directory.version(), synced), (4, Some(1000)));
        assert!(directory.domain("a.example").is_some());
        let mut tombstone = delta.clone();
        tombstone.full = false;
        tombstone.version = 5;
        tombstone.domains[0].deleted = true;
        state.store_delta(&tombstone, 1001).await.unwrap();
        let (directory, _) = state.load_directory().await.unwrap();
        assert!(directory.domain("a.example").is_none());
    }

    #[tokio::test]
    async fn usage_batches_are_offered_until_acknowledged() {
        let state = state("usage").await;
        assert_eq!(state.next_batch("b0", 1).await.unwrap(), None);
        let item = |messages| UsageItem {
            domain: "a.example".into(),
            day: "2026-11-23".into(),
            messages,
            bytes: 10 * messages,
            storage_bytes: 99,
        };
        state.add_usage(&[item(1)]).await.unwrap();
        state.add_usage(&[item(2)]).await.unwrap();
        let batch = state.next_batch("b1", 2).await.unwrap().unwrap();
        assert_eq!(batch.batch_id, "b1");
        assert_eq!(batch.items, vec![item(3)]);
        state.add_usage(&[item(5)]).await.unwrap();
        let again = state.next_batch("b2", 3).await.unwrap().unwrap();
        assert_eq!(
            again.batch_id, "b1",
            "an unacknowledged batch is offered again"
        );
        state.acknowledge_batch("b1").await.unwrap();
        let next = state.next_batch("b3", 4).await.unwrap().unwrap();
        assert_eq!((next.batch_id.as_str(), next.items[0].messages), ("b3", 5));
    }
}
