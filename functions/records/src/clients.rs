//! A tenant's clients, within the plan's quota.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::limits::Quota;
use tenantry_core::rbac::Required;
use tenantry_core::validate;
use tenantry_edge::db::{int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::{Outcome, new_id};
use worker::{Request, Response};

/// Oldest first, by creation time and then id.
static CREATED: Order = Order {
    columns: &["created_at", "id"],
    descending: false,
};

pub async fn list(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("clients", "read"))?;
    let page = Page::from_request(req, &CREATED)?;
    let (clause, args) = page.clause(2);
    let rows: Vec<ClientRow> = t.db.all(&format!("SELECT id, name, email, phone, owner_id, created_at, updated_at FROM clients WHERE tenant_id = ?1{clause}"), &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
    json(200, &json!({"clients": rows, "next_cursor": next}))
}

pub async fn get(t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    t.require(Required::new("clients", "read"))?;
    json(200, &load_client(t, id).await?)
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

pub async fn create_client(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("clients", "create"))?;
    let body: ClientBody = read_json(req).await?;
    check_client(&body, true)?;
    t.check_quota(
        Quota::Clients,
        "SELECT COUNT(*) AS n FROM clients WHERE tenant_id = ?1",
        &[],
        1,
    )
    .await?;
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

pub async fn update_client(req: &mut Request, t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
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

pub async fn delete_client(t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    let before = load_client(t, id).await?;
    t.require(Required::new("clients", "delete"))?;
    // A client's appointments go with it (they reference it, and are about the person).
    let appointments = t.db.statement(
        "DELETE FROM appointments WHERE tenant_id = ?1 AND client_id = ?2",
        &[text(id)],
    )?;
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
    t.db.batch(vec![appointments, delete, entry]).await?;
    tenantry_edge::http::no_content()
}
