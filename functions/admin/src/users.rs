//! Accounts, for platform operators: suspending one ends its sessions and refuses its
//! tokens on the very next request (the tenants' objects are told); activating it
//! lets it sign in again.

use crate::Ctx;
use crate::relay_keys::platform_audit;
use serde::Deserialize;
use serde_json::json;
use tenantry_edge::db::{PlatformDb, int, text};
use tenantry_edge::http::{json, not_found};
use tenantry_edge::{Outcome, tenant_state};
use worker::Response;

/// Most tenants told of one account's change (an account's memberships are read bounded).
const MAX_TENANTS: i64 = 1000;

#[derive(Deserialize)]
struct TenantRow {
    tenant_id: String,
}

/// `POST /v1/admin/users/{id}/suspend` (`suspended`) and `.../activate` (`active`).
pub async fn set_status(ctx: &Ctx, user_id: &str, status: &str) -> Outcome<Response> {
    tenantry_core::ids::check(user_id, "u")?;
    let platform = PlatformDb(&ctx.db);
    let exists: Option<serde_json::Value> = platform
        .first("SELECT id FROM users WHERE id = ?1", &[text(user_id)])
        .await?;
    if exists.is_none() {
        return Err(not_found("user"));
    }
    let mut statements = vec![platform.statement(
        "UPDATE users SET status = ?2, updated_at = ?3 WHERE id = ?1",
        &[text(user_id), text(status), int(ctx.now)],
    )?];
    if status == "suspended" {
        statements.push(platform.statement(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = 'account_suspended' WHERE user_id = ?1 AND revoked_at IS NULL",
            &[text(user_id), int(ctx.now)],
        )?);
    }
    statements.push(platform_audit(
        ctx,
        &format!(
            "user.{}",
            if status == "active" {
                "activate"
            } else {
                "suspend"
            }
        ),
        Some(user_id),
        json!({"status": status}),
    )?);
    let written = platform.batch(statements).await;
    let tenants: Vec<TenantRow> = platform
        .all(
            "SELECT tenant_id FROM memberships WHERE user_id = ?1 LIMIT ?2",
            &[text(user_id), int(MAX_TENANTS)],
        )
        .await?;
    for tenant in &tenants {
        tenant_state::invalidate(&ctx.env, &tenant.tenant_id).await?;
    }
    written?;
    json(200, &json!({"id": user_id, "status": status}))
}
