//! A mail domain's mailboxes. Every change takes the next directory version, so the relay
//! pulls it as a delta; a mailbox deleted takes its app passwords with it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::limits::{Limit, Quota};
use tenantry_core::mail::Address;
use tenantry_core::rbac::Required;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::Outcome;
use tenantry_edge::db::{int, opt_text, text};
use tenantry_edge::http::{invalid, json, not_found, read_json, stored_int};
use tenantry_edge::mail_domain::{self, CURRENT_VERSION, next_version};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use worker::{Request, Response};

static BY_ADDRESS: Order = Order {
    columns: &["address"],
    descending: false,
};

pub async fn list(req: &Request, t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "read"))?;
    let d = mail_domain::find(t, domain).await?;
    let page = Page::from_request(req, &BY_ADDRESS)?;
    let (clause, mut args) = page.clause(3);
    args.insert(0, text(&d.domain));
    let rows: Vec<MailboxRow> = t.db.all(&format!("SELECT address, domain, kind, owner, quota_mb, status, created_at FROM mailboxes WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0{clause}"), &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.address)]);
    json(200, &json!({"mailboxes": rows, "next_cursor": next}))
}

#[derive(Serialize, Deserialize)]
struct MailboxRow {
    address: String,
    domain: String,
    kind: String,
    owner: Option<String>,
    quota_mb: i64,
    status: String,
    created_at: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMailbox {
    address: String,
    kind: String,
    owner: Option<String>,
    quota_mb: Option<i64>,
}

pub async fn create(req: &mut Request, t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "create"))?;
    let d = mail_domain::find(t, domain).await?;
    let body: NewMailbox = read_json(req).await?;
    let address = Address::parse(&body.address).map_err(|e| invalid("address", e))?;
    if address.domain() != d.domain {
        return Err(invalid(
            "address",
            format!("must be an address of {}", d.domain),
        ));
    }
    if !matches!(body.kind.as_str(), "personal" | "organizational") {
        return Err(invalid("kind", "must be personal or organizational"));
    }
    let quota = stored_int("quota_mb", body.quota_mb.unwrap_or(-1))?;
    if quota < -1 || quota == 0 {
        return Err(invalid(
            "quota_mb",
            "must be positive, or -1 for the domain's quota only",
        ));
    }
    let in_domain = t.db.count("SELECT COUNT(*) AS n FROM mailboxes WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0",
        &[text(&d.domain)],
    )
    .await?;
    let domain_limit = Limit::from_i64(d.max_mailboxes);
    if !domain_limit.allows(in_domain, 1) {
        return Err(Problem::new(
            ErrorCode::QuotaExceeded,
            format!("{} allows {} mailboxes", d.domain, domain_limit.as_i64()),
        )
        .with("quota", "max_mailboxes")
        .with("current", in_domain)
        .with("limit", domain_limit.as_i64())
        .with("requested", 1));
    }
    t.check_quota(
        Quota::Mailboxes,
        "SELECT COUNT(*) AS n FROM mailboxes WHERE tenant_id = ?1 AND deleted = 0",
        &[],
        1,
    )
    .await?;
    let insert = t.db.statement(
        &format!("INSERT INTO mailboxes (tenant_id, address, domain, kind, owner, quota_mb, status, version, deleted, created_at) \
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', {CURRENT_VERSION}, 0, ?7) \
                  ON CONFLICT (tenant_id, address) DO UPDATE SET kind = excluded.kind, owner = excluded.owner, quota_mb = excluded.quota_mb, \
                  status = 'active', version = excluded.version, deleted = 0, created_at = excluded.created_at WHERE mailboxes.deleted = 1"),
        &[text(address.as_str()), text(&d.domain), text(&body.kind), opt_text(body.owner.as_deref()), int(quota), int(t.ctx.now)],
    )?;
    let exists = t.db.count("SELECT COUNT(*) AS n FROM mailboxes WHERE tenant_id = ?1 AND address = ?2 AND deleted = 0",
        &[text(address.as_str())],
    )
    .await?;
    if exists > 0 {
        return Err(Problem::new(
            ErrorCode::Conflict,
            format!("{} already exists", address.as_str()),
        ));
    }
    let entry = t.audit(
        "mailbox.create",
        "mail",
        Some(address.as_str()),
        None,
        Some(json!({"address": address.as_str(), "kind": body.kind, "quota_mb": quota})),
    )?;
    t.db.batch(vec![next_version(t)?, insert, entry]).await?;
    let row: Option<MailboxRow> = t.db.first("SELECT address, domain, kind, owner, quota_mb, status, created_at FROM mailboxes WHERE tenant_id = ?1 AND address = ?2 AND deleted = 0", &[text(address.as_str())]).await?;
    json(
        201,
        &row.ok_or_else(|| {
            Problem::new(ErrorCode::Conflict, "the address belongs to another tenant")
        })?,
    )
}

pub async fn delete(t: &TenantCtx<'_>, domain: &str, address: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "delete"))?;
    let d = mail_domain::find(t, domain).await?;
    let address = Address::parse(address).map_err(|e| invalid("address", e))?;
    if address.domain() != d.domain {
        return Err(invalid(
            "address",
            format!("must be an address of {}", d.domain),
        ));
    }
    let live = t.db.count("SELECT COUNT(*) AS n FROM mailboxes WHERE tenant_id = ?1 AND address = ?2 AND deleted = 0",
        &[text(address.as_str())],
    )
    .await?;
    if live == 0 {
        return Err(not_found("mailbox"));
    }
    let tombstone = t.db.statement(
        &format!("UPDATE mailboxes SET deleted = 1, version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND address = ?2"),
        &[text(address.as_str())],
    )?;
    // Its app passwords go with it: a mailbox made again later at the address must not
    // sign in with its predecessor's.
    let passwords = t.db.statement(
        &format!("UPDATE mail_app_passwords SET deleted = 1, hash = '', version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND mailbox = ?2 AND deleted = 0"),
        &[text(address.as_str())],
    )?;
    let entry = t.audit("mailbox.delete", "mail", Some(address.as_str()), None, None)?;
    t.db.batch(vec![next_version(t)?, tombstone, passwords, entry])
        .await?;
    tenantry_edge::http::no_content()
}
