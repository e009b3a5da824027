//! `GET /v1/usage`: what the tenant uses against its plan's limits, and its rate limit.

use serde_json::json;
use tenantry_core::rbac::Required;
use tenantry_edge::Outcome;
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
    json(
        200,
        &json!({
            "plan": t.tenant.plan,
            "limits": limits,
            "usage": {"users": users, "clients": clients, "mailboxes": mailboxes, "api_calls_per_month": t.month_calls},
            "rate_limit": {"limit": t.rate.limit, "remaining": t.rate.remaining(), "reset_secs": t.rate.reset_secs},
        }),
    )
}
