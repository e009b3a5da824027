//! `POST /v1/relay/health`: a relay's report of itself (core `mail::health`), kept per
//! relay key and hostname for the operator's relay page (`GET /v1/admin/relays`).

use crate::Ctx;
use serde_json::json;
use tenantry_core::mail::health::RelayReport;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{PlatformDb, int, opt_int, text};
use tenantry_edge::http::{json, read_json};
use tenantry_edge::{Outcome, internal};
use worker::{Request, Response};

/// Relays that may report under one key: a key leaked to a host that invents hostnames
/// still writes a bounded number of rows.
const MAX_HOSTS_PER_KEY: i64 = 20;

pub async fn report(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let report: RelayReport = read_json(req).await?;
    report.check()?;
    let certificates = serde_json::to_string(&report.certificates).map_err(internal)?;
    let platform = PlatformDb(&ctx.db);
    let written = platform
        .batch(vec![platform.statement(
            "INSERT INTO relay_health (relay_key_id, hostname, reported_at, synced_at, directory_version, queue_depth, oldest_queued_at, certificates) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             WHERE EXISTS (SELECT 1 FROM relay_health WHERE relay_key_id = ?1 AND hostname = ?2) \
                OR (SELECT COUNT(*) FROM relay_health WHERE relay_key_id = ?1) < ?9 \
             ON CONFLICT (relay_key_id, hostname) DO UPDATE SET reported_at = excluded.reported_at, \
             synced_at = excluded.synced_at, directory_version = excluded.directory_version, \
             queue_depth = excluded.queue_depth, oldest_queued_at = excluded.oldest_queued_at, \
             certificates = excluded.certificates",
            &[
                text(&ctx.subject),
                text(&report.hostname),
                int(ctx.now),
                opt_int(report.synced_at),
                int(report.directory_version as i64),
                int(report.queue_depth as i64),
                opt_int(report.oldest_queued_at),
                text(&certificates),
                int(MAX_HOSTS_PER_KEY),
            ],
        )?])
        .await?;
    if written.first().copied().unwrap_or(0) == 0 {
        return Err(Problem::new(
            ErrorCode::Conflict,
            format!(
                "at most {MAX_HOSTS_PER_KEY} relays report under one relay key; give this one its own key"
            ),
        ));
    }
    json(200, &json!({"reported_at": ctx.now}))
}
