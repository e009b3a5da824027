//! The auth Worker, reached only through the gateway: Tenantry as its own identity
//! provider. Sign-in with a password (throttled per account and per client address),
//! sessions with rotating refresh tokens and reuse detection, and tenant switching.
//! Sign-up, email verification, password resets and invitations accepted are the
//! `accounts` Worker's; second factors, the `factors` Worker's. The rules are
//! `tenantry-core`'s (`auth::password`, `auth::session`, `auth::throttle`, `auth::mfa`);
//! this Worker loads rows, hashes, and writes each change with its audit entries in one
//! D1 batch.

mod me;
mod sessions;
mod throttle;

use tenantry_edge::identity;
use tenantry_edge::password;
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http};
use worker::{Env, Request, Response, event};

pub use throttle::LoginThrottle;

async fn serve(mut req: Request, env: Env, background: worker::Context) -> Outcome<Response> {
    let path = routes::routed_path(req.path());
    let (ctx, matched) = identity::admit(&req, &path, env, background, Service::Auth)?;
    match matched.route {
        Route::AuthLogin => sessions::login(&mut req, &ctx).await,
        Route::AuthRefresh => sessions::refresh(&mut req, &ctx).await,
        Route::AuthLogout => sessions::logout(&mut req, &ctx).await,
        Route::AuthMe => me::me(&ctx).await,
        Route::AuthListSessions => sessions::list(&ctx).await,
        Route::AuthEndSession => sessions::end(&ctx, matched.param(0)).await,
        Route::AuthSwitch => sessions::switch(&mut req, &ctx).await,
        Route::AuthPasswordBenchmark => me::password_benchmark(&mut req, &ctx).await,
        _ => Err(routes::misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env, ctx).await, &request_id)
}
