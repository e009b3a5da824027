//! What the Workers behind relay keys (`relay-api`, `proofs`) share: the request as the
//! gateway vouched for it, and the clause that keeps a scoped key to its tenants.

use crate::db::text;
use crate::routes::{self, Matched, Service};
use crate::{Outcome, internal, now_secs};
use tenantry_core::auth::RelayScope;
use tenantry_core::{ErrorCode, Problem};
use worker::{D1Database, Env, Request};

/// `AND tenant_id IN (...)` for a scoped key, bound as parameter `?{n}`, or nothing.
pub fn scope_filter(
    scope: &RelayScope,
    n: usize,
) -> Outcome<(String, Option<wasm_bindgen::JsValue>)> {
    match scope {
        RelayScope::AllTenants => Ok((String::new(), None)),
        RelayScope::Tenants(ids) => Ok((
            format!(" AND tenant_id IN (SELECT value FROM json_each(?{n}))"),
            Some(text(&serde_json::to_string(ids).map_err(internal)?)),
        )),
    }
}

/// A relay key's request, as the gateway vouched for it.
pub struct Ctx {
    pub env: Env,
    pub db: D1Database,
    pub request_id: String,
    pub now: i64,
    /// The relay key's id.
    pub subject: String,
    /// The tenants the key serves.
    pub scope: RelayScope,
}

/// The request for `service`, admitted: a relay key's context (the gateway signs it), its
/// route found on `path` (the routed path) and run by `service`.
pub fn admit<'p>(
    req: &Request,
    path: &'p str,
    env: Env,
    service: Service,
) -> Outcome<(Ctx, Matched<'p>)> {
    let context = crate::internal::verify::<tenantry_core::internal::NoEntry>(&env, req)?;
    let (Some(subject), Some(scope)) = (context.subject, context.relay_scope) else {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "missing permission relay:read (a relay key issued by a platform superadmin)",
        )
        .with("permission", "relay:read"));
    };
    let matched = routes::find(&req.method(), path)?;
    if matched.route.service() != service {
        return Err(crate::http::not_found("route"));
    }
    let ctx = Ctx {
        db: env
            .d1("DB")
            .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?,
        request_id: context.request_id,
        now: now_secs(),
        subject,
        scope,
        env,
    };
    Ok((ctx, matched))
}
