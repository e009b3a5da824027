//! The people Worker, reached only through the gateway: a tenant's members, custom roles,
//! settings, API keys, audit log and invitations. The gateway admits the request (tenant, principal,
//! rate limit) and hands it over with a signed context; every handler authorizes with
//! the core and reads and writes through the tenant-scoped layer.

mod audit;
mod invitations;
mod keys;
mod members;
mod settings;

use tenantry_edge::routes::{Route, Service, misrouted};
use tenantry_edge::tenant_ctx::Admitted;
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env) -> Outcome<Response> {
    let admitted = Admitted::verify(env, &req, |route| route.service() == Service::People)?;
    let t = admitted.tenant_ctx();
    match admitted.route {
        Route::ListMembers => members::list(&req, &t).await,
        Route::AddMember => members::add_member(&mut req, &t).await,
        Route::ChangeMember => members::change_member(&mut req, &t, admitted.param(0)).await,
        Route::RemoveMember => members::remove_member(&t, admitted.param(0)).await,
        Route::ListRoles => members::list_roles(&t),
        Route::CreateRole => members::create_role(&mut req, &t).await,
        Route::GetSettings => settings::get(&t).await,
        Route::UpdateSettings => settings::update_settings(&mut req, &t).await,
        Route::ListApiKeys => keys::list_keys(&req, &t).await,
        Route::CreateApiKey => keys::create_key(&mut req, &t).await,
        Route::RevokeApiKey => keys::revoke_key(&t, admitted.param(0)).await,
        Route::ListAudit => audit::audit_log(&req, &t).await,
        Route::ListInvitations => invitations::list(&req, &t).await,
        Route::CreateInvitation => invitations::create(&mut req, &t).await,
        Route::RevokeInvitation => invitations::revoke(&t, admitted.param(0)).await,
        Route::ResendInvitation => invitations::resend(&req, &t, admitted.param(0)).await,
        _ => Err(misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
