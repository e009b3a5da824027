//! Talking to the gateway: pulling directory deltas and pushing usage batches, both
//! with the relay's API key.

use crate::clock;
use crate::relay::Relay;
use crate::state::State;
use anyhow::{Context, bail};
use std::sync::Arc;
use std::time::Duration;
use tenantry_core::mail::health::{CertificateExpiry, RelayReport};
use tenantry_core::mail::{ApplySummary, DirectoryDelta};
use tracing::{info, warn};

/// One page of `GET /v1/relay/directory`.
#[derive(serde::Deserialize)]
struct DirectoryPage {
    #[serde(flatten)]
    delta: DirectoryDelta,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// An HTTP client for the gateway's relay API.
pub struct Gateway {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) api_key: String,
}

impl Gateway {
    /// A client for `base` (the gateway URL).
    pub fn new(base: &str, api_key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("tenantry-relay/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Gateway {
            http,
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
        })
    }

    /// `GET {base}{path}` with the relay key (see [`Gateway::send`]).
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        self.send("GET", self.http.get(&url), &url).await
    }

    /// `POST {base}{path}` of `body` as JSON with the relay key (see [`Gateway::send`]).
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        self.send("POST", self.http.post(&url).json(body), &url)
            .await
    }

    /// The response when it is a success; else an error naming the request, its status and
    /// the start of its body (a problem's detail says why).
    async fn send(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let response = request
            .bearer_auth(&self.api_key)
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!(
                "{method} {url}: {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        Ok(response)
    }

    /// The delta since `since`, following `next_cursor` across pages and merging them.
    async fn directory(&self, since: u64) -> anyhow::Result<DirectoryDelta> {
        let mut merged: Option<DirectoryDelta> = None;
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/relay/directory?since={since}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let response = self.get(&path).await?;
            let page: DirectoryPage = response
                .json()
                .await
                .context("reading the directory delta")?;
            match &mut merged {
                None => merged = Some(page.delta),
                Some(delta) => delta
                    .merge_page(page.delta)
                    .context("merging a directory page")?,
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(merged.unwrap_or_default()),
            }
        }
    }

    async fn push_usage(&self, batch: &crate::state::UsageBatch) -> anyhow::Result<()> {
        let response = self.post("/v1/relay/usage", batch).await?;
        // Items for domains this key does not serve (deleted since, or never ours) are
        // refused by the gateway and can never apply: say so, and let the batch go.
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if let Some(refused) = answer["refused"].as_array().filter(|r| !r.is_empty()) {
            warn!(batch_id = %batch.batch_id, refused = %serde_json::Value::Array(refused.clone()), "usage items refused by the gateway");
        }
        Ok(())
    }
}

/// Pulls once: applies the delta to a copy of the replica, persists it, then swaps it in.
pub async fn sync_once(
    relay: &Relay,
    state: &State,
    gateway: &Gateway,
) -> anyhow::Result<ApplySummary> {
    let summary = pull_once(relay, state, gateway).await?;
    if summary.full {
        // A snapshot spread over pages leaves out rows changed while it was paged (they
        // moved past its version): the delta right after it brings them.
        let after = pull_once(relay, state, gateway).await?;
        return Ok(ApplySummary {
            upserted: summary.upserted + after.upserted,
            removed: summary.removed + after.removed,
            ..summary
        });
    }
    Ok(summary)
}

async fn pull_once(
    relay: &Relay,
    state: &State,
    gateway: &Gateway,
) -> anyhow::Result<ApplySummary> {
    let current = relay.directory();
    let delta = gateway.directory(current.version()).await?;
    let now = clock::now_secs();
    let mut next = (*current).clone();
    let summary = next
        .apply(delta.clone())
        .context("applying the directory delta")?;
    state.store_delta(&delta, now).await?;
    if summary.upserted + summary.removed > 0 || summary.full || next.version() != current.version()
    {
        relay.set_directory(next, now);
    } else {
        relay.mark_synced(now);
    }
    Ok(summary)
}

/// Moves counted usage into the outbox and pushes what is waiting; a batch stays in
/// the outbox until the gateway acknowledges it.
pub async fn push_usage_once(
    relay: &Relay,
    state: &State,
    gateway: &Gateway,
) -> anyhow::Result<usize> {
    state.add_usage(&relay.take_usage()).await?;
    let mut pushed = 0;
    loop {
        let now = clock::now_secs();
        // 128 random bits: two relays (or two containers, each pid 1) never collide.
        let batch_id = crate::ids::random_id();
        let Some(batch) = state.next_batch(&batch_id, now).await? else {
            return Ok(pushed);
        };
        gateway.push_usage(&batch).await?;
        state.acknowledge_batch(&batch.batch_id).await?;
        info!(batch_id = %batch.batch_id, items = batch.items.len(), "usage pushed");
        pushed += 1;
    }
}

/// Reports the app passwords used since the last report (a batch of no usage items);
/// what cannot be reported is kept for the next time.
pub async fn push_app_password_use(relay: &Relay, gateway: &Gateway) -> anyhow::Result<()> {
    let used = relay.authenticator.take_used();
    if used.is_empty() {
        return Ok(());
    }
    let batch = serde_json::json!({
        "batch_id": crate::ids::random_id(),
        "items": [],
        "app_passwords_used": used.iter().map(|(id, at)| serde_json::json!({"id": id, "at": at})).collect::<Vec<_>>(),
    });
    if let Err(error) = gateway.post("/v1/relay/usage", &batch).await {
        relay.authenticator.restore_used(used);
        return Err(error);
    }
    Ok(())
}

/// The relay's state as the operator's relay page shows it (core `mail::health`).
pub fn health_report(relay: &Relay) -> RelayReport {
    let synced_at = relay.metrics.replica_synced_at.get();
    let certificates = relay
        .metrics
        .certificate_expiry()
        .into_iter()
        .map(|(domain, not_after)| CertificateExpiry { domain, not_after })
        .collect();
    RelayReport::new(
        relay.config.hostname.clone(),
        (synced_at > 0).then_some(synced_at),
        relay.directory().version(),
        (relay.queue.depth() as u64, relay.queue.oldest()),
        certificates,
    )
}

/// Reports [`health_report`] to the gateway (`POST /v1/relay/health`).
pub async fn push_health(relay: &Relay, gateway: &Gateway) -> anyhow::Result<()> {
    gateway
        .post("/v1/relay/health", &health_report(relay))
        .await?;
    Ok(())
}

/// The background loops: directory sync, usage push and the platform's outbox.
pub fn spawn_background(relay: Arc<Relay>, state: Arc<State>, gateway: Arc<Gateway>) {
    let (r, g) = (relay.clone(), gateway.clone());
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(Duration::from_secs(r.config.sync_interval_secs.max(1)));
        loop {
            tick.tick().await;
            // Only with a replica: the recipient policy needs the directory.
            if r.replica_age(clock::now_secs()).is_none() {
                continue;
            }
            if let Err(error) = crate::outbox::drain_once(&r, &g).await {
                warn!(
                    error = format!("{error:#}"),
                    "outbox drain failed; unacknowledged messages return after their lease"
                );
            }
        }
    });
    let (r, g) = (relay.clone(), gateway.clone());
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(Duration::from_secs(r.config.proof_interval_secs.max(1)));
        loop {
            tick.tick().await;
            if let Err(error) = crate::proofs::check_once(&r, &g).await {
                warn!(
                    error = format!("{error:#}"),
                    "domain proof round failed; the names stay due"
                );
            }
        }
    });
    let (r, s, g) = (relay.clone(), state.clone(), gateway.clone());
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(Duration::from_secs(r.config.sync_interval_secs.max(1)));
        loop {
            tick.tick().await;
            if let Some(peers) = &r.peers {
                match peers.reload_if_changed() {
                    Ok(true) => info!("CRLs reloaded"),
                    Ok(false) => {}
                    Err(error) => warn!(
                        error = format!("{error:#}"),
                        "CRLs not reloaded; the previous ones stay in force"
                    ),
                }
            }
            let synced = sync_once(&r, &s, &g).await;
            let changed = synced
                .as_ref()
                .is_ok_and(|summary| summary.upserted + summary.removed > 0 || summary.full);
            if changed
                || r.dovecot_refresh_pending
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                crate::certificates::refresh(&r);
            }
            match synced {
                Ok(summary) if summary.upserted + summary.removed > 0 || summary.full => {
                    info!(
                        version = r.directory().version(),
                        upserted = summary.upserted,
                        removed = summary.removed,
                        full = summary.full,
                        "directory synced"
                    );
                }
                Ok(_) => {}
                Err(error) => warn!(
                    error = format!("{error:#}"),
                    "directory sync failed; keeping the replica"
                ),
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(
            relay.config.usage_push_interval_secs.max(1),
        ));
        loop {
            tick.tick().await;
            if let Err(error) = push_app_password_use(&relay, &gateway).await {
                warn!(
                    error = format!("{error:#}"),
                    "app password use report failed; kept for the next push"
                );
            }
            if let Err(error) = push_usage_once(&relay, &state, &gateway).await {
                warn!(
                    error = format!("{error:#}"),
                    "usage push failed; it stays in the outbox"
                );
            }
            if let Err(error) = push_health(&relay, &gateway).await {
                warn!(
                    error = format!("{error:#}"),
                    "health report failed; the next push sends a fresh one"
                );
            }
        }
    });
}
