//! `GET /v1/usage`: what the tenant uses against its plan's limits, and its rate limit.

use serde_json::json;
use tenantry_core::rbac::Required;
use tenantry_edge::Outcome;
use tenantry_edge::db::{int, text};
use tenantry_edge::http::json;
use tenantry_edge::tenant_ctx::TenantCtx;
use worker::Response;

pub async fn get(t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("usage", "read"))?;
    let limits = t.limits();
    let clients =
        t.db.count(
            "SELECT COUNT(*) AS n FROM clients WHERE tenant_id = ?1",
            &[],
        )
        .await?;
    let mailboxes =
        t.db.count(
            "SELECT COUNT(*) AS n FROM mailboxes WHERE tenant_id = ?1 AND deleted = 0",
            &[],
        )
        .await?;
    let users =
        t.db.count(
            "SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = ?1",
            &[],
        )
        .await?;
    let appointments =
        t.db.count(
            "SELECT COUNT(*) AS n FROM appointments WHERE tenant_id = ?1 AND created_at >= ?2",
            &[int(tenantry_core::calendar::month_start(t.ctx.now))],
        )
        .await?;
    // Mail, as the relays last reported it: messages delivered today, and the stored
    // bytes of each domain's latest day.
    let mail_today =
        t.db.count(
            "SELECT COALESCE(SUM(messages), 0) AS n FROM mail_usage WHERE tenant_id = ?1 AND day = ?2",
            &[text(&tenantry_core::calendar::day_key(t.ctx.now))],
        )
        .await?;
    let mail_storage_bytes =
        t.db.count(
            "SELECT COALESCE(SUM(storage_bytes), 0) AS n FROM mail_usage u WHERE tenant_id = ?1 \
             AND day = (SELECT MAX(day) FROM mail_usage WHERE tenant_id = ?1 AND domain = u.domain)",
            &[],
        )
        .await?;
    json(
        200,
        &json!({
            "plan": t.tenant.plan,
            "limits": limits,
            "usage": {"users": users, "clients": clients, "mailboxes": mailboxes, "api_calls_per_month": t.month_calls,
                      "appointments_per_month": appointments, "mail_messages_today": mail_today,
                      "mail_storage_mb": mail_storage_bytes.div_ceil(1024 * 1024)},
            "rate_limit": {"limit": t.rate.limit, "remaining": t.rate.remaining(), "reset_secs": t.rate.reset_secs},
        }),
    )
}
