//! Platform routes (superadmin): tenants and their hostnames.

use crate::Ctx;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use tenantry_core::auth::generate_api_key;
use tenantry_core::limits::{Plan, Quota};
use tenantry_core::mail::Address;
use tenantry_core::tenant::{Hostname, MAX_HOSTNAMES, Slug, Tenant, TenantStatus};
use tenantry_core::{ErrorCode, Problem, validate};
use tenantry_edge::audit::{self, Entry};
use tenantry_edge::db::{PlatformDb, TENANT_COLUMNS, TenantDb, int, text};
use tenantry_edge::http::{invalid, json, not_found, read_json};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::routes::{Matched, Route, misrouted};
use tenantry_edge::tenant_state;
use tenantry_edge::{Outcome, new_id, random_bytes};
use worker::{Request, Response};

async fn tenant_json(ctx: &Ctx, id: &str) -> Outcome<serde_json::Value> {
    tenantry_core::ids::check(id, "t")?;
    let tenant: Tenant = PlatformDb(&ctx.db)
        .first(
            &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
            &[text(id)],
        )
        .await?
        .ok_or_else(|| not_found("tenant"))?;
    #[derive(Deserialize)]
    struct Override {
        quota: String,
        value: i64,
    }
    let overrides: Vec<Override> = TenantDb::new(&ctx.db, id)
        .all(
            "SELECT quota, value FROM limit_overrides WHERE tenant_id = ?1 ORDER BY quota",
            &[],
        )
        .await?;
    let limit_overrides: serde_json::Map<String, serde_json::Value> = overrides
        .into_iter()
        .map(|o| (o.quota, o.value.into()))
        .collect();
    Ok(json!({
        "id": tenant.id, "slug": tenant.slug, "name": tenant.name, "plan": tenant.plan,
        "status": tenant.status, "limit_overrides": limit_overrides,
    }))
}

static TENANTS: Order = Order {
    columns: &["t.created_at", "t.id"],
    descending: false,
};

pub async fn route(mut req: Request, ctx: &Ctx, m: &Matched<'_>) -> Outcome<Response> {
    match m.route {
        Route::AdminCreateTenant => create_tenant(&mut req, ctx).await,
        Route::AdminListTenants => {
            #[derive(Deserialize, serde::Serialize)]
            struct Row {
                id: String,
                slug: String,
                name: String,
                plan: String,
                status: String,
                members: i64,
                clients: i64,
                mailboxes: i64,
                created_at: i64,
            }
            let page = Page::from_request(&req, &TENANTS)?;
            // `q`: the tenants whose slug or name contains it (a console's search box).
            let url = req.url().map_err(tenantry_edge::internal)?;
            let search = tenantry_edge::http::query_param(&url, "q")
                .filter(|q| !q.is_empty())
                .map(|q| {
                    tenantry_edge::db::contains_pattern(&q).ok_or_else(|| {
                        tenantry_edge::http::invalid(
                            "q",
                            "is too long to search for (at most 48 characters, fewer with %, _, \\ or accents)",
                        )
                    })
                })
                .transpose()?;
            let (filter, first_param) = match &search {
                Some(_) => (
                    " AND (t.slug LIKE ?1 ESCAPE '\\' OR t.name LIKE ?1 ESCAPE '\\')",
                    2,
                ),
                None => ("", 1),
            };
            let (clause, page_args) = page.clause(first_param);
            let mut args: Vec<_> = search.iter().map(|p| tenantry_edge::db::text(p)).collect();
            args.extend(page_args);
            let rows: Vec<Row> = PlatformDb(&ctx.db).all(
                &format!("SELECT t.id, t.slug, t.name, t.plan, t.status, t.created_at, \
                 (SELECT COUNT(*) FROM memberships m WHERE m.tenant_id = t.id) AS members, \
                 (SELECT COUNT(*) FROM clients c WHERE c.tenant_id = t.id) AS clients, \
                 (SELECT COUNT(*) FROM mailboxes b WHERE b.tenant_id = t.id AND b.deleted = 0) AS mailboxes \
                 FROM tenants t WHERE 1 = 1{filter}{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
            json(200, &json!({"tenants": rows, "next_cursor": next}))
        }
        Route::AdminGetTenant => json(200, &tenant_json(ctx, m.param(0)).await?),
        Route::AdminUpdateTenant => update_tenant(&mut req, ctx, m.param(0)).await,
        Route::AdminStats => {
            #[derive(Deserialize, serde::Serialize)]
            struct Row {
                id: String,
                slug: String,
                plan: String,
                status: String,
                members: i64,
                clients: i64,
                appointments: i64,
                mailboxes: i64,
                audit_entries: i64,
            }
            let rows: Vec<Row> = PlatformDb(&ctx.db).all(
                "SELECT t.id, t.slug, t.plan, t.status, \
                 (SELECT COUNT(*) FROM memberships m WHERE m.tenant_id = t.id) AS members, \
                 (SELECT COUNT(*) FROM clients c WHERE c.tenant_id = t.id) AS clients, \
                 (SELECT COUNT(*) FROM appointments a WHERE a.tenant_id = t.id) AS appointments, \
                 (SELECT COUNT(*) FROM mailboxes b WHERE b.tenant_id = t.id AND b.deleted = 0) AS mailboxes, \
                 (SELECT COUNT(*) FROM audit_log l WHERE l.tenant_id = t.id) AS audit_entries \
                 FROM tenants t ORDER BY t.created_at, t.id", &[]).await?;
            let mut totals = json!({"tenants": rows.len(), "members": 0, "clients": 0, "appointments": 0, "mailboxes": 0});
            let mut by_status = serde_json::Map::new();
            for row in &rows {
                for (key, value) in [
                    ("members", row.members),
                    ("clients", row.clients),
                    ("appointments", row.appointments),
                    ("mailboxes", row.mailboxes),
                ] {
                    totals[key] = json!(totals[key].as_i64().unwrap_or(0) + value);
                }
                let n = by_status
                    .get(&row.status)
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                by_status.insert(row.status.clone(), json!(n + 1));
            }
            totals["by_status"] = serde_json::Value::Object(by_status);
            json(200, &json!({"totals": totals, "tenants": rows}))
        }
        Route::AdminSuspendTenant => {
            set_status(ctx, m.param(0), TenantStatus::Suspended, "tenant.suspend").await
        }
        Route::AdminActivateTenant => {
            set_status(ctx, m.param(0), TenantStatus::Active, "tenant.activate").await
        }
        Route::AdminDeleteTenant => {
            set_status(ctx, m.param(0), TenantStatus::Deleted, "tenant.delete").await
        }
        Route::AdminAddHostname => add_hostname(&mut req, ctx, m.param(0)).await,
        Route::AdminRemoveHostname => remove_hostname(ctx, m.param(0), m.param(1)).await,
        _ => Err(misrouted()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    slug: String,
    name: String,
    plan: String,
    billing_email: String,
    owner_email: String,
}

async fn create_tenant(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: NewTenant = read_json(req).await?;
    let slug = Slug::parse(&body.slug).map_err(|e| invalid("slug", e))?;
    validate::name("name", &body.name, 200)?;
    let plan = Plan::parse(&body.plan)
        .ok_or_else(|| invalid("plan", "must be free, starter, professional or enterprise"))?;
    Address::parse(&body.billing_email).map_err(|e| invalid("billing_email", e))?;
    let owner_email = Address::parse(&body.owner_email).map_err(|e| invalid("owner_email", e))?;
    let platform = PlatformDb(&ctx.db);
    let owner = tenantry_edge::users::user_for(&ctx.db, &owner_email, ctx.now).await?;
    let user_id = owner.id;
    let tenant_id = new_id("t");
    let key = generate_api_key(&random_bytes());
    let key_id = new_id("key");
    let tenant_db = TenantDb::new(&ctx.db, &tenant_id);
    let mut statements = vec![platform.statement(
        "INSERT INTO tenants (id, slug, name, plan, status, billing_email, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?6)",
        &[text(&tenant_id), text(slug.as_str()), text(&body.name), text(plan.as_str()), text(&body.billing_email), int(ctx.now)],
    )?];
    statements.extend(owner.insert);
    statements.push(tenant_db.statement("INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)", &[text(&user_id), int(ctx.now)])?);
    statements.push(tenant_db.statement(
        "INSERT INTO api_keys (tenant_id, id, name, role, key_hash, display_prefix, created_by, created_at) VALUES (?1, ?2, 'owner key', 'owner', ?3, ?4, ?5, ?6)",
        &[text(&key_id), text(&key.hash), text(&key.display_prefix), text(&ctx.subject), int(ctx.now)],
    )?);
    statements.push(tenant_db.statement(
        "INSERT INTO settings (tenant_id, key, value) VALUES (?1, 'timezone', '\"Europe/Paris\"')",
        &[],
    )?);
    let after = json!({"slug": slug.as_str(), "name": body.name, "plan": plan, "owner": owner_email.as_str()});
    change_tenant(
        ctx,
        &tenant_id,
        statements,
        "tenant.create",
        None,
        Some(after),
    )
    .await
    .map_err(|p| {
        if p.code == ErrorCode::Conflict {
            Problem::new(
                ErrorCode::Conflict,
                format!("slug {} is taken", slug.as_str()),
            )
            .with("field", "slug")
        } else {
            p
        }
    })?;
    json(
        201,
        &json!({
            "tenant": tenant_json(ctx, &tenant_id).await?,
            "owner": {"user_id": user_id, "email": owner_email.as_str()},
            "owner_api_key": key.plaintext,
        }),
    )
}

/// Applies `statements` to tenant `id` with their audit entry in one D1 batch, then
/// invalidates the tenant's hot state, so the change applies to its very next request
/// (for a new tenant, an object that answered "no such tenant" forgets it).
async fn change_tenant(
    ctx: &Ctx,
    id: &str,
    mut statements: Vec<worker::D1PreparedStatement>,
    action: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Outcome<()> {
    let tenant_db = TenantDb::new(&ctx.db, id);
    let entry = Entry {
        actor: &ctx.subject,
        action,
        resource: "tenant",
        resource_id: Some(id),
        before,
        after,
    };
    statements.push(audit::statement(
        &tenant_db,
        entry,
        &ctx.request_id,
        ctx.now,
    )?);
    let written = tenant_db.batch(statements).await;
    // Invalidated whatever the write answered: the retry of a change whose invalidation
    // failed meets its own earlier write (409, 404) and must still reach the object.
    tenant_state::invalidate(&ctx.env, id).await?;
    written.map(|_| ())
}

async fn set_status(ctx: &Ctx, id: &str, status: TenantStatus, action: &str) -> Outcome<Response> {
    let before = tenant_json(ctx, id).await?;
    if before["status"] == "deleted" {
        return Err(not_found("tenant"));
    }
    let update = PlatformDb(&ctx.db).statement(
        "UPDATE tenants SET status = ?2, updated_at = ?3, deleted_at = CASE WHEN ?2 = 'deleted' THEN ?3 ELSE deleted_at END WHERE id = ?1",
        &[text(id), text(status.as_str()), int(ctx.now)],
    )?;
    let after = json!({"status": status});
    change_tenant(ctx, id, vec![update], action, Some(before), Some(after)).await?;
    json(200, &tenant_json(ctx, id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    name: Option<String>,
    plan: Option<String>,
    billing_email: Option<String>,
    /// Per-tenant overrides of the plan's limits: a number (-1 for unlimited) sets one,
    /// null removes it.
    limits: Option<BTreeMap<String, Option<i64>>>,
}

/// The statements that apply `limits` of a tenant patch, or the 400 naming the bad entry.
fn override_statements(
    tenant_db: &TenantDb<'_>,
    limits: &BTreeMap<String, Option<i64>>,
) -> Outcome<Vec<worker::D1PreparedStatement>> {
    limits
        .iter()
        .map(|(name, value)| {
            let field = format!("limits.{name}");
            let quota = Quota::parse(name).ok_or_else(|| invalid(&field, "is not a quota"))?;
            match value {
                None => tenant_db.statement(
                    "DELETE FROM limit_overrides WHERE tenant_id = ?1 AND quota = ?2",
                    &[text(quota.as_str())],
                ),
                Some(v) if *v >= -1 && *v <= tenantry_edge::http::MAX_STORED_INT => tenant_db
                    .statement(
                        "INSERT INTO limit_overrides (tenant_id, quota, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (tenant_id, quota) DO UPDATE SET value = excluded.value",
                        &[text(quota.as_str()), int(*v)],
                    ),
                Some(_) => Err(invalid(
                    &field,
                    "must be -1 (unlimited) to 2^53 - 1, or null",
                )),
            }
        })
        .collect()
}

async fn update_tenant(req: &mut Request, ctx: &Ctx, id: &str) -> Outcome<Response> {
    let before = tenant_json(ctx, id).await?;
    if before["status"] == "deleted" {
        return Err(not_found("tenant"));
    }
    let body: TenantPatch = read_json(req).await?;
    if let Some(name) = &body.name {
        validate::name("name", name, 200)?;
    }
    if let Some(plan) = &body.plan
        && Plan::parse(plan).is_none()
    {
        return Err(invalid(
            "plan",
            "must be free, starter, professional or enterprise",
        ));
    }
    if let Some(email) = &body.billing_email {
        Address::parse(email).map_err(|e| invalid("billing_email", e))?;
    }
    let tenant_db = TenantDb::new(&ctx.db, id);
    let overrides = match &body.limits {
        Some(limits) => override_statements(&tenant_db, limits)?,
        None => Vec::new(),
    };
    let update = PlatformDb(&ctx.db).statement(
        "UPDATE tenants SET name = COALESCE(?2, name), plan = COALESCE(?3, plan), billing_email = COALESCE(?4, billing_email), updated_at = ?5 WHERE id = ?1",
        &[text(id), tenantry_edge::db::opt_text(body.name.as_deref()), tenantry_edge::db::opt_text(body.plan.as_deref()), tenantry_edge::db::opt_text(body.billing_email.as_deref()), int(ctx.now)],
    )?;
    let after = json!({"name": body.name, "plan": body.plan, "limits": body.limits});
    let mut statements = vec![update];
    statements.extend(overrides);
    if body.plan.is_some() || body.limits.is_some() {
        // The relay reads the tenant's sending limits off its domain rows.
        statements.extend(tenantry_edge::directory::restamp_domains(
            &ctx.db, id, ctx.now,
        )?);
    }
    change_tenant(
        ctx,
        id,
        statements,
        "tenant.update",
        Some(before),
        Some(after),
    )
    .await?;
    json(200, &tenant_json(ctx, id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHostname {
    hostname: String,
}

async fn add_hostname(req: &mut Request, ctx: &Ctx, id: &str) -> Outcome<Response> {
    tenant_json(ctx, id).await?;
    let body: NewHostname = read_json(req).await?;
    let host = Hostname::parse(&body.hostname).map_err(|e| invalid("hostname", e))?;
    if body.hostname.contains(':') {
        return Err(invalid("hostname", "must not carry a port"));
    }
    // The platform's names (its domain and what lies under it, which resolves by slug
    // already; its mail domain; the relays; the operator's list) name no tenant.
    tenantry_edge::config::reserved_names(&ctx.env)?
        .check(&host)
        .map_err(|reserved| invalid("hostname", reserved))?;
    let registered = TenantDb::new(&ctx.db, id)
        .count(
            "SELECT COUNT(*) AS n FROM tenant_hostnames WHERE tenant_id = ?1",
            &[],
        )
        .await?;
    if registered >= MAX_HOSTNAMES as u64 {
        return Err(Problem::new(
            ErrorCode::Conflict,
            format!("a tenant has at most {MAX_HOSTNAMES} custom hostnames"),
        ));
    }
    let insert = PlatformDb(&ctx.db).statement(
        "INSERT INTO tenant_hostnames (hostname, tenant_id, created_at) VALUES (?1, ?2, ?3)",
        &[text(host.as_str()), text(id), int(ctx.now)],
    )?;
    let after = json!({"hostname": host.as_str()});
    change_tenant(
        ctx,
        id,
        vec![insert],
        "tenant.hostname.add",
        None,
        Some(after),
    )
    .await?;
    json(201, &json!({"hostname": host.as_str(), "tenant_id": id}))
}

/// `DELETE /v1/admin/tenants/{id}/hostnames/{hostname}`: the hostname stops naming the
/// tenant on the next request (the tenant's object is invalidated before the answer).
async fn remove_hostname(ctx: &Ctx, id: &str, hostname: &str) -> Outcome<Response> {
    tenant_json(ctx, id).await?;
    let host = Hostname::parse(hostname).map_err(|e| invalid("hostname", e))?;
    let tenant_db = TenantDb::new(&ctx.db, id);
    let registered = tenant_db
        .count(
            "SELECT COUNT(*) AS n FROM tenant_hostnames WHERE tenant_id = ?1 AND hostname = ?2",
            &[text(host.as_str())],
        )
        .await?;
    if registered == 0 {
        // Perhaps removed by an earlier attempt whose invalidation failed.
        tenant_state::invalidate(&ctx.env, id).await?;
        return Err(not_found("hostname"));
    }
    let delete = tenant_db.statement(
        "DELETE FROM tenant_hostnames WHERE tenant_id = ?1 AND hostname = ?2",
        &[text(host.as_str())],
    )?;
    let before = json!({"hostname": host.as_str()});
    change_tenant(
        ctx,
        id,
        vec![delete],
        "tenant.hostname.remove",
        Some(before),
        None,
    )
    .await?;
    tenantry_edge::http::no_content()
}
