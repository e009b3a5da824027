//! A tenant's WhatsApp conversations and their messages (written by the WhatsApp Worker).

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::rbac::Required;
use tenantry_edge::Outcome;
use tenantry_edge::db::text;
use tenantry_edge::http::{json, not_found};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use worker::{Request, Response};

static CONVERSATIONS: Order = Order {
    columns: &["last_message_at", "id"],
    descending: true,
};
static MESSAGES: Order = Order {
    columns: &["sent_at", "message_id"],
    descending: false,
};

pub async fn list(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("conversations", "read"))?;
    #[derive(Serialize, Deserialize)]
    struct Row {
        id: String,
        wa_id: String,
        contact_name: Option<String>,
        last_message_at: i64,
    }
    let page = Page::from_request(req, &CONVERSATIONS)?;
    let (clause, args) = page.clause(2);
    let rows: Vec<Row> = t.db.all(&format!("SELECT id, wa_id, contact_name, last_message_at FROM conversations WHERE tenant_id = ?1{clause}"), &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.last_message_at), json!(r.id)]);
    json(200, &json!({"conversations": rows, "next_cursor": next}))
}

pub async fn messages(req: &Request, t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
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
    let page = Page::from_request(req, &MESSAGES)?;
    let (clause, mut args) = page.clause(3);
    args.insert(0, text(id));
    let rows: Vec<Row> = t.db.all(&format!("SELECT message_id, direction, kind, body, status, sent_at FROM messages WHERE tenant_id = ?1 AND conversation_id = ?2{clause}"), &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.sent_at), json!(r.message_id)]);
    json(200, &json!({"messages": rows, "next_cursor": next}))
}
