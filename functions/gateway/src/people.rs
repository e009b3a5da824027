//! Members, custom roles, settings and appointments of a tenant.

use crate::TenantCtx;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::limits::Quota;
use tenantry_core::mail::Address;
use tenantry_core::rbac::{BuiltinRole, CustomRole, Required};
use tenantry_core::{Problem, validate};
use tenantry_edge::db::{PlatformDb, int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::routes::{Matched, Route, misrouted};
use tenantry_edge::{Outcome, new_id};
use worker::{Request, Response};

static MEMBERS: Order = Order {
    columns: &["m.created_at", "m.user_id"],
    descending: false,
};
static APPOINTMENTS: Order = Order {
    columns: &["starts_at", "id"],
    descending: false,
};
static CONVERSATIONS: Order = Order {
    columns: &["last_message_at", "id"],
    descending: true,
};
static MESSAGES: Order = Order {
    columns: &["sent_at", "message_id"],
    descending: false,
};

pub async fn route(mut req: Request, t: &TenantCtx<'_>, m: &Matched<'_>) -> Outcome<Response> {
    match m.route {
        Route::ListMembers => {
            t.require(Required::new("members", "read"))?;
            #[derive(Serialize, Deserialize)]
            struct Row {
                user_id: String,
                email: String,
                role: String,
                created_at: i64,
            }
            let page = Page::from_request(&req, &MEMBERS)?;
            let (clause, args) = page.clause(2);
            let rows: Vec<Row> = t.db.all(&format!("SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.user_id)]);
            json(200, &json!({"members": rows, "next_cursor": next}))
        }
        Route::AddMember => add_member(&mut req, t).await,
        Route::ChangeMember => change_member(&mut req, t, m.param(0)).await,
        Route::RemoveMember => remove_member(t, m.param(0)).await,
        Route::ListRoles => {
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
        Route::CreateRole => create_role(&mut req, t).await,
        Route::GetSettings => {
            t.require(Required::new("settings", "read"))?;
            json(200, &load_settings(t).await?)
        }
        Route::UpdateSettings => update_settings(&mut req, t).await,
        Route::ListAppointments => {
            t.require(Required::new("appointments", "read"))?;
            let page = Page::from_request(&req, &APPOINTMENTS)?;
            let (clause, args) = page.clause(2);
            let rows: Vec<Appointment> = t.db.all(&format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE tenant_id = ?1{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.starts_at), json!(r.id)]);
            json(200, &json!({"appointments": rows, "next_cursor": next}))
        }
        Route::CreateAppointment => create_appointment(&mut req, t).await,
        Route::ListConversations => {
            t.require(Required::new("conversations", "read"))?;
            #[derive(Serialize, Deserialize)]
            struct Row {
                id: String,
                wa_id: String,
                contact_name: Option<String>,
                last_message_at: i64,
            }
            let page = Page::from_request(&req, &CONVERSATIONS)?;
            let (clause, args) = page.clause(2);
            let rows: Vec<Row> = t.db.all(&format!("SELECT id, wa_id, contact_name, last_message_at FROM conversations WHERE tenant_id = ?1{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.last_message_at), json!(r.id)]);
            json(200, &json!({"conversations": rows, "next_cursor": next}))
        }
        Route::ListMessages => {
            let id = m.param(0);
            t.require(Required::new("conversations", "read"))?;
            tenantry_core::ids::check(id, "conv")?;
            #[derive(Serialize, Deserialize)]
            struct Row {
                message_id: String,
                direction: String,
                kind: String,
                body: Option<String>,
                status: Option<String>,
                sent_at: i64,
            }
            let exists =
                t.db.count(
                    "SELECT COUNT(*) AS n FROM conversations WHERE tenant_id = ?1 AND id = ?2",
                    &[text(id)],
                )
                .await?
                    > 0;
            if !exists {
                return Err(not_found("conversation"));
            }
            let page = Page::from_request(&req, &MESSAGES)?;
            let (clause, mut args) = page.clause(3);
            args.insert(0, text(id));
            let rows: Vec<Row> = t.db.all(&format!("SELECT message_id, direction, kind, body, status, sent_at FROM messages WHERE tenant_id = ?1 AND conversation_id = ?2{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.sent_at), json!(r.message_id)]);
            json(200, &json!({"messages": rows, "next_cursor": next}))
        }
        Route::UpdateAppointment => update_appointment(&mut req, t, m.param(0)).await,
        _ => Err(misrouted()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    role: String,
}

async fn add_member(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("members", "create"))?;
    let body: NewMember = read_json(req).await?;
    let email = Address::parse(&body.email).map_err(|e| invalid("email", e))?;
    t.may_grant(&body.role)?;
    let members =
        t.db.count(
            "SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = ?1",
            &[],
        )
        .await?;
    t.limits()
        .check(Quota::Users, members, 1)
        .map_err(Problem::from)?;
    #[derive(Deserialize)]
    struct UserRow {
        id: String,
    }
    let platform = PlatformDb(&t.ctx.db);
    let existing: Option<UserRow> = platform
        .first(
            "SELECT id FROM users WHERE email = ?1",
            &[text(email.as_str())],
        )
        .await?;
    let user_id = existing
        .as_ref()
        .map_or_else(|| new_id("u"), |u| u.id.clone());
    let mut statements = Vec::new();
    if existing.is_none() {
        statements.push(platform.statement(
            "INSERT INTO users (id, email, created_at) VALUES (?1, ?2, ?3)",
            &[text(&user_id), text(email.as_str()), int(t.ctx.now)],
        )?);
    }
    statements.push(t.db.statement(
        "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
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
    t.db.batch(statements).await?;
    json(
        201,
        &json!({"user_id": user_id, "email": email.as_str(), "role": body.role}),
    )
}

fn check_user_id(id: &str) -> Outcome<()> {
    Ok(tenantry_core::ids::check(id, "u")?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberPatch {
    role: String,
}

async fn change_member(req: &mut Request, t: &TenantCtx<'_>, user_id: &str) -> Outcome<Response> {
    t.require(Required::new("members", "update"))?;
    check_user_id(user_id)?;
    let body: MemberPatch = read_json(req).await?;
    t.may_grant(&body.role)?;
    let update = t.db.statement(
        "UPDATE memberships SET role = ?3 WHERE tenant_id = ?1 AND user_id = ?2",
        &[text(user_id), text(&body.role)],
    )?;
    #[derive(Deserialize)]
    struct Row {
        role: String,
    }
    let before: Row =
        t.db.first(
            "SELECT role FROM memberships WHERE tenant_id = ?1 AND user_id = ?2",
            &[text(user_id)],
        )
        .await?
        .ok_or_else(|| not_found("member"))?;
    // Changing a member's role takes away the one it has: only who could grant that.
    t.may_grant(&before.role)?;
    let entry = t.audit(
        "member.update",
        "members",
        Some(user_id),
        Some(json!({"role": before.role})),
        Some(json!({"role": body.role})),
    )?;
    t.db.batch(vec![update, entry]).await?;
    json(200, &json!({"user_id": user_id, "role": body.role}))
}

async fn remove_member(t: &TenantCtx<'_>, user_id: &str) -> Outcome<Response> {
    t.require(Required::new("members", "delete"))?;
    check_user_id(user_id)?;
    #[derive(Deserialize)]
    struct Row {
        role: String,
    }
    let before: Row =
        t.db.first(
            "SELECT role FROM memberships WHERE tenant_id = ?1 AND user_id = ?2",
            &[text(user_id)],
        )
        .await?
        .ok_or_else(|| not_found("member"))?;
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
    t.db.batch(vec![delete, entry]).await?;
    Ok(Response::empty()
        .map_err(tenantry_edge::internal)?
        .with_status(204))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
    permissions: Vec<String>,
}

async fn create_role(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("roles", "create"))?;
    let body: NewRole = read_json(req).await?;
    let role = CustomRole::new(&body.name, body.permissions).map_err(|e| invalid("role", e))?;
    tenantry_core::rbac::may_grant_permissions(
        t.principal,
        &t.tenant.id,
        &role.permissions,
        &t.custom_roles,
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
    t.db.batch(vec![insert, entry]).await?;
    // Custom roles are hot state: the next request authorizes with the new role.
    tenantry_edge::tenant_state::invalidate(&t.ctx.env, &t.tenant.id).await?;
    json(
        201,
        &json!({"name": role.name, "builtin": false, "permissions": role.permissions}),
    )
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

async fn update_settings(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("settings", "update"))?;
    let body: serde_json::Map<String, serde_json::Value> = read_json(req).await?;
    if body.len() > 50 {
        return Err(invalid("settings", "at most 50 keys at once"));
    }
    let before = load_settings(t).await?;
    let mut statements = Vec::new();
    for (key, value) in &body {
        if key.is_empty()
            || key.len() > 64
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        {
            return Err(invalid(
                key,
                "setting names are 1 to 64 characters of a-z, 0-9, '_' and '.'",
            ));
        }
        if value.to_string().len() > 4096 {
            return Err(invalid(
                key,
                "a setting's value is at most 4096 bytes of JSON",
            ));
        }
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
    json(200, &load_settings(t).await?)
}

const APPOINTMENT_COLUMNS: &str =
    "id, client_id, employee_id, starts_at, ends_at, status, notes, created_at, updated_at";

#[derive(Serialize, Deserialize)]
struct Appointment {
    id: String,
    client_id: String,
    employee_id: String,
    starts_at: i64,
    ends_at: i64,
    status: String,
    notes: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAppointment {
    client_id: String,
    employee_id: Option<String>,
    starts_at: i64,
    ends_at: i64,
    notes: Option<String>,
}

async fn load_appointment(t: &TenantCtx<'_>, id: &str) -> Outcome<Appointment> {
    tenantry_core::ids::check(id, "apt")?;
    t.db.first(
        &format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE tenant_id = ?1 AND id = ?2"),
        &[text(id)],
    )
    .await?
    .ok_or_else(|| not_found("appointment"))
}

async fn create_appointment(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("appointments", "create"))?;
    let body: NewAppointment = read_json(req).await?;
    tenantry_core::ids::check(&body.client_id, "cli")
        .map_err(|_| invalid("client_id", "is not a client id"))?;
    stored_int("starts_at", body.starts_at)?;
    stored_int("ends_at", body.ends_at)?;
    validate::time_range(body.starts_at, body.ends_at)?;
    if body.notes.as_ref().is_some_and(|n| n.len() > 2000) {
        return Err(invalid("notes", "at most 2000 characters"));
    }
    let client =
        t.db.count(
            "SELECT COUNT(*) AS n FROM clients WHERE tenant_id = ?1 AND id = ?2",
            &[text(&body.client_id)],
        )
        .await?;
    if client == 0 {
        return Err(invalid("client_id", "no such client in this tenant"));
    }
    let this_month =
        t.db.count(
            "SELECT COUNT(*) AS n FROM appointments WHERE tenant_id = ?1 AND created_at >= ?2",
            &[int(tenantry_core::calendar::month_start(t.ctx.now))],
        )
        .await?;
    t.limits()
        .check(Quota::AppointmentsPerMonth, this_month, 1)
        .map_err(Problem::from)?;
    let employee = body
        .employee_id
        .clone()
        .unwrap_or_else(|| t.principal.subject.clone());
    let id = new_id("apt");
    let insert = t.db.statement(
        "INSERT INTO appointments (tenant_id, id, client_id, employee_id, starts_at, ends_at, status, notes, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'scheduled', ?7, ?8, ?8)",
        &[text(&id), text(&body.client_id), text(&employee), int(body.starts_at), int(body.ends_at), opt_text(body.notes.as_deref()), int(t.ctx.now)],
    )?;
    let entry = t.audit("appointment.create", "appointments", Some(&id), None, Some(
            json!({"client_id": body.client_id, "employee_id": employee, "starts_at": body.starts_at}),
        ))?;
    t.db.batch(vec![insert, entry]).await?;
    json(201, &load_appointment(t, &id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppointmentPatch {
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    status: Option<String>,
    notes: Option<String>,
}

async fn update_appointment(req: &mut Request, t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    let before = load_appointment(t, id).await?;
    // An employee may update only its own appointments (`appointments:update:own`).
    t.require(Required::new("appointments", "update").owned_by(&before.employee_id))?;
    let body: AppointmentPatch = read_json(req).await?;
    if let Some(status) = &body.status
        && !matches!(
            status.as_str(),
            "scheduled" | "confirmed" | "completed" | "cancelled" | "no_show"
        )
    {
        return Err(invalid(
            "status",
            "must be scheduled, confirmed, completed, cancelled or no_show",
        ));
    }
    if let Some(at) = body.starts_at {
        stored_int("starts_at", at)?;
    }
    if let Some(at) = body.ends_at {
        stored_int("ends_at", at)?;
    }
    validate::time_range(
        body.starts_at.unwrap_or(before.starts_at),
        body.ends_at.unwrap_or(before.ends_at),
    )?;
    let update = t.db.statement(
        "UPDATE appointments SET starts_at = COALESCE(?3, starts_at), ends_at = COALESCE(?4, ends_at), status = COALESCE(?5, status), notes = COALESCE(?6, notes), updated_at = ?7 WHERE tenant_id = ?1 AND id = ?2",
        &[text(id), body.starts_at.map_or(wasm_bindgen::JsValue::NULL, int), body.ends_at.map_or(wasm_bindgen::JsValue::NULL, int), opt_text(body.status.as_deref()), opt_text(body.notes.as_deref()), int(t.ctx.now)],
    )?;
    let entry = t.audit(
        "appointment.update",
        "appointments",
        Some(id),
        serde_json::to_value(&before).ok(),
        Some(json!({"status": body.status, "starts_at": body.starts_at})),
    )?;
    t.db.batch(vec![update, entry]).await?;
    json(200, &load_appointment(t, id).await?)
}
