//! `GET /v1/export` (owner): everything the tenant owns as one JSON document, streamed.
//! Each table is read in pages of `ROWS_PER_READ` rows (keyset on SQLite's rowid) and
//! written out as it is read, so a tenant with 100,000 rows exports in bounded memory.
//! The document ends with `"complete": true`; a cut stream lacks it.

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tenantry_core::rbac::Required;
use tenantry_edge::db::{TenantDb, int};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::{Outcome, internal};
use worker::{D1Database, Response, ResponseBuilder};

/// Rows read per D1 round trip.
const ROWS_PER_READ: usize = 500;

/// `(member name, columns, FROM/WHERE with the tenant as ?1, the rowid column)`.
const TABLES: &[(&str, &str, &str, &str)] = &[
    (
        "members",
        "m.user_id, u.email, m.role, m.created_at",
        "memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1",
        "m.rowid",
    ),
    (
        "custom_roles",
        "name, permissions, created_at",
        "custom_roles WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "api_keys",
        "id, name, role, display_prefix, created_at, expires_at, revoked_at",
        "api_keys WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "settings",
        "key, value",
        "settings WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "limit_overrides",
        "quota, value",
        "limit_overrides WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "usage",
        "metric, period, value",
        "usage_counters WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "clients",
        "id, name, email, phone, owner_id, created_at, updated_at",
        "clients WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "appointments",
        "id, client_id, employee_id, starts_at, ends_at, status, notes, created_at, updated_at",
        "appointments WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "conversations",
        "id, wa_id, contact_name, last_message_at",
        "conversations WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "messages",
        "message_id, conversation_id, direction, kind, body, status, sent_at",
        "messages WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "mail_domains",
        "domain, finess, organization_name, organization_type, status, max_mailboxes, max_storage_mb, created_at",
        "mail_domains WHERE tenant_id = ?1 AND deleted = 0",
        "rowid",
    ),
    (
        "mailboxes",
        "address, domain, kind, owner, quota_mb, status, created_at",
        "mailboxes WHERE tenant_id = ?1 AND deleted = 0",
        "rowid",
    ),
    (
        "mail_aliases",
        "address, domain, targets",
        "mail_aliases WHERE tenant_id = ?1 AND deleted = 0",
        "rowid",
    ),
    (
        "mail_usage",
        "domain, day, messages, bytes, storage_bytes",
        "mail_usage WHERE tenant_id = ?1",
        "rowid",
    ),
    (
        "audit_log",
        "id, actor, action, resource, resource_id, before_json, after_json, request_id, created_at",
        "audit_log WHERE tenant_id = ?1",
        "rowid",
    ),
];

/// Where the stream is: which table, after which rowid, and whether a row of it was written.
struct Cursor {
    db: D1Database,
    tenant_id: String,
    table: usize,
    after: i64,
    wrote_row: bool,
    done: bool,
}

pub async fn export(t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("tenant", "export"))?;
    // The head: what is small and already loaded (integrations are masked, never opened).
    let head = json!({
        "format": "tenantry-export-v1",
        "exported_at": t.ctx.now,
        "tenant": {"id": t.tenant.id, "slug": t.tenant.slug, "name": t.tenant.name, "plan": t.tenant.plan, "status": t.tenant.status},
        "integrations": crate::integrations::list(t).await?,
    })
    .to_string();
    let head = head[..head.len() - 1].to_string();
    let cursor = Cursor {
        db: t.ctx.env.d1("DB").map_err(internal)?,
        tenant_id: t.tenant.id.clone(),
        table: 0,
        after: 0,
        wrote_row: false,
        done: false,
    };
    let body = stream::once(async move { Ok::<Vec<u8>, worker::Error>(head.into_bytes()) }).chain(
        stream::unfold(cursor, |mut cursor| async move {
            if cursor.done {
                return None;
            }
            match next_chunk(&mut cursor).await {
                Ok(chunk) => Some((Ok(chunk), cursor)),
                Err(error) => {
                    cursor.done = true;
                    Some((Err(error), cursor))
                }
            }
        }),
    );
    let mut response = ResponseBuilder::new()
        .with_status(200)
        .from_stream(body)
        .map_err(internal)?;
    response
        .headers_mut()
        .set("content-type", "application/json")
        .map_err(internal)?;
    Ok(response)
}

/// The next piece of the document: a table's opening, a page of its rows, or the end.
async fn next_chunk(cursor: &mut Cursor) -> worker::Result<Vec<u8>> {
    let Some((name, columns, from, rowid)) = TABLES.get(cursor.table) else {
        cursor.done = true;
        return Ok(b"],\"complete\":true}".to_vec());
    };
    let mut out = Vec::new();
    if cursor.after == 0 && !cursor.wrote_row {
        if cursor.table > 0 {
            out.extend_from_slice(b"]");
        }
        out.extend_from_slice(format!(",\"{name}\":[").as_bytes());
    }
    let db = TenantDb::new(&cursor.db, &cursor.tenant_id);
    let sql = format!(
        "SELECT {rowid} AS export_rowid, {columns} FROM {from} AND {rowid} > ?2 ORDER BY {rowid} LIMIT {ROWS_PER_READ}"
    );
    let rows: Vec<Value> = db
        .all(&sql, &[int(cursor.after)])
        .await
        .map_err(|p| worker::Error::RustError(p.detail))?;
    let last_page = rows.len() < ROWS_PER_READ;
    for mut row in rows {
        let position = row
            .as_object_mut()
            .and_then(|o| o.remove("export_rowid"))
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as i64;
        cursor.after = position;
        if cursor.wrote_row {
            out.push(b',');
        }
        cursor.wrote_row = true;
        out.extend_from_slice(row.to_string().as_bytes());
    }
    if last_page {
        cursor.table += 1;
        cursor.after = 0;
        cursor.wrote_row = false;
    }
    Ok(out)
}
