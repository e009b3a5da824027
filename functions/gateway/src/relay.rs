//! The relay's API (an API key with role `mail-relay`): the mail directory as versioned
//! deltas for every tenant, and idempotent usage batches. These read and write across
//! tenants on purpose: the relay is the MX of every tenant's domains.

use crate::Ctx;
use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::{Principal, PrincipalKind};
use tenantry_core::limits::Limit;
use tenantry_core::mail::{
    AliasEntry, DirectoryDelta, DomainEntry, DomainStatus, MailboxEntry, MailboxKind, MailboxStatus,
};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{PlatformDb, TenantDb, int, text};
use tenantry_edge::http::{invalid, json, not_found, read_json};
use tenantry_edge::{Outcome, internal};
use worker::{Method, Request, Response};

fn require_relay(principal: &Principal) -> Outcome<()> {
    let is_key = matches!(principal.kind, PrincipalKind::ApiKey { .. });
    let role = principal
        .home_tenant
        .as_deref()
        .and_then(|t| principal.role_in(t));
    if is_key && role == Some("mail-relay") {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::Forbidden,
            "missing permission relay:read (an API key with role mail-relay)",
        )
        .with("permission", "relay:read"))
    }
}

pub async fn route(
    mut req: Request,
    ctx: &Ctx,
    principal: &Principal,
    method: &Method,
    rest: &[String],
) -> Outcome<Response> {
    require_relay(principal)?;
    match (
        method,
        rest.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        (Method::Get, ["directory"]) => directory(&req, ctx).await,
        (Method::Post, ["usage"]) => usage(&mut req, ctx, principal).await,
        _ => Err(not_found("route")),
    }
}

#[derive(Deserialize)]
struct DomainRow {
    tenant_id: String,
    domain: String,
    status: String,
    max_mailboxes: f64,
    max_storage_mb: f64,
    version: f64,
    deleted: f64,
}
#[derive(Deserialize)]
struct MailboxRow {
    tenant_id: String,
    address: String,
    kind: String,
    status: String,
    quota_mb: f64,
    version: f64,
    deleted: f64,
}
#[derive(Deserialize)]
struct AliasRow {
    tenant_id: String,
    address: String,
    targets: String,
    version: f64,
    deleted: f64,
}

async fn directory(req: &Request, ctx: &Ctx) -> Outcome<Response> {
    let url = req.url().map_err(internal)?;
    let since = match url.query_pairs().find(|(k, _)| k == "since") {
        None => 0,
        Some((_, v)) => v.parse::<u64>().map_err(|_| {
            invalid(
                "since",
                "must be a directory version (a non-negative integer)",
            )
        })?,
    };
    let platform = PlatformDb(&ctx.db);
    #[derive(Deserialize)]
    struct Version {
        v: Option<f64>,
    }
    let version = platform
        .first::<Version>("SELECT MAX(version) AS v FROM directory_versions", &[])
        .await?
        .and_then(|v| v.v)
        .unwrap_or(0.0) as u64;
    let full = since == 0;
    // A snapshot leaves out tombstones; a delta carries them.
    let filter = if full { "deleted = 0" } else { "version > ?1" };
    let args = if full {
        vec![]
    } else {
        vec![int(since as i64)]
    };
    let domains: Vec<DomainRow> = platform.all(&format!("SELECT tenant_id, domain, status, max_mailboxes, max_storage_mb, version, deleted FROM mail_domains WHERE {filter}"), &args).await?;
    let mailboxes: Vec<MailboxRow> = platform.all(&format!("SELECT tenant_id, address, kind, status, quota_mb, version, deleted FROM mailboxes WHERE {filter}"), &args).await?;
    let aliases: Vec<AliasRow> = platform.all(&format!("SELECT tenant_id, address, targets, version, deleted FROM mail_aliases WHERE {filter}"), &args).await?;
    let delta = DirectoryDelta {
        version,
        full,
        domains: domains
            .into_iter()
            .map(|d| DomainEntry {
                tenant_id: d.tenant_id,
                domain: d.domain,
                status: if d.status == "suspended" {
                    DomainStatus::Suspended
                } else {
                    DomainStatus::Active
                },
                max_mailboxes: Limit::from_i64(d.max_mailboxes as i64),
                max_storage_mb: Limit::from_i64(d.max_storage_mb as i64),
                version: d.version as u64,
                deleted: d.deleted != 0.0,
            })
            .collect(),
        mailboxes: mailboxes
            .into_iter()
            .map(|m| MailboxEntry {
                tenant_id: m.tenant_id,
                address: m.address,
                kind: if m.kind == "organizational" {
                    MailboxKind::Organizational
                } else {
                    MailboxKind::Personal
                },
                status: if m.status == "disabled" {
                    MailboxStatus::Disabled
                } else {
                    MailboxStatus::Active
                },
                quota_mb: Limit::from_i64(m.quota_mb as i64),
                version: m.version as u64,
                deleted: m.deleted != 0.0,
            })
            .collect(),
        aliases: aliases
            .into_iter()
            .map(|a| AliasEntry {
                tenant_id: a.tenant_id,
                address: a.address,
                targets: serde_json::from_str(&a.targets).unwrap_or_default(),
                version: a.version as u64,
                deleted: a.deleted != 0.0,
            })
            .collect(),
    };
    json(200, &delta)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageItem {
    domain: String,
    day: String,
    messages: i64,
    bytes: i64,
    storage_bytes: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageBatch {
    batch_id: String,
    items: Vec<UsageItem>,
}

async fn usage(req: &mut Request, ctx: &Ctx, principal: &Principal) -> Outcome<Response> {
    let batch: UsageBatch = read_json(req).await?;
    if batch.batch_id.is_empty()
        || batch.batch_id.len() > 128
        || !batch.batch_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            "batch_id",
            "must be 1 to 128 visible ASCII characters",
        ));
    }
    for (i, item) in batch.items.iter().enumerate() {
        let day_ok = item.day.len() == 10
            && item.day.bytes().enumerate().all(|(j, b)| {
                if j == 4 || j == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !day_ok {
            return Err(invalid(&format!("items[{i}].day"), "must be YYYY-MM-DD"));
        }
        if item.messages < 0 || item.bytes < 0 || item.storage_bytes < 0 {
            return Err(invalid(
                &format!("items[{i}]"),
                "counts must not be negative",
            ));
        }
    }
    let home = principal.home_tenant.clone().unwrap_or_default();
    let relay_db = TenantDb::new(&ctx.db, &home);
    let platform = PlatformDb(&ctx.db);
    let mut statements = vec![relay_db.statement(
        "INSERT INTO relay_batches (tenant_id, batch_id, received_at) VALUES (?1, ?2, ?3)",
        &[text(&batch.batch_id), int(ctx.now)],
    )?];
    for item in &batch.items {
        statements.push(platform.statement(
            "INSERT INTO mail_usage (tenant_id, domain, day, messages, bytes, storage_bytes) \
             SELECT tenant_id, domain, ?2, ?3, ?4, ?5 FROM mail_domains WHERE domain = ?1 \
             ON CONFLICT (tenant_id, domain, day) DO UPDATE SET messages = messages + excluded.messages, \
             bytes = bytes + excluded.bytes, storage_bytes = excluded.storage_bytes",
            &[text(&item.domain.to_ascii_lowercase()), text(&item.day), int(item.messages), int(item.bytes), int(item.storage_bytes)],
        )?);
    }
    match relay_db.batch(statements).await {
        Ok(_) => json(200, &json!({"batch_id": batch.batch_id, "applied": true})),
        Err(p) if p.code == ErrorCode::Conflict => {
            json(200, &json!({"batch_id": batch.batch_id, "applied": false}))
        }
        Err(p) => Err(p),
    }
}
