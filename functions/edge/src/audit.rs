//! Audit entries, written in the same D1 batch as the change they record.

use crate::db::{TenantDb, int, opt_text, text};
use crate::{Outcome, new_id};
use serde_json::Value;
use worker::D1PreparedStatement;

/// What changed, by whom.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_id: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The insert of an audit entry (secrets must already be out of `before`/`after`).
pub fn statement(
    db: &TenantDb<'_>,
    entry: Entry<'_>,
    request_id: &str,
    now: i64,
) -> Outcome<D1PreparedStatement> {
    db.statement(
        "INSERT INTO audit_log (tenant_id, id, actor, action, resource, resource_id, before_json, after_json, request_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &[
            text(&new_id("aud")),
            text(entry.actor),
            text(entry.action),
            text(entry.resource),
            opt_text(entry.resource_id),
            opt_text(entry.before.map(|v| v.to_string()).as_deref()),
            opt_text(entry.after.map(|v| v.to_string()).as_deref()),
            text(request_id),
            int(now),
        ],
    )
}

/// The insert of a platform audit entry: an act no tenant owns (a superadmin's, or the
/// platform's own, such as vouching for a mail domain).
pub fn platform_statement(
    db: &worker::D1Database,
    actor: &str,
    action: &str,
    resource_id: Option<&str>,
    after: &Value,
    request_id: &str,
    now: i64,
) -> Outcome<D1PreparedStatement> {
    crate::db::PlatformDb(db).statement(
        "INSERT INTO platform_audit (id, actor, action, resource_id, after_json, request_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            text(&new_id("paud")),
            text(actor),
            text(action),
            opt_text(resource_id),
            text(&after.to_string()),
            text(request_id),
            int(now),
        ],
    )
}
