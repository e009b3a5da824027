//! The platform admin Worker, reached only through the gateway: `/v1/admin/*`
//! (tenants, their hostnames and limits, statistics, relay keys, resealing). The gateway
//! authenticates and checks the superadmin; this Worker accepts nothing without a
//! context the gateway signed for that very request, and that context must name a
//! superadmin.

mod relay_keys;
mod relays;
mod reseal;
mod tenants;
mod users;

use tenantry_core::tenant::Hostname;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http, now_secs};
use worker::{D1Database, Env, Request, Response, event};

/// A superadmin's request, as the gateway vouched for it.
pub struct Ctx {
    pub env: Env,
    pub db: D1Database,
    /// `PLATFORM_DOMAIN`: a tenant's custom hostname may not be under it.
    pub platform_domain: Option<Hostname>,
    pub request_id: String,
    pub now: i64,
    /// The superadmin, for the audit trail.
    pub subject: String,
}

async fn serve(req: Request, env: Env) -> Outcome<Response> {
    let context = tenantry_edge::internal::verify::<tenantry_core::internal::NoEntry>(&env, &req)?;
    let subject = context
        .subject
        .filter(|_| context.superadmin)
        .ok_or_else(|| {
            Problem::new(ErrorCode::Forbidden, "missing permission platform:admin")
                .with("permission", "platform:admin")
        })?;
    let path = routes::routed_path(req.path());
    let matched = routes::find(&req.method(), &path)?;
    if matched.route.service() != Service::Admin {
        return Err(http::not_found("route"));
    }
    let db = env
        .d1("DB")
        .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
    // A sign-in session's operator was checked by the gateway on this very request: its
    // account active and its session live (tenantry_edge::auth::check_session).
    let ctx = Ctx {
        db,
        platform_domain: tenantry_edge::config::platform_domain(&env)?,
        env,
        request_id: context.request_id,
        now: now_secs(),
        subject,
    };
    let mut req = req;
    match matched.route {
        Route::AdminCreateRelayKey => relay_keys::create(&mut req, &ctx).await,
        Route::AdminListRelayKeys => relay_keys::list(&req, &ctx).await,
        Route::AdminListRelays => relays::list(&ctx).await,
        Route::AdminRevokeRelayKey => relay_keys::revoke(&ctx, matched.param(0)).await,
        Route::AdminReseal => reseal::reseal(&ctx).await,
        Route::AdminSuspendUser => users::set_status(&ctx, matched.param(0), "suspended").await,
        Route::AdminActivateUser => users::set_status(&ctx, matched.param(0), "active").await,
        _ => tenants::route(req, &ctx, &matched).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}
