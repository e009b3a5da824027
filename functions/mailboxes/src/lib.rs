//! The mailboxes Worker, reached only through the gateway: a mail domain's mailboxes and
//! their app passwords, versioned for the relay's directory. Its own Worker because app
//! passwords are hashed with Argon2id, which only the Workers that hash passwords carry.

mod mailboxes;
mod passwords;

use tenantry_edge::routes::{Route, Service, misrouted};
use tenantry_edge::tenant_ctx::Admitted;
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env) -> Outcome<Response> {
    let admitted = Admitted::verify(env, &req, |route| route.service() == Service::Mailboxes)?;
    let t = admitted.tenant_ctx();
    let (domain, address) = (admitted.param(0), admitted.param(1));
    match admitted.route {
        Route::ListMailboxes => mailboxes::list(&req, &t, domain).await,
        Route::CreateMailbox => mailboxes::create(&mut req, &t, domain).await,
        Route::DeleteMailbox => mailboxes::delete(&t, domain, address).await,
        Route::ListAppPasswords => passwords::list(&t, domain, address).await,
        Route::CreateAppPassword => passwords::create(&mut req, &t, domain, address).await,
        Route::RevokeAppPassword => passwords::revoke(&t, domain, address, admitted.param(2)).await,
        _ => Err(misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
