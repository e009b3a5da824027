//! The mail Worker, reached only through the gateway: a tenant's mail domains, their DKIM
//! keys and mail usage, versioned for the relay's directory (a domain's mailboxes and its
//! certificate have Workers of their own: `mailboxes`, `certificates`). The gateway admits the
//! request (tenant, principal, rate limit) and hands it over with a signed context.

mod dkim;
mod domains;
mod records;

use tenantry_edge::routes::Service;
use tenantry_edge::tenant_ctx::Admitted;
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(req: Request, env: Env) -> Outcome<Response> {
    let admitted = Admitted::verify(env, &req, |route| route.service() == Service::Mail)?;
    let t = admitted.tenant_ctx();
    domains::route(req, &t, &admitted).await
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
