//! The records Worker, reached only through the gateway: a tenant's clients,
//! appointments, conversations, usage, integrations and export. The gateway admits the
//! request (tenant, principal, rate limit) and hands it over with a signed context;
//! every handler authorizes with the core and reads and writes through the
//! tenant-scoped layer.

mod appointments;
mod clients;
mod conversations;
mod export;
mod integrations;
mod usage;

use tenantry_edge::routes::{Route, Service, misrouted};
use tenantry_edge::tenant_ctx::Admitted;
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env) -> Outcome<Response> {
    let admitted = Admitted::verify(env, &req, |route| route.service() == Service::Records)?;
    let t = admitted.tenant_ctx();
    match admitted.route {
        Route::GetUsage => usage::get(&t).await,
        Route::ListClients => clients::list(&req, &t).await,
        Route::CreateClient => clients::create_client(&mut req, &t).await,
        Route::GetClient => clients::get(&t, admitted.param(0)).await,
        Route::UpdateClient => clients::update_client(&mut req, &t, admitted.param(0)).await,
        Route::DeleteClient => clients::delete_client(&t, admitted.param(0)).await,
        Route::ListAppointments => appointments::list(&req, &t).await,
        Route::CreateAppointment => appointments::create_appointment(&mut req, &t).await,
        Route::UpdateAppointment => {
            appointments::update_appointment(&mut req, &t, admitted.param(0)).await
        }
        Route::ListConversations => conversations::list(&req, &t).await,
        Route::ListMessages => conversations::messages(&req, &t, admitted.param(0)).await,
        Route::ListIntegrations | Route::PutIntegration | Route::Export => {
            integrations::route(req, &t, &admitted).await
        }
        _ => Err(misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
