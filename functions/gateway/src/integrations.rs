//! Third-party credentials (CRM, WhatsApp), sealed per tenant with `tenantry-core::seal`
//! and never returned: responses show them masked. And `GET /v1/export`.

use crate::TenantCtx;
use serde::Deserialize;
use serde_json::{Value, json};
use tenantry_core::crm::CrmBaseUrl;
use tenantry_core::rbac::Required;
use tenantry_core::seal::{Keyring, mask};
use tenantry_edge::db::{int, opt_text, text};
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::{Outcome, integrations, random_bytes};
use worker::{Method, Request, Response};

pub async fn route(
    mut req: Request,
    t: &TenantCtx<'_>,
    method: &Method,
    parts: &[&str],
) -> Outcome<Response> {
    match (method, parts) {
        (Method::Get, ["integrations"]) => {
            t.require(Required::new("integrations", "read"))?;
            json(200, &json!({"integrations": list(t).await?}))
        }
        (Method::Put, ["integrations", kind @ ("crm" | "whatsapp")]) => {
            put(&mut req, t, kind).await
        }
        (Method::Get, ["export"]) => export(t).await,
        _ => Err(tenantry_edge::http::not_found("route")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrmBody {
    base_url: String,
    api_key: String,
    admin_username: Option<String>,
    admin_password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhatsAppBody {
    phone_number_id: String,
    verify_token: String,
    app_secret: String,
    access_token: String,
}

fn secret(field: &str, value: &str) -> Outcome<()> {
    if value.is_empty() || value.len() > 4096 || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be 1 to 4096 characters without control characters",
        ));
    }
    Ok(())
}

fn seal(keyring: &Keyring, tenant_id: &str, kind: &str, secrets: &[(&str, &str)]) -> Value {
    Value::Object(
        secrets
            .iter()
            .map(|(name, value)| {
                (
                    (*name).to_string(),
                    Value::String(keyring.seal(
                        tenant_id,
                        &format!("{kind}.{name}"),
                        value.as_bytes(),
                        random_bytes(),
                    )),
                )
            })
            .collect(),
    )
}

async fn put(req: &mut Request, t: &TenantCtx<'_>, kind: &str) -> Outcome<Response> {
    t.require(Required::new("integrations", "update"))?;
    let keyring = tenantry_edge::config::keyring(&t.ctx.env)?;
    let (config, sealed, lookup) = if kind == "crm" {
        let body: CrmBody = read_json(req).await?;
        let base = CrmBaseUrl::parse(&body.base_url).map_err(|e| invalid("base_url", e))?;
        secret("api_key", &body.api_key)?;
        let mut secrets = vec![("api_key", body.api_key.as_str())];
        if let Some(password) = &body.admin_password {
            secret("admin_password", password)?;
            if body.admin_username.is_none() {
                return Err(invalid("admin_username", "is required with admin_password"));
            }
            secrets.push(("admin_password", password));
        }
        (
            json!({"base_url": base.as_str(), "admin_username": body.admin_username}),
            seal(&keyring, &t.tenant.id, kind, &secrets),
            None,
        )
    } else {
        let body: WhatsAppBody = read_json(req).await?;
        if body.phone_number_id.is_empty()
            || body.phone_number_id.len() > 32
            || !body.phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid(
                "phone_number_id",
                "must be the digits of the WhatsApp phone number id",
            ));
        }
        for (field, value) in [
            ("verify_token", &body.verify_token),
            ("app_secret", &body.app_secret),
            ("access_token", &body.access_token),
        ] {
            secret(field, value)?;
        }
        let secrets = [
            ("verify_token", body.verify_token.as_str()),
            ("app_secret", body.app_secret.as_str()),
            ("access_token", body.access_token.as_str()),
        ];
        (
            json!({"phone_number_id": body.phone_number_id}),
            seal(&keyring, &t.tenant.id, kind, &secrets),
            Some(body.phone_number_id),
        )
    };
    let upsert = t.db.statement(
        "INSERT INTO integrations (tenant_id, kind, config, sealed, lookup_key, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (tenant_id, kind) DO UPDATE SET config = excluded.config, sealed = excluded.sealed, lookup_key = excluded.lookup_key, updated_at = excluded.updated_at",
        &[text(kind), text(&config.to_string()), text(&sealed.to_string()), opt_text(lookup.as_deref()), int(t.ctx.now)],
    )?;
    // The audit entry records which secrets changed, never their values.
    let changed: Vec<&String> = sealed
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let entry = t.audit(
        "integration.update",
        "integrations",
        Some(kind),
        None,
        Some(json!({"config": config, "secrets_changed": changed})),
    )?;
    t.db.batch(vec![upsert, entry]).await?;
    let shown = list(t).await?;
    json(
        200,
        shown
            .into_iter()
            .find(|i| i["kind"] == kind)
            .as_ref()
            .unwrap_or(&Value::Null),
    )
}

/// The tenant's integrations with every secret masked.
async fn list(t: &TenantCtx<'_>) -> Outcome<Vec<Value>> {
    let rows = integrations::stored(&t.db).await?;
    let keyring = if rows.is_empty() {
        None
    } else {
        Some(tenantry_edge::config::keyring(&t.ctx.env)?)
    };
    let mut out = Vec::new();
    for (row, keyring) in rows.iter().zip(keyring.iter().cycle()) {
        let opened = integrations::open(keyring, &t.tenant.id, row);
        let mut shown = opened.config;
        for (name, secret) in opened.secrets {
            shown[name] = Value::String(secret.map_or_else(
                || "(cannot be opened with the configured keys)".into(),
                |s| mask(&s),
            ));
        }
        shown["kind"] = Value::String(row.kind.clone());
        shown["updated_at"] = json!(row.updated_at);
        out.push(shown);
    }
    Ok(out)
}

async fn export(t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("tenant", "export"))?;
    let table = |sql: &'static str| async move { t.db.all::<Value>(sql, &[]).await };
    let document = json!({
        "format": "tenantry-export-v1",
        "exported_at": t.ctx.now,
        "tenant": {"id": t.tenant.id, "slug": t.tenant.slug, "name": t.tenant.name, "plan": t.tenant.plan, "status": t.tenant.status},
        "members": table("SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1").await?,
        "custom_roles": table("SELECT name, permissions, created_at FROM custom_roles WHERE tenant_id = ?1").await?,
        "api_keys": table("SELECT id, name, role, display_prefix, created_at, expires_at, revoked_at FROM api_keys WHERE tenant_id = ?1").await?,
        "settings": table("SELECT key, value FROM settings WHERE tenant_id = ?1").await?,
        "limit_overrides": table("SELECT quota, value FROM limit_overrides WHERE tenant_id = ?1").await?,
        "usage": table("SELECT metric, period, value FROM usage_counters WHERE tenant_id = ?1").await?,
        "clients": table("SELECT id, name, email, phone, owner_id, created_at, updated_at FROM clients WHERE tenant_id = ?1").await?,
        "appointments": table("SELECT id, client_id, employee_id, starts_at, ends_at, status, notes, created_at, updated_at FROM appointments WHERE tenant_id = ?1").await?,
        "conversations": table("SELECT id, wa_id, contact_name, last_message_at FROM conversations WHERE tenant_id = ?1").await?,
        "messages": table("SELECT message_id, conversation_id, direction, kind, body, status, sent_at FROM messages WHERE tenant_id = ?1").await?,
        "integrations": list(t).await?,
        "mail_domains": table("SELECT domain, finess, organization_name, organization_type, status, max_mailboxes, max_storage_mb, created_at FROM mail_domains WHERE tenant_id = ?1 AND deleted = 0").await?,
        "mailboxes": table("SELECT address, domain, kind, owner, quota_mb, status, created_at FROM mailboxes WHERE tenant_id = ?1 AND deleted = 0").await?,
        "mail_aliases": table("SELECT address, domain, targets FROM mail_aliases WHERE tenant_id = ?1 AND deleted = 0").await?,
        "mail_usage": table("SELECT domain, day, messages, bytes, storage_bytes FROM mail_usage WHERE tenant_id = ?1").await?,
        "audit_log": table("SELECT id, actor, action, resource, resource_id, before_json, after_json, request_id, created_at FROM audit_log WHERE tenant_id = ?1 ORDER BY created_at").await?,
    });
    json(200, &document)
}
