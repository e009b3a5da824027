//! The auth Worker, reached only through the gateway: Tenantry as its own identity
//! provider. Sign-in with a password (throttled per account and per client address),
//! sessions with rotating refresh tokens and reuse detection, tenant switching, sign-up,
//! invitations accepted, email verification and password resets. The rules are
//! `tenantry-core`'s (`auth::password`, `auth::session`, `auth::throttle`, `notify`);
//! this Worker loads rows, hashes, and writes each change with its audit entries and its
//! outbox message in one D1 batch.

mod accounts;
mod cookie;
mod invitation;
use tenantry_edge::password;
mod recovery;
mod sessions;
mod signup;
mod throttle;

use tenantry_core::auth::password::PasswordScheme;
use tenantry_core::notify::Locale;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::config::{Config, value};
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http, now_secs};
use worker::{D1Database, Env, Request, Response, event};

pub use throttle::LoginThrottle;

/// One request, as the gateway handed it over.
pub struct Ctx {
    pub env: Env,
    pub db: D1Database,
    pub config: Config,
    pub request_id: String,
    pub now: i64,
    /// The signed-in account, for the account's own routes.
    pub subject: Option<String>,
    /// The session of its token.
    pub session: Option<String>,
    pub superadmin: bool,
    /// The client's address (`CF-Connecting-IP`), for throttling.
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    /// The language of the messages this request sends.
    pub locale: Locale,
    /// How new passwords are hashed (`PASSWORD_HASH`).
    pub password_policy: PasswordScheme,
    /// For work done after the answer (`waitUntil`).
    pub background: worker::Context,
}

impl Ctx {
    /// The signed-in account; 401 when the gateway vouched for none.
    pub fn account_id(&self) -> Outcome<&str> {
        self.subject
            .as_deref()
            .ok_or_else(|| Problem::new(ErrorCode::Unauthenticated, "sign in first"))
    }
}

fn password_policy(env: &Env) -> Outcome<PasswordScheme> {
    match value(env, "PASSWORD_HASH") {
        None => Ok(PasswordScheme::ARGON2ID_OWASP_MIN),
        Some(name) => PasswordScheme::named(&name).ok_or_else(|| {
            Problem::new(
                ErrorCode::Misconfigured,
                "PASSWORD_HASH must be pbkdf2-sha256 or argon2id",
            )
        }),
    }
}

async fn serve(mut req: Request, env: Env, background: worker::Context) -> Outcome<Response> {
    let context = tenantry_edge::internal::verify::<tenantry_core::internal::NoEntry>(&env, &req)?;
    let path = routes::routed_path(req.path());
    let matched = routes::find(&req.method(), &path)?;
    if matched.route.service() != Service::Auth {
        return Err(http::not_found("route"));
    }
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let ctx = Ctx {
        db: env
            .d1("DB")
            .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?,
        config: Config::load(&env)?,
        password_policy: password_policy(&env)?,
        request_id: context.request_id,
        now: now_secs(),
        subject: context.subject,
        session: context.session,
        superadmin: context.superadmin,
        client_address: header("cf-connecting-ip"),
        user_agent: header("user-agent").map(|ua| ua.chars().take(200).collect()),
        locale: Locale::from_accept_language(header("accept-language").as_deref()),
        background,
        env,
    };
    match matched.route {
        Route::AuthLogin => sessions::login(&mut req, &ctx).await,
        Route::AuthRefresh => sessions::refresh(&mut req, &ctx).await,
        Route::AuthLogout => sessions::logout(&mut req, &ctx).await,
        Route::AuthMe => accounts::me(&ctx).await,
        Route::AuthListSessions => sessions::list(&ctx).await,
        Route::AuthEndSession => sessions::end(&ctx, matched.param(0)).await,
        Route::AuthSwitch => sessions::switch(&mut req, &ctx).await,
        Route::AuthSignup => signup::signup(&mut req, &ctx).await,
        Route::AuthVerifyEmail => recovery::verify_email(&mut req, &ctx).await,
        Route::AuthResendVerification => recovery::resend_verification(&mut req, &ctx).await,
        Route::AuthForgotPassword => recovery::forgot_password(&mut req, &ctx).await,
        Route::AuthResetPassword => recovery::reset_password(&mut req, &ctx).await,
        Route::AuthAcceptInvitation => invitation::accept(&mut req, &ctx).await,
        Route::AuthShowInvitation => invitation::show(&mut req, &ctx).await,
        Route::AuthPasswordBenchmark => accounts::password_benchmark(&mut req, &ctx).await,
        _ => Err(routes::misrouted()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env, ctx).await, &request_id)
}
