//! The tenant-gate Worker: the home of the per-tenant Durable Object class, `TenantGate`.
//! The gateway and the Workers that change a tenant's hot state bind it by script name.
//! A Worker of its own so that the gateway, on every request, carries only what admits
//! and forwards a request; the object's storage and its D1 loads weigh on this one.

mod tenant_gate;

pub use tenant_gate::TenantGate;
use worker::{Env, Request, Response, event};

/// Nothing is routed here: the object is reached through its binding only.
#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    Response::error("Not Found", 404)
}
