//! `GET /v1/admin/relays` (superadmin): every live relay key with what each relay under it
//! last reported (`POST /v1/relay/health`), and the directory version relays should hold.

use crate::Ctx;
use serde::Deserialize;
use serde_json::json;
use tenantry_core::mail::health::CertificateExpiry;
use tenantry_edge::db::{PlatformDb, int};
use tenantry_edge::http::json;
use tenantry_edge::{Outcome, internal};
use worker::Response;

/// Rows one answer holds: 100 keys (as the key list pages) times a few relays each.
const MAX_ROWS: i64 = 500;

#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    hostname: Option<String>,
    reported_at: Option<i64>,
    synced_at: Option<i64>,
    directory_version: Option<i64>,
    queue_depth: Option<i64>,
    oldest_queued_at: Option<i64>,
    certificates: Option<String>,
}

pub async fn list(ctx: &Ctx) -> Outcome<Response> {
    let platform = PlatformDb(&ctx.db);
    let rows: Vec<Row> = platform
        .all(
            "SELECT k.id, k.name, h.hostname, h.reported_at, h.synced_at, h.directory_version, \
             h.queue_depth, h.oldest_queued_at, h.certificates \
             FROM relay_keys k LEFT JOIN relay_health h ON h.relay_key_id = k.id \
             WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?1) \
             ORDER BY k.created_at, k.id, h.hostname LIMIT ?2",
            &[int(ctx.now), int(MAX_ROWS)],
        )
        .await?;
    let current = tenantry_edge::directory::current_version(&ctx.db).await?;
    let relays = rows
        .into_iter()
        .map(|row| {
            let certificates: Vec<CertificateExpiry> = match &row.certificates {
                Some(stored) => serde_json::from_str(stored).map_err(internal)?,
                None => Vec::new(),
            };
            Ok(json!({
                "id": row.id, "name": row.name, "hostname": row.hostname,
                "reported_at": row.reported_at,
                "synced_at": row.synced_at, "directory_version": row.directory_version,
                "queue_depth": row.queue_depth, "oldest_queued_at": row.oldest_queued_at,
                "certificates": certificates,
            }))
        })
        .collect::<Outcome<Vec<_>>>()?;
    json(
        200,
        &json!({"relays": relays, "directory_version": current, "now": ctx.now}),
    )
}
