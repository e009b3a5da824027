//! The platform's outbox, drained by relays: `GET /v1/relay/outbox` claims up to a
//! batch of pending messages with a lease (`tenantry_core::notify::OUTBOX_LEASE_SECS`),
//! `POST /v1/relay/outbox/ack` records what became of each. A key limited to some
//! tenants sees only their messages; the platform's own (no tenant) need a key for every
//! tenant. A message whose claim lapsed is offered again, so delivery is at least once.
//! A message's content (its links carry live tokens) is erased once it is delivered or
//! given up; one older than `OUTBOX_MAX_AGE_SECS` is given up when a relay next claims.

use crate::{Ctx, scope_filter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::auth::RelayScope;
use tenantry_core::notify::{
    Delivery, DeliveryReport, MAX_OUTBOX_BATCH, OUTBOX_LEASE_SECS, OUTBOX_MAX_AGE_SECS,
};
use tenantry_core::page::PageRequest;
use tenantry_edge::db::{PlatformDb, int, opt_text, text};
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::{Outcome, http, internal, new_id};
use worker::{Request, Response};

#[derive(Serialize, Deserialize)]
struct Claimed {
    id: String,
    tenant_id: Option<String>,
    template: String,
    recipient: String,
    message: String,
    attempts: i64,
}

/// `GET /v1/relay/outbox?limit=N`.
pub async fn claim(req: &Request, ctx: &Ctx, scope: &RelayScope) -> Outcome<Response> {
    let url = req.url().map_err(internal)?;
    let limit = PageRequest::parse(http::query_param(&url, "limit").as_deref(), None, 1)?
        .limit
        .min(MAX_OUTBOX_BATCH);
    // A scoped key's filter leaves out the platform's own messages (tenant_id NULL).
    let (filter, scope_arg) = scope_filter(scope, 5)?;
    let platform = PlatformDb(&ctx.db);
    platform
        .batch(vec![platform.statement(
            "UPDATE outbound_messages SET failed_at = ?1, claimed_until = NULL, message = '', last_error = 'expired undelivered' \
             WHERE id IN (SELECT id FROM outbound_messages WHERE sent_at IS NULL AND failed_at IS NULL AND created_at < ?2 LIMIT 100)",
            &[int(ctx.now), int(ctx.now - OUTBOX_MAX_AGE_SECS)],
        )?])
        .await?;
    let claim_id = new_id("clm");
    let mut args = vec![
        text(&claim_id),
        int(ctx.now + OUTBOX_LEASE_SECS),
        int(ctx.now),
        int(limit as i64),
    ];
    args.extend(scope_arg);
    let messages: Vec<Claimed> = platform
        .all(
            &format!(
                "UPDATE outbound_messages SET claim_id = ?1, claimed_until = ?2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbound_messages WHERE sent_at IS NULL AND failed_at IS NULL \
                 AND (claimed_until IS NULL OR claimed_until <= ?3){filter} ORDER BY created_at, id LIMIT ?4) \
                 RETURNING id, tenant_id, template, recipient, message, attempts"
            ),
            &args,
        )
        .await?;
    json(
        200,
        &json!({"claim_id": claim_id, "lease_seconds": OUTBOX_LEASE_SECS, "messages": messages}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    claim_id: String,
    results: Vec<DeliveryReport>,
}

/// `POST /v1/relay/outbox/ack {claim_id, results: [{id, outcome, ...}]}`: only messages
/// of that claim, still held by it, change; the others are listed as `stale`.
pub async fn ack(req: &mut Request, ctx: &Ctx, scope: &RelayScope) -> Outcome<Response> {
    let body: Ack = read_json(req).await?;
    tenantry_core::ids::check(&body.claim_id, "clm")?;
    if body.results.len() > MAX_OUTBOX_BATCH {
        return Err(invalid(
            "results",
            format!("at most {MAX_OUTBOX_BATCH} per acknowledgement"),
        ));
    }
    let platform = PlatformDb(&ctx.db);
    let (filter, scope_arg) = scope_filter(scope, 5)?;
    let statements = body
        .results
        .iter()
        .map(|r| {
            let (sql, extra) = match &r.delivery {
                Delivery::Delivered => (
                    "UPDATE outbound_messages SET sent_at = ?3, claimed_until = NULL, message = '', last_error = ?4",
                    None,
                ),
                Delivery::Deferred { detail, .. } => (
                    "UPDATE outbound_messages SET claimed_until = ?3, last_error = ?4",
                    detail.as_deref(),
                ),
                Delivery::Failed { detail } => (
                    "UPDATE outbound_messages SET failed_at = ?3, claimed_until = NULL, message = '', last_error = ?4",
                    Some(detail.as_str()),
                ),
            };
            let sql = format!("{sql} WHERE id = ?1 AND claim_id = ?2 AND sent_at IS NULL AND failed_at IS NULL{filter}");
            let at = r.delivery.retry_at(ctx.now).unwrap_or(ctx.now);
            let kept: Option<String> = extra.map(|d| d.chars().take(500).collect());
            let mut args = vec![text(&r.id), text(&body.claim_id), int(at), opt_text(kept.as_deref())];
            args.extend(scope_arg.clone());
            platform.statement(&sql, &args)
        })
        .collect::<Outcome<Vec<_>>>()?;
    let changed = if statements.is_empty() {
        Vec::new()
    } else {
        platform.batch(statements).await?
    };
    let stale: Vec<&str> = body
        .results
        .iter()
        .zip(&changed)
        .filter(|(_, n)| **n == 0)
        .map(|(r, _)| r.id.as_str())
        .collect();
    json(
        200,
        &json!({"acknowledged": changed.iter().filter(|n| **n > 0).count(), "stale": stale}),
    )
}
