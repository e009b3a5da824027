//! The transactional outbox: a message the platform sends is rendered by the core and
//! inserted in the same D1 batch as the change that causes it, so it is sent if and
//! only if the change is committed. The relay claims and delivers it
//! (`GET /v1/relay/outbox`).

use crate::config::{console_url, mail_from};
use crate::db::{PlatformDb, TenantDb, int, text};
use crate::{Outcome, new_id, random_bytes};
use tenantry_core::mail::Address;
use tenantry_core::notify::{Envelope, Locale, Notice, render, subject};
use worker::{D1Database, D1PreparedStatement, Env};

/// One message to queue.
pub struct Outgoing<'a> {
    /// The tenant concerned; `None` for the platform's own (an account's reset).
    pub tenant_id: Option<&'a str>,
    /// The sender's display name: the tenant's name, or `Tenantry`.
    pub sender_name: &'a str,
    pub to: &'a Address,
    pub notice: Notice<'a>,
    pub locale: Locale,
}

/// The console link that carries `token` to the page `page` (in the fragment, so that
/// it never reaches a server's access log).
pub fn link(env: &Env, page: &str, token: &str) -> Outcome<String> {
    Ok(format!("{}/#/{page}?token={token}", console_url(env)?))
}

/// The insert of `message` into `outbound_messages`.
pub fn statement(
    env: &Env,
    db: &D1Database,
    message: Outgoing<'_>,
    now: i64,
) -> Outcome<D1PreparedStatement> {
    let from = mail_from(env)?;
    let nonce: [u8; 16] = random_bytes();
    let message_id = format!(
        "{}@{}",
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        from.domain()
    );
    let envelope = Envelope {
        from_name: message.sender_name,
        from_address: from.as_str(),
        to: message.to.as_str(),
        message_id: &message_id,
        date: now,
    };
    let rendered = render(&message.notice, message.locale, &envelope);
    let subject = subject(&message.notice, message.locale);
    let id = new_id("msg");
    let values = [
        text(&id),
        text(message.notice.template()),
        text(message.to.as_str()),
        text(&subject),
        text(&rendered),
        int(now),
    ];
    match message.tenant_id {
        Some(tenant_id) => TenantDb::new(db, tenant_id).statement(
            "INSERT INTO outbound_messages (tenant_id, id, template, recipient, subject, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &values,
        ),
        None => PlatformDb(db).statement(
            "INSERT INTO outbound_messages (id, template, recipient, subject, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &values,
        ),
    }
}
