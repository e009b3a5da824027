//! The routes served by the other Workers: the gateway decides who may ask, then hands
//! the request over a service binding with a signed context.

use crate::{Ctx, TenantCtx};
use tenantry_core::crm;
use tenantry_core::internal::InternalContext;
use tenantry_core::rbac::Required;
use tenantry_edge::Outcome;
use tenantry_edge::internal::forward;
use worker::{Request, Response};

fn context(ctx: &Ctx, req: &Request, tenant_id: Option<&str>) -> Outcome<InternalContext> {
    let url = req.url().map_err(tenantry_edge::internal)?;
    Ok(InternalContext {
        tenant_id: tenant_id.map(str::to_string),
        subject: ctx.principal.as_ref().map(|p| p.subject.clone()),
        request_id: ctx.request_id.clone(),
        method: req.method().to_string(),
        path: url.path().to_string(),
        issued_at: ctx.now,
    })
}

/// `/webhook/whatsapp/{tenant_id}` and `/webhook/stripe`: no principal; the route
/// Worker verifies the sender's signature.
pub async fn webhook(ctx: &Ctx, req: Request, binding: &str) -> Outcome<Response> {
    let context = context(ctx, &req, None)?;
    forward(&ctx.env, binding, req, &context).await
}

/// `/v1/crm/{path}`: the method's permission is checked here, the credentials are
/// injected by the CRM Worker.
pub async fn crm(t: &TenantCtx<'_>, req: Request, rest: &str) -> Outcome<Response> {
    let plan = crm::plan(req.method().as_ref(), rest)?;
    t.require(Required::new(plan.permission.0, plan.permission.1))?;
    let context = context(t.ctx, &req, Some(&t.tenant.id))?;
    forward(&t.ctx.env, "CRM", req, &context).await
}
