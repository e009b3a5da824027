//! A tenant's audit log, filtered and paged.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::rbac::Required;
use tenantry_edge::db::{int, text};
use tenantry_edge::http::{invalid, json, stored_int};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;

/// Newest first.
static NEWEST: Order = Order {
    columns: &["created_at", "id"],
    descending: true,
};
use tenantry_edge::Outcome;
use worker::{Request, Response};

pub async fn audit_log(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("audit", "read"))?;
    let url = req.url().map_err(tenantry_edge::internal)?;
    let mut sql = String::from(
        "SELECT id, actor, action, resource, resource_id, before_json, after_json, request_id, created_at FROM audit_log WHERE tenant_id = ?1",
    );
    let mut args = Vec::new();
    for (name, value) in url.query_pairs() {
        let column = match name.as_ref() {
            "user" => "actor = ",
            "action" => "action = ",
            "resource" => "resource = ",
            "from" | "to" => {
                let at: i64 = value
                    .parse()
                    .map_err(|_| invalid(&name, "must be seconds since the epoch"))?;
                let at = stored_int(&name, at)?;
                args.push(int(at));
                sql.push_str(&format!(
                    " AND created_at {} ?{}",
                    if name == "from" { ">=" } else { "<=" },
                    args.len() + 1
                ));
                continue;
            }
            "limit" | "cursor" => continue,
            other => {
                return Err(invalid(
                    other,
                    "is not a filter (user, action, resource, from, to, limit, cursor)",
                ));
            }
        };
        args.push(text(&value));
        sql.push_str(&format!(" AND {column}?{}", args.len() + 1));
    }
    let page = Page::from_request(req, &NEWEST)?;
    let (clause, page_args) = page.clause(args.len() + 2);
    sql.push_str(&clause);
    args.extend(page_args);
    #[derive(Serialize, Deserialize)]
    struct Row {
        id: String,
        actor: String,
        action: String,
        resource: String,
        resource_id: Option<String>,
        before_json: Option<String>,
        after_json: Option<String>,
        request_id: String,
        created_at: i64,
    }
    let rows: Vec<Row> = t.db.all(&sql, &args).await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
    let entries: Vec<_> = rows
        .into_iter()
        .map(|r| json!({
            "id": r.id, "actor": r.actor, "action": r.action, "resource": r.resource, "resource_id": r.resource_id,
            "before": r.before_json.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
            "after": r.after_json.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
            "request_id": r.request_id, "created_at": r.created_at,
        }))
        .collect();
    json(200, &json!({"entries": entries, "next_cursor": next}))
}
