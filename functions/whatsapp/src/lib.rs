//! The WhatsApp webhook Worker, reached only through the gateway:
//! `GET /webhook/whatsapp/{tenant_id}` answers Meta's subscribe handshake with that
//! tenant's verify token; `POST` verifies `X-Hub-Signature-256` with that tenant's app
//! secret and stores messages and status updates in that tenant only, once per message
//! id. Parsing and verification are `tenantry-core`'s.

use serde::Deserialize;
use serde_json::json;
use tenantry_core::webhook::{WebhookError, hub_challenge, verify_meta_signature};
use tenantry_core::whatsapp::{WebhookBatch, parse_webhook};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{PlatformDb, TenantDb, int, opt_text, text};
use tenantry_edge::http::{self, read_bytes};
use tenantry_edge::integrations::{self, Opened};
use tenantry_edge::{Outcome, config, internal, new_id};
use worker::{D1Database, Env, Method, Request, Response, event};

/// Meta sends small batches; anything larger is not a webhook.
const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

fn tenant_not_found() -> Problem {
    Problem::new(
        ErrorCode::TenantNotFound,
        "no active tenant with this id receives WhatsApp webhooks",
    )
}

/// The tenant's WhatsApp integration, when the tenant exists, is active and has one.
async fn integration(env: &Env, db: &D1Database, tenant_id: &str) -> Outcome<Opened> {
    #[derive(Deserialize)]
    struct Row {
        status: String,
    }
    let tenant: Option<Row> = PlatformDb(db)
        .first(
            "SELECT status FROM tenants WHERE id = ?1",
            &[text(tenant_id)],
        )
        .await?;
    if tenant.is_none_or(|t| t.status != "active") {
        return Err(tenant_not_found());
    }
    let keyring = config::keyring(env)?;
    integrations::load(&TenantDb::new(db, tenant_id), &keyring, "whatsapp")
        .await?
        .ok_or_else(tenant_not_found)
}

fn handshake(url: &worker::Url, opened: &Opened) -> Outcome<Response> {
    let expected = opened.secret("verify_token")?.unwrap_or_default();
    let (mode, token, challenge) = (
        http::query_param(url, "hub.mode"),
        http::query_param(url, "hub.verify_token"),
        http::query_param(url, "hub.challenge"),
    );
    let challenge = hub_challenge(
        mode.as_deref(),
        token.as_deref(),
        challenge.as_deref(),
        expected,
    )?;
    let mut response = Response::ok(challenge).map_err(tenantry_edge::internal)?;
    response
        .headers_mut()
        .set("content-type", "text/plain; charset=utf-8")
        .map_err(tenantry_edge::internal)?;
    Ok(response)
}

/// The statements that store a batch: conversations are unique per tenant and WhatsApp
/// id, messages per tenant and message id (a redelivery stores nothing new). Also
/// returns which statements insert messages, to count what was new.
fn store(
    db: &TenantDb<'_>,
    batch: &WebhookBatch,
    phone_number_id: &str,
) -> Outcome<(Vec<worker::D1PreparedStatement>, Vec<usize>)> {
    let mut statements = Vec::new();
    let mut message_inserts = Vec::new();
    for message in batch
        .messages
        .iter()
        .filter(|m| m.phone_number_id == phone_number_id)
    {
        statements.push(db.statement(
            "INSERT INTO conversations (tenant_id, id, wa_id, contact_name, last_message_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (tenant_id, wa_id) DO UPDATE SET last_message_at = max(last_message_at, excluded.last_message_at), \
             contact_name = coalesce(excluded.contact_name, contact_name)",
            &[
                text(&new_id("conv")),
                text(&message.from),
                opt_text(message.contact_name.as_deref()),
                int(message.timestamp),
            ],
        )?);
        message_inserts.push(statements.len());
        statements.push(db.statement(
            "INSERT INTO messages (tenant_id, message_id, conversation_id, direction, kind, body, status, sent_at) \
             VALUES (?1, ?2, (SELECT id FROM conversations WHERE tenant_id = ?1 AND wa_id = ?3), 'inbound', ?4, ?5, 'received', ?6) \
             ON CONFLICT (tenant_id, message_id) DO NOTHING",
            &[
                text(&message.message_id),
                text(&message.from),
                text(&message.kind),
                opt_text(message.text.as_deref()),
                int(message.timestamp),
            ],
        )?);
    }
    for status in batch
        .statuses
        .iter()
        .filter(|s| s.phone_number_id == phone_number_id)
    {
        statements.push(db.statement(
            "UPDATE messages SET status = ?3 WHERE tenant_id = ?1 AND message_id = ?2",
            &[text(&status.message_id), text(&status.status)],
        )?);
    }
    Ok((statements, message_inserts))
}

async fn receive(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    tenant_id: &str,
) -> Outcome<Response> {
    let opened = integration(env, db, tenant_id).await?;
    let body = read_bytes(req, MAX_WEBHOOK_BYTES).await?;
    let signature = req.headers().get("x-hub-signature-256").ok().flatten();
    // Without an app secret nothing can be verified: the core refuses the empty key and
    // the request is answered 500 `misconfigured`, never let through.
    let app_secret = opened.secret("app_secret")?.unwrap_or_default();
    verify_meta_signature(&body, signature.as_deref(), app_secret.as_bytes()).map_err(|e| {
        let status = if e == WebhookError::EmptySecret {
            500
        } else {
            401
        };
        Problem::from(e).with_status(status)
    })?;
    let batch = parse_webhook(&body)?;
    let phone_number_id = opened.setting("phone_number_id").unwrap_or_default();
    let tenant_db = TenantDb::new(db, tenant_id);
    let (statements, message_inserts) = store(&tenant_db, &batch, phone_number_id)?;
    let changes = if statements.is_empty() {
        Vec::new()
    } else {
        tenant_db.batch(statements).await?
    };
    let stored: usize = message_inserts.iter().map(|&i| changes[i]).sum();
    http::json(
        200,
        &json!({
            "received": batch.messages.len(),
            "stored": stored,
            "statuses": batch.statuses.len(),
        }),
    )
}

async fn handle(mut req: Request, env: &Env) -> Outcome<Response> {
    internal::verify::<tenantry_core::internal::NoEntry>(env, &req)?;
    let url = req.url().map_err(tenantry_edge::internal)?;
    let tenant_id = match url.path().strip_prefix("/webhook/whatsapp/") {
        Some(id) if !id.is_empty() && !id.contains('/') => id.to_string(),
        _ => return Err(http::not_found("route")),
    };
    let db = env
        .d1("DB")
        .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
    match req.method() {
        Method::Get => handshake(&url, &integration(env, &db, &tenant_id).await?),
        Method::Post => receive(&mut req, env, &db, &tenant_id).await,
        _ => Err(Problem::new(
            ErrorCode::MethodNotAllowed,
            "use GET for the handshake and POST for events",
        )),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(handle(req, &env).await, &request_id)
}
