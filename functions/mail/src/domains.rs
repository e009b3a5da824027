//! Mail domains of a tenant. Every change takes the next directory version, so the relay
//! pulls it as a delta.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::mail::authentication::DmarcHandling;
use tenantry_core::mail::proof::{self, Challenge, ClaimState, ProofSettings};
use tenantry_core::rbac::Required;
use tenantry_core::tenant::Hostname;
use tenantry_core::{ErrorCode, Problem, validate};
use tenantry_edge::claims::{self, Actor, ClaimRow, claims_on};
use tenantry_edge::config::{proof_settings, reserved_names};
use tenantry_edge::db::{int, opt_int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::routes::{Route, misrouted};
use tenantry_edge::tenant_ctx::{Admitted, TenantCtx};
use tenantry_edge::{Outcome, mail_domain};
use worker::{D1PreparedStatement, Request, Response};

static BY_DOMAIN: Order = Order {
    columns: &["domain"],
    descending: false,
};

pub(crate) use tenantry_edge::mail_domain::{CURRENT_VERSION, next_version};

#[derive(Serialize, Deserialize)]
pub(crate) struct DomainRow {
    pub(crate) domain: String,
    finess: Option<String>,
    organization_name: String,
    organization_type: String,
    status: ClaimState,
    max_mailboxes: i64,
    max_storage_mb: i64,
    dmarc_handling: String,
    created_at: i64,
    #[serde(skip_serializing)]
    proof_token: String,
    #[serde(skip_serializing)]
    proven_at: Option<i64>,
    #[serde(skip_serializing)]
    vouched_by: Option<String>,
    #[serde(skip_serializing)]
    proof_checked_at: Option<i64>,
    #[serde(skip_serializing)]
    proof_missing_since: Option<i64>,
}

const DOMAIN_COLUMNS: &str = "domain, finess, organization_name, organization_type, status, max_mailboxes, max_storage_mb, dmarc_handling, created_at, \
     proof_token, proven_at, vouched_by, proof_checked_at, proof_missing_since";

impl DomainRow {
    /// The domain as the API answers it: its fields, the DNS record that proves it, and
    /// where its proof stands.
    fn view(&self, settings: &ProofSettings) -> serde_json::Value {
        let mut view = serde_json::to_value(self).unwrap_or_default();
        let method = match (&self.vouched_by, self.proven_at) {
            (Some(_), _) => Some("vouched"),
            (None, Some(_)) => Some("dns"),
            (None, None) => None,
        };
        view["verification"] = json!(Challenge::new(&self.domain, &self.proof_token));
        view["proof"] = json!({
            "method": method,
            "proven_at": self.proven_at,
            "checked_at": self.proof_checked_at,
            "missing_since": self.proof_missing_since,
            "lapses_at": self.proof_missing_since.map(|since| settings.lapses_at(since)),
        });
        view
    }

    /// Whether the domain is this tenant's to host (proven or vouched for): only then
    /// do relays hear of it.
    pub(crate) fn is_held(&self) -> bool {
        self.status.holds_the_name()
    }
}

pub(crate) async fn load_domain(t: &TenantCtx<'_>, domain: &str) -> Outcome<DomainRow> {
    let domain = mail_domain::parse(domain)?;
    t.db.first(
        &format!("SELECT {DOMAIN_COLUMNS} FROM mail_domains WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
        &[text(&domain)],
    )
    .await?
    .ok_or_else(|| not_found("mail domain"))
}

pub async fn route(mut req: Request, t: &TenantCtx<'_>, m: &Admitted) -> Outcome<Response> {
    match m.route {
        Route::ListMailDomains => {
            t.require(Required::new("mail", "read"))?;
            let page = Page::from_request(&req, &BY_DOMAIN)?;
            let (clause, args) = page.clause(2);
            let rows: Vec<DomainRow> = t.db.all(&format!("SELECT {DOMAIN_COLUMNS} FROM mail_domains WHERE tenant_id = ?1 AND deleted = 0{clause}"), &args).await?;
            let (rows, next) = page.finish(rows, |r| vec![json!(r.domain)]);
            let settings = proof_settings(&t.ctx.env)?;
            let rows: Vec<_> = rows.iter().map(|r| r.view(&settings)).collect();
            json(200, &json!({"domains": rows, "next_cursor": next}))
        }
        Route::CreateMailDomain => create_domain(&mut req, t).await,
        Route::UpdateMailDomain => update_domain(&mut req, t, m.param(0)).await,
        Route::VerifyMailDomain => verify_domain(t, m.param(0)).await,
        Route::ListDkimKeys => crate::dkim::list(t, m.param(0)).await,
        Route::MailDomainRecords => crate::records::get(t, m.param(0)).await,
        Route::CreateDkimKey => crate::dkim::create(&mut req, t, m.param(0)).await,
        Route::MailDomainUsage => {
            let domain = m.param(0);
            t.require(Required::new("mail", "read"))?;
            let d = load_domain(t, domain).await?;
            #[derive(Serialize, Deserialize)]
            struct UsageRow {
                day: String,
                messages: f64,
                bytes: f64,
                storage_bytes: f64,
            }
            let rows: Vec<UsageRow> = t.db.all("SELECT day, messages, bytes, storage_bytes FROM mail_usage WHERE tenant_id = ?1 AND domain = ?2 ORDER BY day", &[text(&d.domain)]).await?;
            let days: Vec<_> = rows.iter().map(|r| json!({"day": r.day, "messages": r.messages as i64, "bytes": r.bytes as i64, "storage_bytes": r.storage_bytes as i64})).collect();
            json(200, &json!({"domain": d.domain, "days": days}))
        }
        _ => Err(misrouted()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    domain: String,
    finess: Option<String>,
    organization_name: String,
    organization_type: String,
    max_mailboxes: i64,
    max_storage_mb: i64,
}

async fn create_domain(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("mail", "create"))?;
    let body: NewDomain = read_json(req).await?;
    let domain = mail_domain::parse(&body.domain)?;
    if let Some(finess) = &body.finess
        && (finess.len() != 9 || !finess.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(invalid("finess", "must be 9 characters (FINESS number)"));
    }
    validate::name("organization_name", &body.organization_name, 200)?;
    validate::name("organization_type", &body.organization_type, 60)?;
    for (field, value) in [
        ("max_mailboxes", body.max_mailboxes),
        ("max_storage_mb", body.max_storage_mb),
    ] {
        validate::capacity(field, value)?;
        stored_int(field, value)?;
    }
    // The name must be one the platform does not keep, and not held by another tenant;
    // other tenants' pending claims do not stand in the way (the first proof wins).
    reserved_names(&t.ctx.env)?
        .check(&Hostname::parse(&domain).map_err(|e| invalid("domain", e))?)
        .map_err(|reserved| invalid("domain", reserved))?;
    let mut claims = claims_on(&t.ctx.db, &[&domain]).await?;
    proof::may_claim(
        &claims.iter().map(ClaimRow::claim).collect::<Vec<_>>(),
        &t.tenant.id,
    )?;
    let token = proof::new_token(tenantry_edge::random_bytes());
    // A claim released earlier (another tenant proved the name) may be made again.
    let insert = t.db.statement(
        &format!("INSERT INTO mail_domains (tenant_id, domain, finess, organization_name, organization_type, status, max_mailboxes, max_storage_mb, version, deleted, created_at, proof_token) \
                  VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, {CURRENT_VERSION}, 0, ?8, ?9) \
                  ON CONFLICT (tenant_id, domain) DO UPDATE SET finess = excluded.finess, organization_name = excluded.organization_name, \
                  organization_type = excluded.organization_type, status = 'pending', max_mailboxes = excluded.max_mailboxes, \
                  max_storage_mb = excluded.max_storage_mb, version = excluded.version, deleted = 0, created_at = excluded.created_at, \
                  proof_token = excluded.proof_token, proven_at = NULL, vouched_by = NULL, proof_checked_at = NULL, proof_missing_since = NULL \
                  WHERE mail_domains.deleted = 1"),
        &[text(&domain), opt_text(body.finess.as_deref()), text(&body.organization_name), text(&body.organization_type), int(body.max_mailboxes), int(body.max_storage_mb), int(t.ctx.now), text(&token)],
    )?;
    let entry = t.audit("mail_domain.create", "mail", Some(&domain), None, Some(
            json!({"domain": domain, "status": "pending", "max_mailboxes": body.max_mailboxes, "max_storage_mb": body.max_storage_mb}),
        ))?;
    let mut statements = vec![next_version(t)?, insert, entry];
    // A superadmin creates the domain vouched for, without DNS (audited by the platform).
    if t.principal.is_superadmin() {
        claims.push(ClaimRow {
            tenant_id: t.tenant.id.clone(),
            domain: domain.clone(),
            status: ClaimState::Pending,
            proof_token: token,
            created_at: t.ctx.now as f64,
            vouched_by: None,
            proof_missing_since: None,
            tenant_name: t.tenant.name.clone(),
        });
        statements.extend(vouch_statements(t, &claims, &domain).await?);
    }
    t.db.batch(statements).await?;
    json(
        201,
        &load_domain(t, &domain)
            .await?
            .view(&proof_settings(&t.ctx.env)?),
    )
}

/// A superadmin vouches for this tenant's claim: active without DNS, the other pending
/// claims released, and the act in the platform audit.
async fn vouch_statements(
    t: &TenantCtx<'_>,
    claims: &[ClaimRow],
    domain: &str,
) -> Outcome<Vec<D1PreparedStatement>> {
    let decisions = proof::vouch(
        &claims.iter().map(ClaimRow::claim).collect::<Vec<_>>(),
        &t.tenant.id,
    )?;
    let actor = Actor {
        id: &t.principal.subject,
        request_id: &t.ctx.request_id,
        vouching: true,
        now: t.ctx.now,
    };
    let settings = proof_settings(&t.ctx.env)?;
    let mut statements = claims::write(
        &t.ctx.db, &t.ctx.env, claims, domain, &decisions, &actor, &settings,
    )
    .await?;
    statements.push(tenantry_edge::audit::platform_statement(
        &t.ctx.db,
        &t.principal.subject,
        "mail_domain.vouch",
        Some(domain),
        &json!({"tenant_id": t.tenant.id, "domain": domain,
                "released": decisions.iter().filter(|(_, c)| *c == proof::Change::Released).count()}),
        &t.ctx.request_id,
        t.ctx.now,
    )?);
    Ok(statements)
}

/// `POST /v1/mail/domains/{domain}/verify`: the record is looked up at the relays' next
/// round (about a minute) instead of at its turn.
async fn verify_domain(t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let d = load_domain(t, domain).await?;
    t.db.run(
        "UPDATE mail_domains SET proof_checked_at = NULL WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0",
        &[text(&d.domain)],
    )
    .await?;
    json(
        202,
        &load_domain(t, &d.domain)
            .await?
            .view(&proof_settings(&t.ctx.env)?),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainPatch {
    status: Option<String>,
    organization_name: Option<String>,
    max_mailboxes: Option<i64>,
    max_storage_mb: Option<i64>,
    dmarc_handling: Option<String>,
}

async fn update_domain(req: &mut Request, t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let before = load_domain(t, domain).await?;
    let body: DomainPatch = read_json(req).await?;
    let status = match body.status.as_deref() {
        None => None,
        Some("active") => Some(ClaimState::Active),
        Some("suspended") => Some(ClaimState::Suspended),
        Some(_) => return Err(invalid("status", "must be active or suspended")),
    };
    if status.is_some() && !t.principal.is_superadmin() {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "missing permission platform:mail-status (the platform superadmin sets domain status)",
        )
        .with("permission", "platform:mail-status"));
    }
    if status == Some(ClaimState::Suspended) && !before.is_held() {
        return Err(Problem::new(
            ErrorCode::Conflict,
            "a pending domain is hosted for nothing: there is nothing to suspend",
        ));
    }
    for (field, value) in [
        ("max_mailboxes", body.max_mailboxes),
        ("max_storage_mb", body.max_storage_mb),
    ] {
        if let Some(v) = value {
            validate::capacity(field, v)?;
            stored_int(field, v)?;
        }
    }
    let dmarc_handling = match body.dmarc_handling.as_deref() {
        None => None,
        Some(name) => Some(DmarcHandling::parse(name).ok_or_else(|| {
            invalid(
                "dmarc_handling",
                "must be policy, reject, quarantine or tag",
            )
        })?),
    };
    // Activating a pending or lapsed domain is vouching for it; between active and
    // suspended the status is the superadmin's switch.
    let vouch = status == Some(ClaimState::Active)
        && matches!(before.status, ClaimState::Pending | ClaimState::Lapsed);
    let switch = status.filter(|_| !vouch).map(ClaimState::as_str);
    let update = t.db.statement(
        &format!("UPDATE mail_domains SET status = COALESCE(?3, status), organization_name = COALESCE(?4, organization_name), \
                  max_mailboxes = COALESCE(?5, max_mailboxes), max_storage_mb = COALESCE(?6, max_storage_mb), \
                  dmarc_handling = COALESCE(?7, dmarc_handling), version = {CURRENT_VERSION} \
                  WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
        &[text(&before.domain), opt_text(switch), opt_text(body.organization_name.as_deref()),
          opt_int(body.max_mailboxes), opt_int(body.max_storage_mb), opt_text(dmarc_handling.map(DmarcHandling::as_str))],
    )?;
    let entry = t.audit("mail_domain.update", "mail", Some(&before.domain), serde_json::to_value(&before).ok(), Some(
            json!({"status": body.status, "max_mailboxes": body.max_mailboxes, "max_storage_mb": body.max_storage_mb,
                   "dmarc_handling": body.dmarc_handling}),
        ))?;
    let mut statements = vec![next_version(t)?, update, entry];
    if vouch {
        let claims = claims_on(&t.ctx.db, &[&before.domain]).await?;
        statements.extend(vouch_statements(t, &claims, &before.domain).await?);
    }
    if let Some(switch) = switch {
        statements.push(tenantry_edge::audit::platform_statement(
            &t.ctx.db,
            &t.principal.subject,
            "mail_domain.status",
            Some(&before.domain),
            &json!({"tenant_id": t.tenant.id, "status": switch}),
            &t.ctx.request_id,
            t.ctx.now,
        )?);
    }
    t.db.batch(statements).await?;
    json(
        200,
        &load_domain(t, &before.domain)
            .await?
            .view(&proof_settings(&t.ctx.env)?),
    )
}
