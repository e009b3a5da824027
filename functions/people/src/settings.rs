//! A tenant's settings and branding.

use serde::Deserialize;
use tenantry_core::mail::spam::{JUNK_SCORE_SETTING, REJECT_SCORE_SETTING};
use tenantry_core::rbac::Required;
use tenantry_edge::Outcome;
use tenantry_edge::db::text;
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::tenant_ctx::TenantCtx;
use worker::{Request, Response};

pub async fn get(t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("settings", "read"))?;
    json(200, &load_settings(t).await?)
}

async fn load_settings(t: &TenantCtx<'_>) -> Outcome<serde_json::Value> {
    #[derive(Deserialize)]
    struct Row {
        key: String,
        value: String,
    }
    let rows: Vec<Row> =
        t.db.all(
            "SELECT key, value FROM settings WHERE tenant_id = ?1 ORDER BY key",
            &[],
        )
        .await?;
    Ok(serde_json::Value::Object(
        rows.into_iter()
            .map(|r| {
                (
                    r.key,
                    serde_json::from_str(&r.value).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect(),
    ))
}

pub async fn update_settings(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("settings", "update"))?;
    let body: serde_json::Map<String, serde_json::Value> = read_json(req).await?;
    if body.len() > tenantry_core::settings::MAX_KEYS_PER_UPDATE {
        return Err(invalid("settings", "at most 50 keys at once"));
    }
    let before = load_settings(t).await?;
    let body_names_hot_state = body.contains_key(tenantry_core::settings::REQUIRE_MFA_SETTING);
    let mut statements = Vec::new();
    if [JUNK_SCORE_SETTING, REJECT_SCORE_SETTING]
        .iter()
        .any(|key| body.contains_key(*key))
    {
        // The relays read the spam thresholds off the tenant's domain rows.
        statements.extend(tenantry_edge::directory::restamp_domains(
            &t.ctx.db,
            &t.tenant.id,
            t.ctx.now,
        )?);
    }
    for (key, value) in &body {
        tenantry_core::settings::check(key, value)?;
        statements.push(if value.is_null() {
            t.db.statement("DELETE FROM settings WHERE tenant_id = ?1 AND key = ?2", &[text(key)])?
        } else {
            t.db.statement("INSERT INTO settings (tenant_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value", &[text(key), text(&value.to_string())])?
        });
    }
    let entry = t.audit(
        "settings.update",
        "settings",
        None,
        Some(before),
        Some(serde_json::Value::Object(body)),
    )?;
    statements.push(entry);
    t.db.batch(statements).await?;
    if body_names_hot_state {
        // The tenant's object keeps `require_mfa` as hot state.
        tenantry_edge::tenant_state::invalidate(&t.ctx.env, &t.tenant.id).await?;
    }
    json(200, &load_settings(t).await?)
}
