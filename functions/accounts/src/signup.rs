//! Self-service sign-up: an account, a tenant on the free plan in `pending` status and
//! its owner membership, in one batch with the verification message. Verifying the
//! address activates the tenant. An address that has an account gets the same answer and
//! a notice by mail instead, so sign-up never tells whether an address is registered. `SIGNUP_MODE` (`open` | `invite` | `closed`, default
//! `invite`) says whether anyone may.

use crate::{password, recovery};
use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::TokenKind;
use tenantry_core::auth::password::check_new_password;
use tenantry_core::mail::Address;
use tenantry_core::notify::{Locale, Notice};
use tenantry_core::tenant::Slug;
use tenantry_core::{ErrorCode, Problem, validate};
use tenantry_edge::accounts::{self, AccountRow};
use tenantry_edge::config::value;
use tenantry_edge::db::{PlatformDb, TenantDb, int, text};
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::identity::{Ctx, audit_in};
use tenantry_edge::outbox::{self, Outgoing};
use tenantry_edge::{Outcome, new_id};
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    slug: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Signup {
    email: String,
    password: String,
    tenant: NewTenant,
    #[serde(default)]
    locale: Option<String>,
}

fn signup_open(ctx: &Ctx) -> Outcome<()> {
    match value(&ctx.env, "SIGNUP_MODE")
        .as_deref()
        .unwrap_or("invite")
    {
        "open" => Ok(()),
        "invite" => Err(Problem::new(
            ErrorCode::SignupClosed,
            "accounts are made by invitation on this deployment",
        )),
        "closed" => Err(Problem::new(
            ErrorCode::SignupClosed,
            "sign-up is closed on this deployment",
        )),
        _ => Err(Problem::new(
            ErrorCode::Misconfigured,
            "SIGNUP_MODE must be open, invite or closed",
        )),
    }
}

/// `POST /v1/auth/signup`.
pub async fn signup(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    signup_open(ctx)?;
    let body: Signup = read_json(req).await?;
    let email = Address::parse(body.email.trim()).map_err(|e| invalid("email", e))?;
    check_new_password(&body.password)?;
    let slug = Slug::parse(&body.tenant.slug).map_err(|e| invalid("tenant.slug", e))?;
    validate::name("tenant.name", &body.tenant.name, 200)?;
    let locale = match body.locale.as_deref() {
        Some(tag) => Locale::parse(tag).ok_or_else(|| invalid("locale", "must be en or fr"))?,
        None => ctx.locale,
    };
    let platform = PlatformDb(&ctx.db);
    let taken: Option<serde_json::Value> = platform
        .first(
            "SELECT id FROM tenants WHERE slug = ?1",
            &[text(slug.as_str())],
        )
        .await?;
    if taken.is_some() {
        return Err(Problem::new(
            ErrorCode::Conflict,
            format!("slug {} is taken", slug.as_str()),
        )
        .with("field", "tenant.slug"));
    }
    // Hashed whether or not the address has an account: the answer takes as long.
    let hash = password::hash_new(ctx.password_policy, &body.password).await?;
    if let Some(existing) = accounts::by_email(ctx, email.as_str()).await? {
        // The same answer as a new sign-up; only the address's owner learns, by mail.
        let sign_in = format!(
            "{}/#/sign-in",
            tenantry_edge::config::console_url(&ctx.env)?
        );
        let notice = outbox::statement(
            &ctx.env,
            &ctx.db,
            Outgoing {
                tenant_id: None,
                sender_name: "Tenantry",
                to: &email,
                notice: Notice::AccountExists { link: &sign_in },
                locale: existing.locale(),
            },
            ctx.now,
        )?;
        platform.batch(vec![notice]).await?;
        return accepted();
    }
    let account = AccountRow {
        id: new_id("u"),
        email: email.as_str().to_string(),
        password_hash: Some(hash),
        email_verified: 0,
        status: "active".into(),
        platform_role: None,
        locale: locale.as_str().into(),
        second_factor: 0,
    };
    let tenant_id = new_id("t");
    let tenant = TenantDb::new(&ctx.db, &tenant_id);
    let mut statements = vec![
        platform.statement(
            "INSERT INTO users (id, email, password_hash, email_verified, locale, created_at, updated_at) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?5)",
            &[text(&account.id), text(&account.email), text(account.password_hash.as_deref().unwrap_or_default()), text(&account.locale), int(ctx.now)],
        )?,
        platform.statement(
            "INSERT INTO tenants (id, slug, name, plan, status, billing_email, created_at, updated_at) VALUES (?1, ?2, ?3, 'free', 'pending', ?4, ?5, ?5)",
            &[text(&tenant_id), text(slug.as_str()), text(&body.tenant.name), text(email.as_str()), int(ctx.now)],
        )?,
        tenant.statement(
            "INSERT INTO memberships (tenant_id, user_id, role, created_at, joined_at) VALUES (?1, ?2, 'owner', ?3, ?3)",
            &[text(&account.id), int(ctx.now)],
        )?,
        tenant.statement(
            "INSERT INTO settings (tenant_id, key, value) VALUES (?1, 'timezone', '\"Europe/Paris\"')",
            &[],
        )?,
    ];
    statements.extend(recovery::issue(
        ctx,
        &account,
        TokenKind::EmailVerification,
    )?);
    statements.extend(audit_in(
        ctx,
        &[&tenant_id],
        &account.id,
        "auth.signup",
        Some(&tenant_id),
        Some(json!({"email": account.email, "slug": slug.as_str()})),
    )?);
    platform.batch(statements).await.map_err(|p| {
        if p.code == ErrorCode::Conflict {
            Problem::new(
                ErrorCode::Conflict,
                "the address or the slug was taken meanwhile",
            )
        } else {
            p
        }
    })?;
    accepted()
}

/// 202: a message is on its way to the address (a verification link for a new account, a
/// notice for an existing one), and the answer does not say which.
fn accepted() -> Outcome<Response> {
    json(
        202,
        &json!({"status": "accepted", "detail": "check the mailbox of this address to go on"}),
    )
}
