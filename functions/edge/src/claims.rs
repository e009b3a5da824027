//! Mail domain claims as the registry stores them, and the writes that carry out the
//! core's decisions (`mail::proof`): shared by the mail Worker (claims, a superadmin's
//! vouch) and the relay API (what relays' lookups found).

use crate::audit::{self, Entry};
use crate::db::{PlatformDb, TenantDb, int, opt_text, text};
use crate::directory::{CURRENT_VERSION, next_version};
use crate::outbox::{self, Outgoing};
use crate::{Outcome, internal};
use serde::Deserialize;
use serde_json::json;
use tenantry_core::mail::Address;
use tenantry_core::mail::proof::{Change, Claim, ClaimState, Decision, ProofSettings};
use tenantry_core::notify::{Locale, Notice};
use worker::{D1Database, D1PreparedStatement, Env};

/// A live claim as stored, with its tenant's name (for the mail a release sends).
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimRow {
    pub tenant_id: String,
    pub domain: String,
    pub status: ClaimState,
    pub proof_token: String,
    pub created_at: f64,
    pub vouched_by: Option<String>,
    pub proof_missing_since: Option<f64>,
    pub tenant_name: String,
}

impl ClaimRow {
    /// The claim as the core reads it.
    pub fn claim(&self) -> Claim {
        Claim {
            tenant_id: self.tenant_id.clone(),
            state: self.status,
            token: self.proof_token.clone(),
            created_at: self.created_at as i64,
            vouched: self.vouched_by.is_some(),
            missing_since: self.proof_missing_since.map(|s| s as i64),
        }
    }
}

/// Every live claim on `domains`, of every tenant: a read of the platform's registry
/// (which names are held is the platform's business; no tenant's records are read).
pub async fn claims_on(db: &D1Database, domains: &[&str]) -> Outcome<Vec<ClaimRow>> {
    PlatformDb(db)
        .all(
            "SELECT d.tenant_id, d.domain, d.status, d.proof_token, d.created_at, d.vouched_by, d.proof_missing_since, t.name AS tenant_name \
             FROM mail_domains d JOIN tenants t ON t.id = d.tenant_id \
             WHERE d.domain IN (SELECT value FROM json_each(?1)) AND d.deleted = 0 AND t.status != 'deleted' \
             ORDER BY d.created_at, d.tenant_id LIMIT 1000",
            &[text(&serde_json::to_string(domains).map_err(internal)?)],
        )
        .await
}

/// Who makes the change and under which request, for the audit.
pub struct Actor<'a> {
    pub id: &'a str,
    pub request_id: &'a str,
    /// The superadmin vouching for the claim, when it is a vouch.
    pub vouching: bool,
    /// The time of the change.
    pub now: i64,
}

/// The tables whose rows follow their domain to relays (all but the domain itself), each
/// with the expression that gives a row's domain.
const DOMAIN_TABLES: [(&str, &str); 5] = [
    ("mailboxes", "domain"),
    ("mail_aliases", "domain"),
    (
        "mail_app_passwords",
        "substr(mailbox, instr(mailbox, '@') + 1)",
    ),
    ("mail_dkim_keys", "domain"),
    ("mail_certificates", "domain"),
];

/// What each table's rows lose when their claim is released (secrets erased with them).
fn erased(table: &str) -> &'static str {
    match table {
        "mail_app_passwords" => ", hash = ''",
        "mail_dkim_keys" => ", private_key = ''",
        "mail_certificates" => ", chain_pem = '', private_key = ''",
        _ => "",
    }
}

/// The statements that write `decisions` about `domain`'s claims (`rows`), each change
/// with its audit entry in the claim's tenant, the released claims' owners told by mail;
/// the first statement takes a new directory version when relays must hear of it.
pub async fn write(
    db: &D1Database,
    env: &Env,
    rows: &[ClaimRow],
    domain: &str,
    decisions: &[Decision],
    actor: &Actor<'_>,
    settings: &ProofSettings,
) -> Outcome<Vec<D1PreparedStatement>> {
    let now = actor.now;
    let mut statements = Vec::new();
    let relays_hear = decisions.iter().any(|(_, c)| {
        matches!(
            c,
            Change::Proven | Change::Released | Change::Restored | Change::Lapsed { .. }
        )
    });
    if relays_hear {
        statements.push(next_version(db, now)?);
    }
    for (tenant_id, change) in decisions {
        let Some(row) = rows.iter().find(|r| &r.tenant_id == tenant_id) else {
            continue;
        };
        let tenant = TenantDb::new(db, tenant_id);
        let update = |set: &str| {
            tenant.statement(
                &format!("UPDATE mail_domains SET {set} WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
                &[text(domain), int(now)],
            )
        };
        let entry = |action: &str, after: serde_json::Value| {
            audit::statement(
                &tenant,
                Entry {
                    actor: actor.id,
                    action,
                    resource: "mail",
                    resource_id: Some(domain),
                    before: Some(json!({"status": row.status.as_str()})),
                    after: Some(after),
                },
                actor.request_id,
                now,
            )
        };
        match change {
            Change::Proven => {
                statements.push(tenant.statement(
                    &format!("UPDATE mail_domains SET status = 'active', proven_at = ?3, vouched_by = ?4, proof_checked_at = ?3, \
                              proof_missing_since = NULL, version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
                    &[text(domain), int(now), opt_text(actor.vouching.then_some(actor.id))],
                )?);
                // Its rows reach relays now, with the domain.
                for (table, domain_of) in DOMAIN_TABLES {
                    statements.push(tenant.statement(
                        &format!("UPDATE {table} SET version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND {domain_of} = ?2"),
                        &[text(domain)],
                    )?);
                }
                let action = if actor.vouching {
                    "mail_domain.vouched"
                } else {
                    "mail_domain.proven"
                };
                statements.push(entry(action, json!({"status": "active"}))?);
            }
            Change::Released => {
                statements.push(tenant.statement(
                    &format!("UPDATE mail_domains SET deleted = 1, version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
                    &[text(domain)],
                )?);
                for (table, domain_of) in DOMAIN_TABLES {
                    statements.push(tenant.statement(
                        &format!("UPDATE {table} SET deleted = 1{}, version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND {domain_of} = ?2 AND deleted = 0", erased(table)),
                        &[text(domain)],
                    )?);
                }
                statements.push(entry(
                    "mail_domain.released",
                    json!({"status": "released", "reason": "another tenant proved the domain first"}),
                )?);
                statements.extend(release_notices(db, env, row, now).await?);
            }
            Change::Unproven | Change::StillMissing { .. } => {
                statements.push(update("proof_checked_at = ?3")?);
            }
            Change::Confirmed => {
                statements.push(update("proof_checked_at = ?3, proof_missing_since = NULL")?);
                if row.proof_missing_since.is_some() {
                    statements.push(entry(
                        "mail_domain.proof_found",
                        json!({"status": row.status.as_str()}),
                    )?);
                }
            }
            Change::Restored => {
                statements.push(tenant.statement(
                    &format!("UPDATE mail_domains SET status = 'active', proof_checked_at = ?3, proof_missing_since = NULL, \
                              version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
                    &[text(domain), int(now)],
                )?);
                statements.push(entry("mail_domain.restored", json!({"status": "active"}))?);
            }
            Change::Missing { since, lapses_at } => {
                statements.push(tenant.statement(
                    "UPDATE mail_domains SET proof_checked_at = ?3, proof_missing_since = ?4 WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0",
                    &[text(domain), int(now), int(*since)],
                )?);
                statements.push(entry(
                    "mail_domain.proof_missing",
                    json!({"status": row.status.as_str(), "missing_since": since, "lapses_at": lapses_at,
                           "grace_secs": settings.grace_secs}),
                )?);
            }
            Change::Lapsed { since } => {
                statements.push(tenant.statement(
                    &format!("UPDATE mail_domains SET status = 'lapsed', proof_checked_at = ?3, version = {CURRENT_VERSION} \
                              WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0"),
                    &[text(domain), int(now)],
                )?);
                statements.push(entry(
                    "mail_domain.lapsed",
                    json!({"status": "lapsed", "missing_since": since}),
                )?);
            }
        }
    }
    Ok(statements)
}

/// The mail that tells a released claim's tenant owners why (bounded: at most 20).
async fn release_notices(
    db: &D1Database,
    env: &Env,
    row: &ClaimRow,
    now: i64,
) -> Outcome<Vec<D1PreparedStatement>> {
    #[derive(Deserialize)]
    struct Owner {
        email: String,
        locale: String,
    }
    let owners: Vec<Owner> = TenantDb::new(db, &row.tenant_id)
        .all(
            "SELECT u.email, u.locale FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = ?1 AND m.role = 'owner' AND u.status = 'active' LIMIT 20",
            &[],
        )
        .await?;
    let link = format!("{}/#/mail", crate::config::console_url(env)?);
    let mut statements = Vec::new();
    for owner in owners {
        let Ok(to) = Address::parse(&owner.email) else {
            continue;
        };
        statements.push(outbox::statement(
            env,
            db,
            Outgoing {
                tenant_id: Some(&row.tenant_id),
                sender_name: &row.tenant_name,
                to: &to,
                notice: Notice::DomainReleased {
                    tenant: &row.tenant_name,
                    domain: &row.domain,
                    link: &link,
                },
                locale: Locale::parse(&owner.locale).unwrap_or(Locale::En),
            },
            now,
        )?);
    }
    Ok(statements)
}
