//! A tenant's members and custom roles; every grant obeys the core's grant rule.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::limits::Quota;
use tenantry_core::mail::Address;
use tenantry_core::rbac::Required;
use tenantry_core::rbac::{BuiltinRole, CustomRole};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::Outcome;
use tenantry_edge::db::{int, text};
use tenantry_edge::http::{invalid, json, not_found, read_json};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use worker::{Request, Response};

static MEMBERS: Order = Order {
    columns: &["m.created_at", "m.user_id"],
    descending: false,
};

pub async fn list(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("members", "read"))?;
    #[derive(Serialize, Deserialize)]
    struct Row {
        user_id: String,
        email: String,
        role: String,
        created_at: i64,
    }
    let page = Page::from_request(req, &MEMBERS)?;
    let (clause, args) = page.clause(2);
    let rows: Vec<Row> = t.db.all(&format!("SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1{clause}"), &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.user_id)]);
    json(200, &json!({"members": rows, "next_cursor": next}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    role: String,
}

pub async fn add_member(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("members", "create"))?;
    let body: NewMember = read_json(req).await?;
    let email = Address::parse(&body.email).map_err(|e| invalid("email", e))?;
    t.may_grant(&body.role)?;
    check_users_quota(t).await?;
    let user = tenantry_edge::users::user_for(&t.ctx.db, &email, t.ctx.now).await?;
    let user_id = user.id;
    let mut statements: Vec<_> = user.insert.into_iter().collect();
    statements.push(t.db.statement(
        "INSERT INTO memberships (tenant_id, user_id, role, created_at, joined_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        &[text(&user_id), text(&body.role), int(t.ctx.now)],
    )?);
    let entry = t.audit(
        "member.add",
        "members",
        Some(&user_id),
        None,
        Some(json!({"email": email.as_str(), "role": body.role})),
    )?;
    statements.push(entry);
    let written = t.db.batch(statements).await;
    invalidate_members(t).await?;
    written?;
    json(
        201,
        &json!({"user_id": user_id, "email": email.as_str(), "role": body.role}),
    )
}

/// The users quota counts members and pending invitations alike, so that invitations
/// cannot bring in more people than the plan allows.
pub async fn check_users_quota(t: &TenantCtx<'_>) -> Outcome<()> {
    t.check_quota(
        Quota::Users,
        "SELECT (SELECT COUNT(*) FROM memberships WHERE tenant_id = ?1) + (SELECT COUNT(*) FROM invitations \
         WHERE tenant_id = ?1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?2) AS n",
        &[int(t.ctx.now)],
        1,
    )
    .await
}

/// Memberships are hot state of the tenant's object (sign-in sessions act with the role
/// a member holds now): a change applies to the member's very next request.
async fn invalidate_members(t: &TenantCtx<'_>) -> Outcome<()> {
    tenantry_edge::tenant_state::invalidate(&t.ctx.env, &t.tenant.id).await
}

fn check_user_id(id: &str) -> Outcome<()> {
    Ok(tenantry_core::ids::check(id, "u")?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberPatch {
    role: String,
}

pub async fn change_member(
    req: &mut Request,
    t: &TenantCtx<'_>,
    user_id: &str,
) -> Outcome<Response> {
    t.require(Required::new("members", "update"))?;
    check_user_id(user_id)?;
    let body: MemberPatch = read_json(req).await?;
    t.may_grant(&body.role)?;
    let update = t.db.statement(
        "UPDATE memberships SET role = ?3 WHERE tenant_id = ?1 AND user_id = ?2",
        &[text(user_id), text(&body.role)],
    )?;
    let before = member(t, user_id).await?;
    // Changing a member's role takes away the one it has: only who could grant that.
    t.may_grant(&before.role)?;
    let entry = t.audit(
        "member.update",
        "members",
        Some(user_id),
        Some(json!({"role": before.role})),
        Some(json!({"role": body.role})),
    )?;
    let written = t.db.batch(vec![update, entry]).await;
    invalidate_members(t).await?;
    written?;
    json(200, &json!({"user_id": user_id, "role": body.role}))
}

#[derive(Deserialize)]
struct Member {
    role: String,
}

/// A member's row; 404 when the user is not a member of this tenant.
async fn member(t: &TenantCtx<'_>, user_id: &str) -> Outcome<Member> {
    t.db.first(
        "SELECT role FROM memberships WHERE tenant_id = ?1 AND user_id = ?2",
        &[text(user_id)],
    )
    .await?
    .ok_or_else(|| not_found("member"))
}

pub async fn remove_member(t: &TenantCtx<'_>, user_id: &str) -> Outcome<Response> {
    t.require(Required::new("members", "delete"))?;
    check_user_id(user_id)?;
    let before = member(t, user_id).await?;
    // Nobody removes a member holding more than it could grant (an admin, an owner).
    t.may_grant(&before.role)?;
    let delete = t.db.statement(
        "DELETE FROM memberships WHERE tenant_id = ?1 AND user_id = ?2",
        &[text(user_id)],
    )?;
    let entry = t.audit(
        "member.remove",
        "members",
        Some(user_id),
        Some(json!({"role": before.role})),
        None,
    )?;
    let written = t.db.batch(vec![delete, entry]).await;
    invalidate_members(t).await?;
    written?;
    tenantry_edge::http::no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
    permissions: Vec<String>,
}

pub async fn create_role(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("roles", "create"))?;
    let body: NewRole = read_json(req).await?;
    let role = CustomRole::new(&body.name, body.permissions).map_err(|e| invalid("role", e))?;
    if t.custom_roles.len() >= tenantry_core::rbac::MAX_CUSTOM_ROLES {
        return Err(Problem::new(
            ErrorCode::Conflict,
            format!(
                "a tenant has at most {} custom roles",
                tenantry_core::rbac::MAX_CUSTOM_ROLES
            ),
        ));
    }
    tenantry_core::rbac::may_grant_permissions(
        t.principal,
        &t.tenant.id,
        &role.permissions,
        t.custom_roles,
    )?;
    let permissions = serde_json::to_string(&role.permissions).map_err(tenantry_edge::internal)?;
    let insert = t.db.statement("INSERT INTO custom_roles (tenant_id, name, permissions, created_at) VALUES (?1, ?2, ?3, ?4)", &[text(&role.name), text(&permissions), int(t.ctx.now)])?;
    let entry = t.audit(
        "role.create",
        "roles",
        Some(&role.name),
        None,
        Some(json!({"name": role.name, "permissions": role.permissions})),
    )?;
    let written = t.db.batch(vec![insert, entry]).await;
    // Custom roles are hot state: the next request authorizes with the new role. A retry
    // of a creation whose invalidation failed meets its own row (409) and still
    // invalidates.
    tenantry_edge::tenant_state::invalidate(&t.ctx.env, &t.tenant.id).await?;
    written?;
    json(
        201,
        &json!({"name": role.name, "builtin": false, "permissions": role.permissions}),
    )
}

pub fn list_roles(t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("roles", "read"))?;
    let builtin: Vec<_> = BuiltinRole::ALL
        .iter()
        .map(|r| json!({"name": r.as_str(), "builtin": true, "permissions": r.grants()}))
        .collect();
    let custom: Vec<_> = t
        .custom_roles
        .iter()
        .map(|r| json!({"name": r.name, "builtin": false, "permissions": r.permissions}))
        .collect();
    json(
        200,
        &json!({"roles": builtin.into_iter().chain(custom).collect::<Vec<_>>()}),
    )
}
