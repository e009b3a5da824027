//! A tenant's mail domain as the mail Workers find it (`mail` for the domains themselves,
//! `mailboxes` and `certificates` for what belongs to one): named in the path, parsed as a
//! host name and looked up among the tenant's live domains only.

use crate::Outcome;
use crate::db::text;
use crate::http::{invalid, not_found};
use crate::tenant_ctx::TenantCtx;
use serde::Deserialize;
use tenantry_core::tenant::Hostname;
use worker::D1PreparedStatement;

pub use crate::directory::CURRENT_VERSION;

/// A mail domain name from a request, in normal form; 400 when it is not a fully
/// qualified domain name.
pub fn parse(domain: &str) -> Outcome<String> {
    let host = Hostname::parse(domain).map_err(|e| invalid("domain", e))?;
    if !host.as_str().contains('.') || domain.contains(':') {
        return Err(invalid("domain", "must be a fully qualified domain name"));
    }
    Ok(host.as_str().to_string())
}

/// What the Workers that manage a domain's mailboxes or certificate need of it.
#[derive(Debug, Deserialize)]
pub struct MailDomain {
    /// The name, in normal form.
    pub domain: String,
    /// The most mailboxes it may have (-1: unlimited).
    pub max_mailboxes: i64,
}

/// The tenant's live domain `domain`; 404 when the tenant has none by that name (another
/// tenant's domain included).
pub async fn find(t: &TenantCtx<'_>, domain: &str) -> Outcome<MailDomain> {
    let domain = parse(domain)?;
    t.db.first(
        "SELECT domain, max_mailboxes FROM mail_domains WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0",
        &[text(&domain)],
    )
    .await?
    .ok_or_else(|| not_found("mail domain"))
}

/// The statement that takes the next directory version for this request's change: first
/// in the batch, so that the rows stamped with [`CURRENT_VERSION`] reach the relays.
pub fn next_version(t: &TenantCtx<'_>) -> Outcome<D1PreparedStatement> {
    crate::directory::next_version(&t.ctx.db, t.ctx.now)
}
