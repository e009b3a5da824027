//! The accounts Worker, reached only through the gateway: an account's life before and
//! beside its sessions. Self-service sign-up, email verification, password resets and
//! invitations accepted (which make or join an account, then sign in), each change written
//! with its audit entries (and its outbox message) in one D1 batch. Its own Worker so that
//! the auth Worker, on every sign-in and refresh, carries only sessions.

mod invitation;
mod recovery;
mod signup;

use tenantry_edge::identity;
use tenantry_edge::password;
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

async fn serve(mut req: Request, env: Env, background: worker::Context) -> Outcome<Response> {
    let path = routes::routed_path(req.path());
    let (ctx, matched) = identity::admit(&req, &path, env, background, Service::Accounts)?;
    match matched.route {
        Route::AuthSignup => signup::signup(&mut req, &ctx).await,
        Route::AuthVerifyEmail => recovery::verify_email(&mut req, &ctx).await,
        Route::AuthResendVerification => recovery::resend_verification(&mut req, &ctx).await,
        Route::AuthForgotPassword => recovery::forgot_password(&mut req, &ctx).await,
        Route::AuthResetPassword => recovery::reset_password(&mut req, &ctx).await,
        Route::AuthAcceptInvitation => invitation::accept(&mut req, &ctx).await,
        Route::AuthShowInvitation => invitation::show(&mut req, &ctx).await,
        _ => Err(routes::misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env, ctx).await, &request_id)
}
