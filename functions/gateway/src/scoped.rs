//! Tenant-scoped routes: the tenant itself, usage, API keys, clients, audit; mail is in
//! `mail.rs`. Every handler authorizes with the core and reads and writes through the
//! tenant-scoped layer.

use crate::{Counted, TenantCtx, mail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::auth::generate_api_key;
use tenantry_core::limits::Quota;
use tenantry_core::rbac::Required;
use tenantry_core::{Problem, validate};
use tenantry_edge::db::{int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::routes::{Matched, Route};
use tenantry_edge::{Outcome, new_id, random_bytes};
use worker::{Request, Response};

/// Oldest first, by creation time and then id.
pub static CREATED: Order = Order {
    columns: &["created_at", "id"],
    descending: false,
};

/// Newest first.
static NEWEST: Order = Order {
    columns: &["created_at", "id"],
    descending: true,
};

pub async fn route(
    mut req: Request,
    t: &TenantCtx<'_>,
    m: &Matched<'_>,
    counted: &Counted,
) -> Outcome<Response> {
    match m.route {
        Route::GetTenant => {
            t.require(Required::new("tenant", "read"))?;
            json(
                200,
                &json!({"id": t.tenant.id, "slug": t.tenant.slug, "name": t.tenant.name, "plan": t.tenant.plan,
                              "status": t.tenant.status, "resolved_by": t.resolved_by}),
            )
        }
        Route::GetUsage => usage(t, counted).await,
        Route::ListApiKeys => list_keys(&req, t).await,
        Route::CreateApiKey => create_key(&mut req, t).await,
        Route::RevokeApiKey => revoke_key(t, m.param(0)).await,
        Route::ListClients => {
            t.require(Required::new("clients", "read"))?;
            let page = Page::from_request(&req, &CREATED)?;
            let (clause, args) = page.clause(2);
            let rows: Vec<ClientRow> = t.db.all(&format!("SELECT id, name, email, phone, owner_id, created_at, updated_at FROM clients WHERE tenant_id = ?1{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
            json(200, &json!({"clients": rows, "next_cursor": next}))
        }
        Route::CreateClient => create_client(&mut req, t).await,
        Route::GetClient => {
            t.require(Required::new("clients", "read"))?;
            json(200, &load_client(t, m.param(0)).await?)
        }
        Route::UpdateClient => update_client(&mut req, t, m.param(0)).await,
        Route::DeleteClient => delete_client(t, m.param(0)).await,
        Route::ListAudit => audit_log(&req, t).await,
        Route::ListMailDomains
        | Route::CreateMailDomain
        | Route::UpdateMailDomain
        | Route::ListMailboxes
        | Route::CreateMailbox
        | Route::DeleteMailbox
        | Route::MailDomainUsage => mail::route(req, t, m).await,
        Route::ListIntegrations | Route::PutIntegration | Route::Export => {
            crate::integrations::route(req, t, m).await
        }
        _ => crate::people::route(req, t, m).await,
    }
}

async fn usage(t: &TenantCtx<'_>, counted: &Counted) -> Outcome<Response> {
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
            "usage": {"users": users, "clients": clients, "mailboxes": mailboxes, "api_calls_per_month": counted.month_calls},
            "rate_limit": {"limit": counted.rate.limit, "remaining": counted.rate.remaining(), "reset_secs": counted.rate.reset_secs},
        }),
    )
}

#[derive(Serialize, Deserialize)]
struct KeyRow {
    id: String,
    name: String,
    role: String,
    display_prefix: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

async fn list_keys(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("api-keys", "read"))?;
    let page = Page::from_request(req, &CREATED)?;
    let (clause, args) = page.clause(2);
    let rows: Vec<KeyRow> = t
        .db
        .all(&format!("SELECT id, name, role, display_prefix, created_at, expires_at, revoked_at FROM api_keys WHERE tenant_id = ?1{clause}"), &args)
        .await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
    json(200, &json!({"api_keys": rows, "next_cursor": next}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    role: String,
    expires_at: Option<i64>,
}

async fn create_key(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("api-keys", "create"))?;
    let body: NewKey = read_json(req).await?;
    validate::name("name", &body.name, 100)?;
    t.may_grant(&body.role)?;
    if let Some(at) = body.expires_at {
        stored_int("expires_at", at)?;
    }
    validate::expiry("expires_at", body.expires_at, t.ctx.now)?;
    let key = generate_api_key(&random_bytes());
    let id = new_id("key");
    let insert = t.db.statement(
        "INSERT INTO api_keys (tenant_id, id, name, role, key_hash, display_prefix, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[text(&id), text(&body.name), text(&body.role), text(&key.hash), text(&key.display_prefix), text(&t.principal.subject), int(t.ctx.now),
          body.expires_at.map_or(wasm_bindgen::JsValue::NULL, int)],
    )?;
    let after = json!({"id": id, "name": body.name, "role": body.role, "display_prefix": key.display_prefix});
    let entry = t.audit(
        "api_key.create",
        "api-keys",
        Some(&id),
        None,
        Some(after.clone()),
    )?;
    t.db.batch(vec![insert, entry]).await?;
    let mut shown = after;
    shown["key"] = json!(key.plaintext);
    shown["expires_at"] = json!(body.expires_at);
    json(201, &shown)
}

async fn revoke_key(t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    t.require(Required::new("api-keys", "delete"))?;
    tenantry_core::ids::check(id, "key")?;
    #[derive(Deserialize)]
    struct Live {
        id: String,
        role: String,
    }
    let live: Option<Live> =
        t.db.first(
            "SELECT id, role FROM api_keys WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL",
            &[text(id)],
        )
        .await?;
    let live = live.ok_or_else(|| not_found("API key"))?;
    // Revoking a key takes its role away: only who could grant that role (an admin
    // cannot revoke the owner's keys).
    t.may_grant(&live.role)?;
    let revoke = t.db.statement(
        "UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
        &[text(&live.id), int(t.ctx.now)],
    )?;
    let entry = t.audit("api_key.revoke", "api-keys", Some(id), None, None)?;
    t.db.batch(vec![revoke, entry]).await?;
    json(200, &json!({"id": id, "revoked": true}))
}

#[derive(Serialize, Deserialize)]
struct ClientRow {
    id: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    owner_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

fn check_client(body: &ClientBody, creating: bool) -> Outcome<()> {
    match &body.name {
        None if creating => return Err(invalid("name", "is required")),
        Some(name) => validate::name("name", name, 200)?,
        None => {}
    }
    if let Some(email) = &body.email {
        tenantry_core::mail::Address::parse(email).map_err(|e| invalid("email", e))?;
    }
    if let Some(phone) = &body.phone
        && (phone.len() > 32
            || !phone
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+ -().".contains(&b)))
    {
        return Err(invalid(
            "phone",
            "must be up to 32 digits, spaces and + - ( ) .",
        ));
    }
    Ok(())
}

async fn load_client(t: &TenantCtx<'_>, id: &str) -> Outcome<ClientRow> {
    tenantry_core::ids::check(id, "cli")?;
    t.db.first("SELECT id, name, email, phone, owner_id, created_at, updated_at FROM clients WHERE tenant_id = ?1 AND id = ?2", &[text(id)])
        .await?
        .ok_or_else(|| not_found("client"))
}

async fn create_client(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("clients", "create"))?;
    let body: ClientBody = read_json(req).await?;
    check_client(&body, true)?;
    let current =
        t.db.count(
            "SELECT COUNT(*) AS n FROM clients WHERE tenant_id = ?1",
            &[],
        )
        .await?;
    t.limits()
        .check(Quota::Clients, current, 1)
        .map_err(Problem::from)?;
    let id = new_id("cli");
    let name = body.name.unwrap_or_default();
    let insert = t.db.statement(
        "INSERT INTO clients (tenant_id, id, name, email, phone, owner_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        &[text(&id), text(&name), opt_text(body.email.as_deref()), opt_text(body.phone.as_deref()), text(&t.principal.subject), int(t.ctx.now)],
    )?;
    let after = json!({"id": id, "name": name, "email": body.email, "phone": body.phone});
    let entry = t.audit("client.create", "clients", Some(&id), None, Some(after))?;
    t.db.batch(vec![insert, entry]).await?;
    json(201, &load_client(t, &id).await?)
}

async fn update_client(req: &mut Request, t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    tenantry_core::ids::check(id, "cli")?;
    let before = load_client(t, id).await?;
    t.require(
        Required::new("clients", "update").owned_by(before.owner_id.as_deref().unwrap_or("")),
    )?;
    let body: ClientBody = read_json(req).await?;
    check_client(&body, false)?;
    let update = t.db.statement(
        "UPDATE clients SET name = COALESCE(?3, name), email = COALESCE(?4, email), phone = COALESCE(?5, phone), updated_at = ?6 WHERE tenant_id = ?1 AND id = ?2",
        &[text(id), opt_text(body.name.as_deref()), opt_text(body.email.as_deref()), opt_text(body.phone.as_deref()), int(t.ctx.now)],
    )?;
    let entry = t.audit(
        "client.update",
        "clients",
        Some(id),
        serde_json::to_value(&before).ok(),
        Some(json!({"name": body.name, "email": body.email, "phone": body.phone})),
    )?;
    t.db.batch(vec![update, entry]).await?;
    json(200, &load_client(t, id).await?)
}

async fn delete_client(t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    let before = load_client(t, id).await?;
    t.require(Required::new("clients", "delete"))?;
    let delete = t.db.statement(
        "DELETE FROM clients WHERE tenant_id = ?1 AND id = ?2",
        &[text(id)],
    )?;
    let entry = t.audit(
        "client.delete",
        "clients",
        Some(id),
        serde_json::to_value(&before).ok(),
        None,
    )?;
    t.db.batch(vec![delete, entry]).await?;
    Ok(Response::empty()
        .map_err(tenantry_edge::internal)?
        .with_status(204))
}

async fn audit_log(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("audit", "read"))?;
    let url = req.url().map_err(tenantry_edge::internal)?;
    let mut sql = String::from(
        "SELECT id, actor, action, resource, resource_id, before_json, after_json, request_id, created_at FROM audit_log WHERE tenant_id = ?1",
    );
    let mut args = Vec::new();
    for (name, value) in url.query_pairs() {
        let column = match name.as_ref() {
            "user" => "actor = ",
            "action" => "action = ",
            "resource" => "resource = ",
            "from" | "to" => {
                let at: i64 = value
                    .parse()
                    .map_err(|_| invalid(&name, "must be seconds since the epoch"))?;
                let at = stored_int(&name, at)?;
                args.push(int(at));
                sql.push_str(&format!(
                    " AND created_at {} ?{}",
                    if name == "from" { ">=" } else { "<=" },
                    args.len() + 1
                ));
                continue;
            }
            "limit" | "cursor" => continue,
            other => {
                return Err(invalid(
                    other,
                    "is not a filter (user, action, resource, from, to, limit, cursor)",
                ));
            }
        };
        args.push(text(&value));
        sql.push_str(&format!(" AND {column}?{}", args.len() + 1));
    }
    let page = Page::from_request(req, &NEWEST)?;
    let (clause, page_args) = page.clause(args.len() + 2);
    sql.push_str(&clause);
    args.extend(page_args);
    #[derive(Serialize, Deserialize)]
    struct Row {
        id: String,
        actor: String,
        action: String,
        resource: String,
        resource_id: Option<String>,
        before_json: Option<String>,
        after_json: Option<String>,
        request_id: String,
        created_at: i64,
    }
    let rows: Vec<Row> = t.db.all(&sql, &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
    let entries: Vec<_> = rows
        .into_iter()
        .map(|r| json!({
            "id": r.id, "actor": r.actor, "action": r.action, "resource": r.resource, "resource_id": r.resource_id,
            "before": r.before_json.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
            "after": r.after_json.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
            "request_id": r.request_id, "created_at": r.created_at,
        }))
        .collect();
    json(200, &json!({"entries": entries, "next_cursor": next}))
}
