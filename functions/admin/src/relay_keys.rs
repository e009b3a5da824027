//! Relay keys (superadmin): platform credentials for tenantry-relay, optionally limited
//! to named tenants. Shown once at creation, listed by prefix, revoked at once.

use crate::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::auth::generate_relay_key;
use tenantry_edge::db::{PlatformDb, int, opt_int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::{Outcome, internal, new_id, random_bytes};
use worker::{D1PreparedStatement, Request, Response};

/// The most tenants one dedicated relay key may name.
const MAX_SCOPED_TENANTS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRelayKey {
    name: String,
    /// Tenant ids the key serves; absent or null: every tenant.
    tenants: Option<Vec<String>>,
    expires_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RelayKeyRow {
    id: String,
    name: String,
    display_prefix: String,
    tenants: Option<String>,
    created_by: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl RelayKeyRow {
    fn to_json(&self) -> serde_json::Value {
        let tenants: Option<Vec<String>> = self
            .tenants
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        json!({
            "id": self.id, "name": self.name, "display_prefix": self.display_prefix,
            "tenants": tenants, "created_by": self.created_by, "created_at": self.created_at,
            "expires_at": self.expires_at, "revoked_at": self.revoked_at,
        })
    }
}

const COLUMNS: &str =
    "id, name, display_prefix, tenants, created_by, created_at, expires_at, revoked_at";

/// The audit entry of a platform action (no tenant owns it).
pub(crate) fn platform_audit(
    ctx: &Ctx,
    action: &str,
    resource_id: Option<&str>,
    after: serde_json::Value,
) -> Outcome<D1PreparedStatement> {
    tenantry_edge::audit::platform_statement(
        &ctx.db,
        &ctx.subject,
        action,
        resource_id,
        &after,
        &ctx.request_id,
        ctx.now,
    )
}

pub async fn create(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: NewRelayKey = read_json(req).await?;
    tenantry_core::validate::name("name", &body.name, 100)?;
    if let Some(at) = body.expires_at {
        stored_int("expires_at", at)?;
    }
    tenantry_core::validate::expiry("expires_at", body.expires_at, ctx.now)?;
    let tenants = match &body.tenants {
        None => None,
        Some(ids) => {
            if ids.is_empty() || ids.len() > MAX_SCOPED_TENANTS {
                return Err(invalid(
                    "tenants",
                    format!(
                        "must name 1 to {MAX_SCOPED_TENANTS} tenants, or be left out for every tenant"
                    ),
                ));
            }
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            for id in &ids {
                tenantry_core::ids::check(id, "t")
                    .map_err(|_| invalid("tenants", "holds a malformed tenant id"))?;
            }
            let list = serde_json::to_string(&ids).map_err(internal)?;
            #[derive(Deserialize)]
            struct Count {
                n: f64,
            }
            let found = PlatformDb(&ctx.db)
                .first::<Count>(
                    "SELECT COUNT(*) AS n FROM tenants WHERE id IN (SELECT value FROM json_each(?1)) AND status != 'deleted'",
                    &[text(&list)],
                )
                .await?
                .map_or(0, |c| c.n as usize);
            if found != ids.len() {
                return Err(invalid("tenants", "names a tenant that does not exist"));
            }
            Some(list)
        }
    };
    let key = generate_relay_key(&random_bytes());
    let id = new_id("rkey");
    let insert = PlatformDb(&ctx.db).statement(
        "INSERT INTO relay_keys (id, name, key_hash, display_prefix, tenants, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[text(&id), text(&body.name), text(&key.hash), text(&key.display_prefix), opt_text(tenants.as_deref()),
          text(&ctx.subject), int(ctx.now), opt_int(body.expires_at)],
    )?;
    let entry = platform_audit(
        ctx,
        "relay_key.create",
        Some(&id),
        json!({"name": body.name, "tenants": body.tenants, "display_prefix": key.display_prefix}),
    )?;
    PlatformDb(&ctx.db).batch(vec![insert, entry]).await?;
    let row = load(ctx, &id)
        .await?
        .ok_or_else(|| internal("relay key vanished"))?;
    let mut shown = row.to_json();
    shown["key"] = json!(key.plaintext);
    json(201, &shown)
}

async fn load(ctx: &Ctx, id: &str) -> Outcome<Option<RelayKeyRow>> {
    PlatformDb(&ctx.db)
        .first(
            &format!("SELECT {COLUMNS} FROM relay_keys WHERE id = ?1"),
            &[text(id)],
        )
        .await
}

static ORDER: Order = Order {
    columns: &["created_at", "id"],
    descending: false,
};

pub async fn list(req: &Request, ctx: &Ctx) -> Outcome<Response> {
    let page = Page::from_request(req, &ORDER)?;
    let (clause, args) = page.clause(1);
    let rows: Vec<RelayKeyRow> = PlatformDb(&ctx.db)
        .all(
            &format!("SELECT {COLUMNS} FROM relay_keys WHERE 1 = 1{clause}"),
            &args,
        )
        .await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
    json(
        200,
        &json!({"relay_keys": rows.iter().map(RelayKeyRow::to_json).collect::<Vec<_>>(), "next_cursor": next}),
    )
}

pub async fn revoke(ctx: &Ctx, id: &str) -> Outcome<Response> {
    tenantry_core::ids::check(id, "rkey")?;
    let live = load(ctx, id).await?.filter(|k| k.revoked_at.is_none());
    if live.is_none() {
        return Err(not_found("relay key"));
    }
    let revoke = PlatformDb(&ctx.db).statement(
        "UPDATE relay_keys SET revoked_at = ?2 WHERE id = ?1",
        &[text(id), int(ctx.now)],
    )?;
    let entry = platform_audit(ctx, "relay_key.revoke", Some(id), json!({}))?;
    PlatformDb(&ctx.db).batch(vec![revoke, entry]).await?;
    json(200, &json!({"id": id, "revoked": true}))
}
