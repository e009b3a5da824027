//! The account's own second factors: what it has, enrolling an authenticator app and
//! confirming it with its first code (which issues recovery codes and makes the current
//! session a two-factor one), disabling it, and new recovery codes.

use crate::factor::{self, FactorRow};
use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::mfa::{self, Method, MfaError, Presented};
use tenantry_core::auth::session::may_sign_in;
use tenantry_core::auth::totp::{DIGITS, STEP_SECS};
use tenantry_edge::accounts::{self, AccountRow};
use tenantry_edge::config::value;
use tenantry_edge::db::{PlatformDb, int, text};
use tenantry_edge::http::{json, no_content, read_json, secret_json};
use tenantry_edge::identity::{Ctx, audit_in, sessions_changed, tenant_ids};
use tenantry_edge::{Outcome, internal};
use worker::{D1PreparedStatement, Request, Response};

/// The issuer apps show when `TOTP_ISSUER` is not set.
const DEFAULT_ISSUER: &str = "Tenantry";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Code {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

impl Code {
    fn presented(&self) -> Result<Presented<'_>, MfaError> {
        Presented::from_fields(self.code.as_deref(), self.recovery_code.as_deref())
    }
}

async fn signed_in(ctx: &Ctx) -> Outcome<AccountRow> {
    let account = accounts::signed_in(ctx).await?;
    may_sign_in(&account.account())?;
    Ok(account)
}

/// The account's confirmed factor, or 409 `conflict` when it has none.
async fn confirmed(ctx: &Ctx, account: &AccountRow) -> Outcome<FactorRow> {
    factor::load(ctx, &account.id)
        .await?
        .filter(|row| row.confirmed_at.is_some())
        .ok_or_else(|| MfaError::NotEnrolled.into())
}

/// The account-wide audit entry of a change to its factors, in each of its tenants.
async fn audited(
    ctx: &Ctx,
    account: &AccountRow,
    action: &str,
) -> Outcome<Vec<D1PreparedStatement>> {
    let memberships = accounts::memberships(ctx, &account.id).await?;
    audit_in(
        ctx,
        &tenant_ids(&memberships),
        &account.id,
        action,
        ctx.session.as_deref(),
        None,
    )
}

/// The signed-in account, once the body's fresh code or recovery code has been checked
/// against its confirmed factor (what disabling and renewing take).
async fn proven(req: &mut Request, ctx: &Ctx) -> Outcome<AccountRow> {
    let body: Code = read_json(req).await?;
    let presented = body.presented()?;
    let account = signed_in(ctx).await?;
    let row = confirmed(ctx, &account).await?;
    factor::check(ctx, &account.id, &row, presented).await?;
    Ok(account)
}

/// `GET /v1/auth/mfa`.
pub async fn status(ctx: &Ctx) -> Outcome<Response> {
    let account = signed_in(ctx).await?;
    let row = factor::load(ctx, &account.id).await?;
    #[derive(Deserialize)]
    struct Left {
        left: i64,
    }
    let left: Option<Left> = PlatformDb(&ctx.db)
        .first(
            "SELECT COUNT(*) AS left FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
            &[text(&account.id)],
        )
        .await?;
    let confirmed_at = row.as_ref().and_then(|r| r.confirmed_at);
    json(
        200,
        &json!({
            "totp": {
                "enrolled": confirmed_at.is_some(),
                "pending": row.is_some() && confirmed_at.is_none(),
                "confirmed_at": confirmed_at,
            },
            "recovery_codes_left": if confirmed_at.is_some() { left.map_or(0, |l| l.left) } else { 0 },
        }),
    )
}

/// `POST /v1/auth/mfa/totp`: a new secret, waiting for its first code. A pending one is
/// replaced; a confirmed one must be disabled first.
pub async fn enrol(ctx: &Ctx) -> Outcome<Response> {
    let account = signed_in(ctx).await?;
    if factor::load(ctx, &account.id)
        .await?
        .is_some_and(|row| row.confirmed_at.is_some())
    {
        return Err(MfaError::AlreadyEnrolled.into());
    }
    let (secret, sealed) = factor::new_secret(ctx, &account.id)?;
    // The condition keeps a confirmation that won a race from being overwritten.
    let platform = PlatformDb(&ctx.db);
    platform
        .batch(vec![platform.statement(
            "INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at, last_used_step = NULL \
             WHERE totp_factors.confirmed_at IS NULL",
            &[text(&account.id), text(&sealed), int(ctx.now)],
        )?])
        .await?;
    let issuer = value(&ctx.env, "TOTP_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into());
    secret_json(
        201,
        &json!({
            "secret": secret.base32(),
            "otpauth_uri": secret.otpauth_uri(&issuer, &account.email),
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECS,
        }),
    )
}

/// `POST /v1/auth/mfa/totp/confirm {code}`: the app's first code confirms it; the answer
/// carries ten recovery codes, shown this once, and the current session counts as signed
/// in with two factors from now on (its password, and this code).
pub async fn confirm(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Code = read_json(req).await?;
    let Presented::Totp(code) = body.presented()? else {
        return Err(MfaError::MalformedCode.into());
    };
    let account = signed_in(ctx).await?;
    let row = factor::load(ctx, &account.id)
        .await?
        .ok_or(MfaError::NotEnrolled)?;
    if row.confirmed_at.is_some() {
        return Err(MfaError::AlreadyEnrolled.into());
    }
    factor::check(ctx, &account.id, &row, Presented::Totp(code)).await?;
    let platform = PlatformDb(&ctx.db);
    let (mut statements, codes) = factor::replace_recovery_codes(ctx, &account.id)?;
    statements.insert(
        0,
        platform.statement(
            "UPDATE totp_factors SET confirmed_at = ?2 WHERE user_id = ?1 AND confirmed_at IS NULL",
            &[text(&account.id), int(ctx.now)],
        )?,
    );
    let amr = mfa::amr(Method::Password, Some(Method::Totp));
    if let Some(session) = &ctx.session {
        statements.push(platform.statement(
            "UPDATE sessions SET amr = ?3 WHERE id = ?1 AND user_id = ?2",
            &[
                text(session),
                text(&account.id),
                text(&serde_json::to_string(&amr).map_err(internal)?),
            ],
        )?);
    }
    statements.extend(audited(ctx, &account, "auth.mfa_enrolled").await?);
    platform.batch(statements).await?;
    // The session's new amr is what the tenants' objects admit by.
    sessions_changed(ctx, &account.id).await?;
    secret_json(200, &json!({"recovery_codes": codes, "amr": amr}))
}

/// `POST /v1/auth/mfa/totp/disable {code | recovery_code}`: removes the app and the
/// recovery codes; sign-ins need only the password again.
pub async fn disable(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let account = proven(req, ctx).await?;
    let platform = PlatformDb(&ctx.db);
    let mut statements = vec![
        platform.statement(
            "DELETE FROM totp_factors WHERE user_id = ?1",
            &[text(&account.id)],
        )?,
        platform.statement(
            "DELETE FROM recovery_codes WHERE user_id = ?1",
            &[text(&account.id)],
        )?,
    ];
    statements.extend(audited(ctx, &account, "auth.mfa_disabled").await?);
    platform.batch(statements).await?;
    no_content()
}

/// `POST /v1/auth/mfa/recovery-codes {code | recovery_code}`: ten new recovery codes;
/// the old ones stop working.
pub async fn regenerate(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let account = proven(req, ctx).await?;
    let (mut statements, codes) = factor::replace_recovery_codes(ctx, &account.id)?;
    statements.extend(audited(ctx, &account, "auth.recovery_codes_replaced").await?);
    PlatformDb(&ctx.db).batch(statements).await?;
    secret_json(200, &json!({"recovery_codes": codes}))
}
