//! A tenant's appointments; an employee updates only its own (`:own`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::limits::Quota;
use tenantry_core::rbac::Required;
use tenantry_core::validate;
use tenantry_edge::db::{int, opt_int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::{Outcome, new_id};
use worker::{Request, Response};

static APPOINTMENTS: Order = Order {
    columns: &["starts_at", "id"],
    descending: false,
};

pub async fn list(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("appointments", "read"))?;
    let page = Page::from_request(req, &APPOINTMENTS)?;
    let (clause, args) = page.clause(2);
    let rows: Vec<Appointment> =
        t.db.all(
            &format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE tenant_id = ?1{clause}"),
            &args,
        )
        .await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.starts_at), json!(r.id)]);
    json(200, &json!({"appointments": rows, "next_cursor": next}))
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

pub async fn create_appointment(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
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
    t.check_quota(
        Quota::AppointmentsPerMonth,
        "SELECT COUNT(*) AS n FROM appointments WHERE tenant_id = ?1 AND created_at >= ?2",
        &[int(tenantry_core::calendar::month_start(t.ctx.now))],
        1,
    )
    .await?;
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

pub async fn update_appointment(
    req: &mut Request,
    t: &TenantCtx<'_>,
    id: &str,
) -> Outcome<Response> {
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
        &[text(id), opt_int(body.starts_at), opt_int(body.ends_at), opt_text(body.status.as_deref()), opt_text(body.notes.as_deref()), int(t.ctx.now)],
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
