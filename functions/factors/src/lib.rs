//! The factors Worker, reached only through the gateway: an account's second factors. An
//! authenticator app (TOTP) is enrolled, confirmed with its first code (which issues ten
//! recovery codes) and disabled with a fresh code; a sign-in that met a second factor
//! (`mfa_required` from the auth Worker) is completed here with a code, and opens the
//! session. The rules are `tenantry-core`'s (`auth::totp`, `auth::mfa`); codes are
//! throttled per account and per client by the auth Worker's `LoginThrottle`.

mod enrolment;
mod factor;
mod verify;

use tenantry_edge::identity;
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env, background: worker::Context) -> Outcome<Response> {
    let path = routes::routed_path(req.path());
    let (ctx, matched) = identity::admit(&req, &path, env, background, Service::Factors)?;
    match matched.route {
        Route::AuthMfaStatus => enrolment::status(&ctx).await,
        Route::AuthTotpEnrol => enrolment::enrol(&ctx).await,
        Route::AuthTotpConfirm => enrolment::confirm(&mut req, &ctx).await,
        Route::AuthTotpDisable => enrolment::disable(&mut req, &ctx).await,
        Route::AuthRecoveryCodes => enrolment::regenerate(&mut req, &ctx).await,
        Route::AuthMfaVerify => verify::verify(&mut req, &ctx).await,
        _ => Err(routes::misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env, ctx).await, &request_id)
}
