//! A tenant's API keys: shown once, listed by prefix, revoked at once; the grant rule
//! decides which roles a principal may give a key.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::auth::generate_api_key;
use tenantry_core::rbac::Required;
use tenantry_core::validate;
use tenantry_edge::db::{int, opt_int, text};
use tenantry_edge::http::{json, not_found, read_json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::{Outcome, new_id, random_bytes};
use worker::{Request, Response};

/// Oldest first, by creation time and then id.
static CREATED: Order = Order {
    columns: &["created_at", "id"],
    descending: false,
};

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

pub async fn list_keys(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
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

pub async fn create_key(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
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
          opt_int(body.expires_at)],
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

pub async fn revoke_key(t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
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
