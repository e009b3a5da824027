//! Checking a password and opening a session, for the Workers that sign people in
//! (`auth`: passwords; `accounts`: invitations accepted; `factors`: second factors). A sign-in whose account has a second factor
//! gets a challenge instead of a session (see `tenantry_core::auth::mfa`); the challenge
//! remembers what the sign-in asked for, so the second factor opens the same session.

use crate::accounts::{self, AccountRow, MembershipRow};
use crate::db::{PlatformDb, int, opt_text, text};
use crate::identity::{Ctx, audit_in};
use crate::{Outcome, cookie, http, internal, new_id, password, random_bytes, throttle};
use serde_json::json;
use tenantry_core::auth::mfa::{self, Method};
use tenantry_core::auth::session::{access_claims, may_sign_in};
use tenantry_core::auth::{Claims, TokenKind, generate_token};
use worker::{D1PreparedStatement, Response};

/// What a sign-in asked for.
pub struct Asked<'a> {
    /// The tenant to sign in to (id or slug); the first active one by default.
    pub tenant: Option<&'a str>,
    /// Carry the refresh token in the `HttpOnly` cookie rather than the body.
    pub use_cookie: bool,
    /// The audit action of the sign-in (`auth.login`).
    pub action: &'a str,
}

/// Signs `account` in with its first factor checked: a challenge when it has a second
/// factor (with `extra` written, the change that led here), else the session.
pub async fn sign_in(
    ctx: &Ctx,
    account: &AccountRow,
    asked: &Asked<'_>,
    first: Method,
    mut extra: Vec<D1PreparedStatement>,
) -> Outcome<Response> {
    may_sign_in(&account.account())?;
    if account.second_factor == 0 {
        return open(ctx, account, asked, mfa::amr(first, None), extra).await;
    }
    let token = generate_token(TokenKind::MfaChallenge, &random_bytes());
    let lifetime = TokenKind::MfaChallenge.lifetime_secs();
    extra.push(PlatformDb(&ctx.db).statement(
        "INSERT INTO mfa_challenges (token_hash, user_id, tenant, use_cookie, action, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[text(&token.hash), text(&account.id), opt_text(asked.tenant), int(i64::from(asked.use_cookie)), text(asked.action), int(ctx.now), int(ctx.now + lifetime)],
    )?);
    PlatformDb(&ctx.db).batch(extra).await?;
    http::secret_json(
        200,
        &json!({
            "mfa_required": true,
            "mfa_token": token.plaintext,
            "methods": ["totp", "recovery_code"],
            "expires_in": lifetime,
        }),
    )
}

/// A new session for `account` with `amr`: the session row, its first refresh token and
/// the sign-in's audit entry go in one batch with `extra`.
pub async fn open(
    ctx: &Ctx,
    account: &AccountRow,
    asked: &Asked<'_>,
    amr: Vec<String>,
    mut extra: Vec<D1PreparedStatement>,
) -> Outcome<Response> {
    may_sign_in(&account.account())?;
    let memberships = accounts::memberships(ctx, &account.id).await?;
    let members: Vec<_> = memberships.iter().map(MembershipRow::member_of).collect();
    let session_id = new_id("ses");
    let claims = access_claims(
        &account.account(),
        &members,
        asked.tenant,
        &session_id,
        &amr,
        ctx.now,
        &ctx.config.jwt,
    )?;
    let refresh = generate_token(TokenKind::Refresh, &random_bytes());
    let platform = PlatformDb(&ctx.db);
    let amr_text = serde_json::to_string(&amr).map_err(internal)?;
    extra.push(platform.statement(
        "INSERT INTO sessions (id, user_id, tenant_id, user_agent, created_at, last_used_at, expires_at, amr) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
        &[text(&session_id), text(&account.id), opt_text(claims.tenant_id.as_deref()), opt_text(ctx.user_agent.as_deref()), int(ctx.now), int(ctx.now + TokenKind::Refresh.lifetime_secs()), text(&amr_text)],
    )?);
    extra.push(platform.statement(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)",
        &[text(&refresh.hash), text(&session_id), int(ctx.now)],
    )?);
    if let Some(tenant_id) = &claims.tenant_id {
        extra.extend(audit_in(
            ctx,
            &[tenant_id],
            &account.id,
            asked.action,
            Some(&session_id),
            Some(json!({"session_id": session_id, "amr": amr})),
        )?);
    }
    platform.batch(extra).await?;
    answer(ctx, claims, Some(&refresh.plaintext), asked.use_cookie)
}

/// The answer carrying a new access token (and refresh token, in the body or the cookie).
pub fn answer(
    ctx: &Ctx,
    claims: Claims,
    refresh: Option<&str>,
    use_cookie: bool,
) -> Outcome<Response> {
    let access = ctx.config.jwt_key.sign(&claims);
    let tenant = claims
        .tenants
        .first()
        .filter(|_| claims.tenant_id.is_some());
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": claims.exp - claims.iat,
        "session_id": claims.sid,
        "user_id": claims.sub,
        "tenant": tenant,
        "tenants": claims.tenants,
        "amr": claims.amr,
    });
    if let (Some(token), false) = (refresh, use_cookie) {
        body["refresh_token"] = json!(token);
    }
    let mut response = http::secret_json(200, &body)?;
    if let (Some(token), true) = (refresh, use_cookie) {
        response
            .headers_mut()
            .set(
                "set-cookie",
                &cookie::set(token, TokenKind::Refresh.lifetime_secs()),
            )
            .map_err(internal)?;
    }
    Ok(response)
}

/// Checks `password` for the account the typed `email` names (a decoy hash when there is
/// none), throttled per address and per client: the attempt is counted before the hash.
pub async fn check_password(
    ctx: &Ctx,
    email: &str,
    account: Option<&AccountRow>,
    password: &str,
) -> Outcome<password::Checked> {
    let keys = throttle::Keys::new(email, ctx.client_address.as_deref());
    throttle::begin(&ctx.env, &keys, ctx.now).await?;
    let checked = if tenantry_core::auth::password::hashable(password) {
        password::verify(
            account.and_then(|a| a.password_hash.as_deref()),
            password,
            ctx.password_policy,
        )
        .await?
    } else {
        password::Checked {
            matches: false,
            rehash: None,
        }
    };
    if checked.matches {
        throttle::succeed(&ctx.env, &keys, ctx.now).await?;
    }
    Ok(checked)
}

/// The statement storing a stronger hash of a password just verified, if the policy asks.
pub fn rehash(
    ctx: &Ctx,
    account: &AccountRow,
    checked: &password::Checked,
) -> Outcome<Option<D1PreparedStatement>> {
    checked
        .rehash
        .as_ref()
        .map(|hash| {
            PlatformDb(&ctx.db).statement(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                &[text(&account.id), text(hash), int(ctx.now)],
            )
        })
        .transpose()
}
