//! The routes served by the other Workers: the gateway decides who may ask, then hands
//! the request over a service binding with a context signed for that very request.

use crate::Ctx;
use tenantry_core::internal::{InternalContext, TenantEntry};
use tenantry_edge::internal::forward;
use tenantry_edge::routes::Service;
use tenantry_edge::{Outcome, http};
use worker::{Method, Request, Response};

fn context(
    ctx: &Ctx,
    req: &Request,
    tenant_id: Option<&str>,
    entry: Option<TenantEntry>,
) -> Outcome<InternalContext> {
    let url = req.url().map_err(tenantry_edge::internal)?;
    let principal = ctx.principal.as_ref();
    Ok(InternalContext {
        tenant_id: tenant_id.map(str::to_string),
        subject: principal.map(|p| p.subject.clone()),
        session: principal.and_then(|p| p.session.clone()),
        superadmin: principal.is_some_and(|p| p.is_superadmin()),
        relay_scope: principal.and_then(|p| p.relay_scope()).cloned(),
        entry,
        request_id: ctx.request_id.clone(),
        method: req.method().to_string(),
        path: url.path().to_string(),
        issued_at: ctx.now,
    })
}

/// Hands `req` to `service` with the principal the gateway established (none for the
/// webhooks, whose Workers verify the sender's signature) and, for a tenant route, the
/// admitted tenant request.
pub async fn to(
    ctx: &Ctx,
    mut req: Request,
    service: Service,
    tenant_id: Option<&str>,
    entry: Option<TenantEntry>,
) -> Outcome<Response> {
    let context = context(ctx, &req, tenant_id, entry)?;
    let has_body = !matches!(req.method(), Method::Get | Method::Head);
    let buffered = if service.buffers_body() && has_body {
        Some(http::read_bytes(&mut req, http::MAX_BODY_BYTES).await?)
    } else {
        None
    };
    forward(&ctx.env, service.binding(), req, &context, buffered).await
}
