//! Tokens by email: address verification (24 hours) and password reset (1 hour), each
//! single use. Asking for either never says whether the address has an account.

use crate::password;
use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::password::check_new_password;
use tenantry_core::auth::{OneTimeToken, TokenKind, generate_token, hash_token};
use tenantry_core::mail::Address;
use tenantry_core::notify::Notice;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::accounts::{self, AccountRow};
use tenantry_edge::db::{PlatformDb, int, text};
use tenantry_edge::http::{json, read_json};
use tenantry_edge::identity::{Ctx, audit_in, sessions_changed, tenant_ids};
use tenantry_edge::outbox::{self, Outgoing};
use tenantry_edge::{Outcome, random_bytes, tenant_state};
use worker::{D1Database, D1PreparedStatement, Env, Request, Response};

/// A new token is not mailed again to the same account within this many seconds.
const RESEND_INTERVAL_SECS: i64 = 60;

const fn purpose(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::PasswordReset => "reset_password",
        _ => "verify_email",
    }
}

/// The token row and its message for `account`, to go in one batch with what causes it.
pub fn issue(
    ctx: &Ctx,
    account: &AccountRow,
    kind: TokenKind,
) -> Outcome<Vec<D1PreparedStatement>> {
    issue_in(&ctx.env, &ctx.db, ctx.now, account, kind)
}

/// [`issue`] for work that outlives the request.
fn issue_in(
    env: &Env,
    db: &D1Database,
    now: i64,
    account: &AccountRow,
    kind: TokenKind,
) -> Outcome<Vec<D1PreparedStatement>> {
    let token = generate_token(kind, &random_bytes());
    let page = match kind {
        TokenKind::PasswordReset => "reset-password",
        _ => "verify-email",
    };
    let link = outbox::link(env, page, &token.plaintext)?;
    let notice = match kind {
        TokenKind::PasswordReset => Notice::PasswordReset { link: &link },
        _ => Notice::Verification { link: &link },
    };
    let to = Address::parse(&account.email).map_err(tenantry_edge::internal)?;
    Ok(vec![
        PlatformDb(db).statement(
            "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[text(&token.hash), text(&account.id), text(purpose(kind)), int(now), int(now + kind.lifetime_secs())],
        )?,
        outbox::statement(
            env,
            db,
            Outgoing {
                tenant_id: None,
                sender_name: "Tenantry",
                to: &to,
                notice,
                locale: account.locale(),
            },
            now,
        )?,
    ])
}

fn token_invalid() -> Problem {
    Problem::new(
        ErrorCode::TokenInvalid,
        "the link is unknown, already used or expired; ask for a new one",
    )
    .with("field", "token")
}

#[derive(Deserialize)]
struct TokenRow {
    user_id: String,
    expires_at: i64,
    used_at: Option<i64>,
}

/// Uses the presented token of `kind`: the core decides it is usable, then one
/// conditional update claims it (two concurrent uses: one wins). The account it belongs to.
async fn claim(ctx: &Ctx, kind: TokenKind, presented: &str) -> Outcome<String> {
    let hash = hash_token(kind, presented).map_err(|_| token_invalid())?;
    let platform = PlatformDb(&ctx.db);
    let row: Option<TokenRow> = platform
        .first(
            "SELECT user_id, expires_at, used_at FROM account_tokens WHERE token_hash = ?1 AND purpose = ?2",
            &[text(&hash), text(purpose(kind))],
        )
        .await?;
    let row = row
        .filter(|r| {
            OneTimeToken {
                expires_at: r.expires_at,
                used_at: r.used_at,
                revoked_at: None,
            }
            .usable(ctx.now)
        })
        .ok_or_else(token_invalid)?;
    let changed = platform
        .batch(vec![platform.statement(
            "UPDATE account_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            &[text(&hash), int(ctx.now)],
        )?])
        .await?;
    if changed.first().copied() != Some(1) {
        return Err(token_invalid());
    }
    Ok(row.user_id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// `POST /v1/auth/verify-email {token}`: marks the address verified and activates the
/// tenants the account signed up with (pending, owned by it).
pub async fn verify_email(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: TokenBody = read_json(req).await?;
    let user_id = claim(ctx, TokenKind::EmailVerification, &body.token).await?;
    let account = accounts::by_id(ctx, &user_id)
        .await?
        .ok_or_else(token_invalid)?;
    #[derive(Deserialize)]
    struct Pending {
        id: String,
        name: String,
    }
    let platform = PlatformDb(&ctx.db);
    let pending: Vec<Pending> = platform
        .all(
            "SELECT t.id, t.name FROM tenants t JOIN memberships m ON m.tenant_id = t.id \
             WHERE m.user_id = ?1 AND m.role = 'owner' AND t.status = 'pending' LIMIT 10",
            &[text(&user_id)],
        )
        .await?;
    let mut statements = vec![platform.statement(
        "UPDATE users SET email_verified = 1, updated_at = ?2 WHERE id = ?1",
        &[text(&user_id), int(ctx.now)],
    )?];
    let to = Address::parse(&account.email).map_err(tenantry_edge::internal)?;
    let sign_in = format!(
        "{}/#/sign-in",
        tenantry_edge::config::console_url(&ctx.env)?
    );
    for tenant in &pending {
        statements.push(platform.statement(
            "UPDATE tenants SET status = 'active', updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
            &[text(&tenant.id), int(ctx.now)],
        )?);
        statements.push(outbox::statement(
            &ctx.env,
            &ctx.db,
            Outgoing {
                tenant_id: Some(&tenant.id),
                sender_name: &tenant.name,
                to: &to,
                notice: Notice::Welcome {
                    tenant: &tenant.name,
                    link: &sign_in,
                },
                locale: account.locale(),
            },
            ctx.now,
        )?);
        statements.extend(audit_in(
            ctx,
            &[&tenant.id],
            &user_id,
            "tenant.activate",
            Some(&tenant.id),
            Some(json!({"status": "active", "by": "email_verification"})),
        )?);
    }
    let memberships = accounts::memberships(ctx, &user_id).await?;
    statements.extend(audit_in(
        ctx,
        &tenant_ids(&memberships),
        &user_id,
        "auth.email_verified",
        None,
        None,
    )?);
    let written = platform.batch(statements).await;
    for tenant in &pending {
        tenant_state::invalidate(&ctx.env, &tenant.id).await?;
    }
    written?;
    json(
        200,
        &json!({"verified": true, "activated_tenants": pending.iter().map(|t| &t.id).collect::<Vec<_>>()}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

/// 202, whatever the address: the same answer for an account or none.
fn accepted() -> Outcome<Response> {
    json(
        202,
        &json!({"status": "accepted", "detail": "if an account has this address, a message is on its way"}),
    )
}

/// Whether a token of `kind` was mailed to the account within the resend interval.
async fn recently_sent(db: &D1Database, user_id: &str, kind: TokenKind, now: i64) -> Outcome<bool> {
    let n = PlatformDb(db)
        .first::<serde_json::Value>(
            "SELECT COUNT(*) AS n FROM account_tokens WHERE user_id = ?1 AND purpose = ?2 AND created_at > ?3",
            &[text(user_id), text(purpose(kind)), int(now - RESEND_INTERVAL_SECS)],
        )
        .await?
        .and_then(|v| v["n"].as_i64())
        .unwrap_or(0);
    Ok(n > 0)
}

/// Mails a token of `kind` to the account with `email`, if there is one that may have it.
async fn send_token(env: Env, email: String, kind: TokenKind, now: i64) -> Outcome<()> {
    let db = env.d1("DB").map_err(tenantry_edge::internal)?;
    if let Some(account) = accounts::by_email_in(&db, &email).await?
        && account.status == "active"
        && (kind == TokenKind::PasswordReset || account.email_verified == 0)
        && !recently_sent(&db, &account.id, kind, now).await?
    {
        PlatformDb(&db)
            .batch(issue_in(&env, &db, now, &account, kind)?)
            .await?;
    }
    Ok(())
}

/// Answers 202 at once and looks the address up after the answer (`waitUntil`), so that
/// neither the answer nor its timing says whether the address has an account.
async fn mail_token(req: &mut Request, ctx: &Ctx, kind: TokenKind) -> Outcome<Response> {
    let body: EmailBody = read_json(req).await?;
    let Ok(email) = Address::parse(body.email.trim()) else {
        return Err(tenantry_edge::http::invalid(
            "email",
            "must be a mail address",
        ));
    };
    // A misconfiguration must show on every address alike, not only on known ones.
    tenantry_edge::config::console_url(&ctx.env)?;
    tenantry_edge::config::mail_from(&ctx.env)?;
    let (env, now) = (ctx.env.clone(), ctx.now);
    let email = email.as_str().to_string();
    ctx.background.wait_until(async move {
        if let Err(problem) = send_token(env, email, kind, now).await {
            worker::console_error!("a token by mail was not sent: {}", problem.detail);
        }
    });
    accepted()
}

/// `POST /v1/auth/resend-verification {email}`.
pub async fn resend_verification(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    mail_token(req, ctx, TokenKind::EmailVerification).await
}

/// `POST /v1/auth/forgot-password {email}`.
pub async fn forgot_password(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    mail_token(req, ctx, TokenKind::PasswordReset).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reset {
    token: String,
    password: String,
}

/// `POST /v1/auth/reset-password {token, password}`: sets the password, proves the
/// address, and ends every session of the account.
pub async fn reset_password(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Reset = read_json(req).await?;
    check_new_password(&body.password)?;
    // Hashed before the token is spent: a failure here leaves the token usable.
    let hash = password::hash_new(ctx.password_policy, &body.password).await?;
    let user_id = claim(ctx, TokenKind::PasswordReset, &body.token).await?;
    let platform = PlatformDb(&ctx.db);
    let mut statements = vec![
        platform.statement(
            "UPDATE account_tokens SET used_at = ?2 WHERE user_id = ?1 AND purpose = 'reset_password' AND used_at IS NULL",
            &[text(&user_id), int(ctx.now)],
        )?,
        platform.statement(
            "UPDATE users SET password_hash = ?2, email_verified = 1, updated_at = ?3 WHERE id = ?1",
            &[text(&user_id), text(&hash), int(ctx.now)],
        )?,
        platform.statement(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = 'password_reset' WHERE user_id = ?1 AND revoked_at IS NULL",
            &[text(&user_id), int(ctx.now)],
        )?,
    ];
    let memberships = accounts::memberships(ctx, &user_id).await?;
    statements.extend(audit_in(
        ctx,
        &tenant_ids(&memberships),
        &user_id,
        "auth.password_reset",
        None,
        None,
    )?);
    let written = platform.batch(statements).await;
    sessions_changed(ctx, &user_id).await?;
    written?;
    json(
        200,
        &json!({"status": "password_changed", "sessions_revoked": true}),
    )
}
