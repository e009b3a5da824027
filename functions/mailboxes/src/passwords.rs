//! App passwords of a mailbox: what a mail client signs in with (SMTP submission, and
//! IMAP later). Shown once, stored as an Argon2id hash that reaches the relay with the
//! directory; revoking one is a directory tombstone.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::auth::password::PasswordScheme;
use tenantry_core::mail::Address;
use tenantry_core::mail::submission::{MAX_APP_PASSWORDS, app_password};
use tenantry_core::problem::{ErrorCode, Problem};
use tenantry_core::rbac::Required;
use tenantry_core::validate;
use tenantry_edge::db::{int, text};
use tenantry_edge::http::{invalid, json, no_content, not_found, read_json};
use tenantry_edge::mail_domain::{self, CURRENT_VERSION, next_version};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::{Outcome, new_id, password, random_bytes};
use worker::Response;

/// App passwords protect one mailbox each and are random (120 bits), so the hash only
/// has to stop a stolen table from being replayed: Argon2id at OWASP's minimum keeps
/// every AUTH cheap for the relay and is a scheme Dovecot verifies too.
const APP_PASSWORD_HASH: PasswordScheme = PasswordScheme::ARGON2ID_OWASP_MIN;

#[derive(Serialize, Deserialize)]
struct PasswordRow {
    id: String,
    label: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

/// The live mailbox `address` of `domain`, normalised.
async fn load_mailbox(t: &TenantCtx<'_>, domain: &str, address: &str) -> Outcome<String> {
    let d = mail_domain::find(t, domain).await?;
    let address = Address::parse(address).map_err(|e| invalid("address", e))?;
    if address.domain() != d.domain {
        return Err(not_found("mailbox"));
    }
    let live = t.db.count("SELECT COUNT(*) AS n FROM mailboxes WHERE tenant_id = ?1 AND address = ?2 AND deleted = 0",
        &[text(address.as_str())],
    )
    .await?;
    if live == 0 {
        return Err(not_found("mailbox"));
    }
    Ok(address.as_str().to_string())
}

pub async fn list(t: &TenantCtx<'_>, domain: &str, address: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "read"))?;
    let mailbox = load_mailbox(t, domain, address).await?;
    let rows: Vec<PasswordRow> = t.db.all(
        &format!("SELECT id, label, created_at, last_used_at FROM mail_app_passwords WHERE tenant_id = ?1 AND mailbox = ?2 AND deleted = 0 ORDER BY created_at, id LIMIT {MAX_APP_PASSWORDS}"),
        &[text(&mailbox)],
    )
    .await?;
    json(200, &json!({"mailbox": mailbox, "passwords": rows}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    label: String,
}

pub async fn create(
    req: &mut worker::Request,
    t: &TenantCtx<'_>,
    domain: &str,
    address: &str,
) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let mailbox = load_mailbox(t, domain, address).await?;
    let body: NewPassword = read_json(req).await?;
    validate::name("label", &body.label, 64)?;
    let existing = t.db.count("SELECT COUNT(*) AS n FROM mail_app_passwords WHERE tenant_id = ?1 AND mailbox = ?2 AND deleted = 0",
        &[text(&mailbox)],
    )
    .await?;
    if existing >= MAX_APP_PASSWORDS {
        return Err(Problem::new(
            ErrorCode::QuotaExceeded,
            format!("a mailbox has at most {MAX_APP_PASSWORDS} app passwords; revoke one first"),
        )
        .with("quota", "app_passwords")
        .with("current", existing)
        .with("limit", MAX_APP_PASSWORDS)
        .with("requested", 1));
    }
    let secret = app_password(&random_bytes());
    let hash = password::hash_new(APP_PASSWORD_HASH, &secret).await?;
    let id = new_id("ap");
    let insert = t.db.statement(
        &format!("INSERT INTO mail_app_passwords (tenant_id, id, mailbox, label, hash, created_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, {CURRENT_VERSION})"),
        &[text(&id), text(&mailbox), text(&body.label), text(&hash), int(t.ctx.now)],
    )?;
    let after = json!({"id": id, "mailbox": mailbox, "label": body.label});
    let entry = t.audit(
        "mail.app_password.create",
        "mail",
        Some(&id),
        None,
        Some(after.clone()),
    )?;
    t.db.batch(vec![next_version(t)?, insert, entry]).await?;
    let mut shown = after;
    shown["password"] = json!(secret);
    shown["created_at"] = json!(t.ctx.now);
    json(201, &shown)
}

pub async fn revoke(t: &TenantCtx<'_>, domain: &str, address: &str, id: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let mailbox = load_mailbox(t, domain, address).await?;
    tenantry_core::ids::check(id, "ap")?;
    let live = t.db.count("SELECT COUNT(*) AS n FROM mail_app_passwords WHERE tenant_id = ?1 AND mailbox = ?2 AND id = ?3 AND deleted = 0",
        &[text(&mailbox), text(id)],
    )
    .await?;
    if live == 0 {
        return Err(not_found("app password"));
    }
    // The hash goes with the revocation: a tombstone carries nothing to replay.
    let tombstone = t.db.statement(
        &format!("UPDATE mail_app_passwords SET deleted = 1, hash = '', version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND id = ?2"),
        &[text(id)],
    )?;
    let entry = t.audit("mail.app_password.revoke", "mail", Some(id), None, None)?;
    t.db.batch(vec![next_version(t)?, tombstone, entry]).await?;
    no_content()
}
