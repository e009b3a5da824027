//! Third-party credentials (CRM, WhatsApp), sealed per tenant with `tenantry-core::seal`
//! and never returned: responses show them masked. And `GET /v1/export`.

use serde::Deserialize;
use serde_json::{Value, json};
use tenantry_core::crm::CrmBaseUrl;
use tenantry_core::rbac::Required;
use tenantry_core::seal::{Keyring, mask};
use tenantry_edge::db::{int, opt_text, text};
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::routes::{Route, misrouted};
use tenantry_edge::tenant_ctx::{Admitted, TenantCtx};
use tenantry_edge::{Outcome, integrations, random_bytes};
use worker::{Request, Response};

pub async fn route(mut req: Request, t: &TenantCtx<'_>, m: &Admitted) -> Outcome<Response> {
    match m.route {
        Route::ListIntegrations => {
            t.require(Required::new("integrations", "read"))?;
            json(200, &json!({"integrations": list(t).await?}))
        }
        Route::PutIntegration => match m.param(0) {
            kind @ ("crm" | "whatsapp") => put(&mut req, t, kind).await,
            _ => Err(tenantry_edge::http::not_found("integration kind")),
        },
        Route::Export => crate::export::export(t).await,
        _ => Err(misrouted()),
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
pub(crate) async fn list(t: &TenantCtx<'_>) -> Outcome<Vec<Value>> {
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
