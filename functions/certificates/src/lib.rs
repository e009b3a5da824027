//! The certificates Worker, reached only through the gateway: a mail domain's TLS
//! certificate, uploaded by its tenant for relays to serve by SNI. Its own Worker because
//! X.509 is the heaviest code of the mail API and an upload is rare: the mail Worker, which
//! every console page of mail calls, stays small.

mod certificate;

use tenantry_edge::routes::{Route, Service, misrouted};
use tenantry_edge::tenant_ctx::Admitted;
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env) -> Outcome<Response> {
    let admitted = Admitted::verify(env, &req, |route| route.service() == Service::Certificates)?;
    let t = admitted.tenant_ctx();
    let domain = admitted.param(0);
    match admitted.route {
        Route::GetMailCertificate => certificate::get(&t, domain).await,
        Route::PutMailCertificate => certificate::put(&mut req, &t, domain).await,
        Route::DeleteMailCertificate => certificate::delete(&t, domain).await,
        _ => Err(misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
