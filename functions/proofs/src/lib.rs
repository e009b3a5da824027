//! The proofs Worker, reached only through the gateway, for platform relay keys only: the
//! mail domains whose DNS proof is due, and the TXT records relays found for them, which
//! the core turns into proven, pending or lapsed. Its own Worker because proofs are a
//! slow, rare loop beside the relay's hot directory feed (`relay-api`).

mod proofs;

use tenantry_edge::relay;
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env) -> Outcome<Response> {
    let path = routes::routed_path(req.path());
    let (ctx, matched) = relay::admit(&req, &path, env, Service::Proofs)?;
    match matched.route {
        Route::RelayProofChecks => proofs::checks(&ctx, &ctx.scope).await,
        Route::RelayProofResults => proofs::results(&mut req, &ctx, &ctx.scope).await,
        _ => Err(routes::misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
