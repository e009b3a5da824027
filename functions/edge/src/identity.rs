//! What the identity Workers (`auth`: sessions and invitations accepted; `accounts`:
//! sign-up, verification and resets) share: the request as the gateway handed it over,
//! and the audit entries and session notices of an account's changes.

use crate::config::{Config, value};
use crate::db::TenantDb;
use crate::routes::{self, Matched, Service};
use crate::{Outcome, accounts, audit, http, now_secs};
use tenantry_core::auth::password::PasswordScheme;
use tenantry_core::notify::Locale;
use tenantry_core::{ErrorCode, Problem};
use worker::{D1Database, D1PreparedStatement, Env, Request};

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

/// The request for `service`, admitted: its internal context verified (the gateway signs
/// it), its route found on `path` (the routed path) and run by `service`.
pub fn admit<'p>(
    req: &Request,
    path: &'p str,
    env: Env,
    background: worker::Context,
    service: Service,
) -> Outcome<(Ctx, Matched<'p>)> {
    let context = crate::internal::verify::<tenantry_core::internal::NoEntry>(&env, req)?;
    let matched = routes::find(&req.method(), path)?;
    if matched.route.service() != service {
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
    Ok((ctx, matched))
}

/// The audit entries of an identity event: in the tenant concerned, or in each of the
/// account's tenants when the event concerns the account as a whole.
pub fn audit_in(
    ctx: &Ctx,
    tenant_ids: &[&str],
    actor: &str,
    action: &str,
    resource_id: Option<&str>,
    after: Option<serde_json::Value>,
) -> Outcome<Vec<D1PreparedStatement>> {
    tenant_ids
        .iter()
        .map(|tenant_id| {
            audit::statement(
                &TenantDb::new(&ctx.db, tenant_id),
                audit::Entry {
                    actor,
                    action,
                    resource: "sessions",
                    resource_id,
                    before: None,
                    after: after.clone(),
                },
                &ctx.request_id,
                ctx.now,
            )
        })
        .collect()
}

/// Tells the objects of every tenant of the account that its sessions changed, so that
/// an ended session's access tokens are refused on their very next request.
pub async fn sessions_changed(ctx: &Ctx, user_id: &str) -> Outcome<()> {
    for membership in accounts::memberships(ctx, user_id).await? {
        crate::tenant_state::invalidate(&ctx.env, &membership.tenant_id).await?;
    }
    Ok(())
}

/// The tenant ids of `memberships`, for account-wide audit entries.
pub fn tenant_ids(memberships: &[accounts::MembershipRow]) -> Vec<&str> {
    memberships.iter().map(|m| m.tenant_id.as_str()).collect()
}
