//! Sessions: sign-in, refresh-token rotation with reuse detection, sign-out, the list
//! of an account's sessions, and switching tenant.
//!
//! A session is a family of refresh tokens. Rotation claims the presented token with one
//! conditional update (`rotated_at IS NULL`), which D1 runs atomically: of two requests
//! presenting the same token, exactly one claims it; the other finds it rotated, which
//! is reuse, and revokes the whole session.

use tenantry_edge::accounts::{self, MembershipRow};
use tenantry_edge::cookie;
use tenantry_edge::identity::{Ctx, audit_in, sessions_changed};
use tenantry_edge::signin::{self, Asked, answer, check_password, rehash};

use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::mfa::{Method, stored_amr};
use tenantry_core::auth::session::{
    PresentedRefresh, SessionError, access_claims, may_sign_in, refresh as refresh_rule,
    session_live,
};
use tenantry_core::auth::{TokenKind, generate_token, hash_token};
use tenantry_core::mail::Address;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{PlatformDb, TenantDb, int, opt_text, text};
use tenantry_edge::http::{json, not_found, read_json};
use tenantry_edge::{Outcome, audit, random_bytes};
use worker::{D1PreparedStatement, Request, Response};

/// Most sessions listed for one account.
const MAX_SESSIONS_LISTED: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
    /// The tenant to sign in to (id or slug); the first active one by default.
    #[serde(default)]
    tenant: Option<String>,
    /// Carry the refresh token in the `HttpOnly` cookie rather than the body.
    #[serde(default)]
    cookie: bool,
}

fn invalid_credentials() -> Problem {
    SessionError::InvalidCredentials.into()
}

/// `POST /v1/auth/login`.
pub async fn login(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Login = read_json(req).await?;
    let account = match Address::parse(body.email.trim()) {
        Ok(email) => accounts::by_email(ctx, email.as_str()).await?,
        Err(_) => None,
    };
    let checked = check_password(ctx, &body.email, account.as_ref(), &body.password).await?;
    if !checked.matches {
        if let Some(known) = &account {
            // After the answer, so that a known address answers as fast as an unknown one.
            audit_failed_login(ctx, known.id.clone());
        }
        return Err(invalid_credentials());
    }
    let account = account.ok_or_else(invalid_credentials)?;
    let extra = rehash(ctx, &account, &checked)?.into_iter().collect();
    let asked = Asked {
        tenant: body.tenant.as_deref(),
        use_cookie: body.cookie,
        action: "auth.login",
    };
    signin::sign_in(ctx, &account, &asked, Method::Password, extra).await
}

/// Writes `auth.login_failed` in the account's first tenant once the answer is sent.
fn audit_failed_login(ctx: &Ctx, user_id: String) {
    let env = ctx.env.clone();
    let (request_id, now, client) = (ctx.request_id.clone(), ctx.now, ctx.client_address.clone());
    ctx.background.wait_until(async move {
        let written = async {
            let db = env.d1("DB").map_err(tenantry_edge::internal)?;
            #[derive(Deserialize)]
            struct First {
                tenant_id: String,
            }
            let first: Option<First> = PlatformDb(&db)
                .first(
                    "SELECT tenant_id FROM memberships WHERE user_id = ?1 ORDER BY COALESCE(joined_at, created_at) LIMIT 1",
                    &[text(&user_id)],
                )
                .await?;
            if let Some(first) = first {
                let entry = audit::Entry {
                    actor: &user_id,
                    action: "auth.login_failed",
                    resource: "sessions",
                    resource_id: None,
                    before: None,
                    after: Some(json!({"client": client})),
                };
                let tenant = TenantDb::new(&db, &first.tenant_id);
                tenant.batch(vec![audit::statement(&tenant, entry, &request_id, now)?]).await?;
            }
            Outcome::Ok(())
        };
        if let Err(problem) = written.await {
            worker::console_error!("failed sign-in not audited: {}", problem.detail);
        }
    });
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Presented {
    #[serde(default)]
    refresh_token: Option<String>,
    /// For refresh: the answer's refresh token goes in the cookie (default when it came
    /// in one).
    #[serde(default)]
    cookie: Option<bool>,
}

/// The refresh token of the body or, failing that, of the cookie, and whether it came
/// in the cookie. A body is optional for cookie-carrying browsers.
async fn presented(req: &mut Request) -> Outcome<(String, bool, Option<bool>)> {
    let has_body = tenantry_edge::http::declared_length(req.headers()).is_some_and(|n| n > 0)
        || req.headers().get("content-type").ok().flatten().is_some();
    let body: Presented = if has_body {
        read_json(req).await?
    } else {
        Presented::default()
    };
    match (body.refresh_token, cookie::refresh_token(req)) {
        (Some(token), _) => Ok((token, false, body.cookie)),
        (None, Some(token)) => Ok((token, true, body.cookie)),
        (None, None) => Err(Problem::new(
            ErrorCode::Unauthenticated,
            "send the refresh token in the body (refresh_token) or the cookie",
        )),
    }
}

#[derive(Deserialize)]
struct Claimed {
    session_id: String,
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    user_id: String,
    tenant_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    amr: String,
}

impl SessionRow {
    fn live(&self, now: i64) -> bool {
        session_live(
            self.created_at,
            self.expires_at,
            self.revoked_at.is_some(),
            now,
        )
    }
}

async fn session(ctx: &Ctx, id: &str) -> Outcome<Option<SessionRow>> {
    PlatformDb(&ctx.db)
        .first(
            "SELECT id, user_id, tenant_id, created_at, expires_at, revoked_at, amr FROM sessions WHERE id = ?1",
            &[text(id)],
        )
        .await
}

fn revoke_session(ctx: &Ctx, id: &str, reason: &str) -> Outcome<D1PreparedStatement> {
    PlatformDb(&ctx.db).statement(
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        &[text(id), int(ctx.now), text(reason)],
    )
}

/// `POST /v1/auth/refresh`.
pub async fn refresh(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let (token, from_cookie, wants_cookie) = presented(req).await?;
    let hash = hash_token(TokenKind::Refresh, &token).map_err(|_| invalid_refresh())?;
    let platform = PlatformDb(&ctx.db);
    let claimed: Vec<Claimed> = platform
        .all(
            "UPDATE refresh_tokens SET rotated_at = ?2 WHERE token_hash = ?1 AND rotated_at IS NULL RETURNING session_id",
            &[text(&hash), int(ctx.now)],
        )
        .await?;
    let (presented, session) = match claimed.into_iter().next() {
        Some(claimed) => {
            let session = session(ctx, &claimed.session_id).await?;
            let live = session.as_ref().is_some_and(|s| s.live(ctx.now));
            (PresentedRefresh::Claimed { session_live: live }, session)
        }
        None => {
            let known: Option<Claimed> = platform
                .first(
                    "SELECT session_id FROM refresh_tokens WHERE token_hash = ?1",
                    &[text(&hash)],
                )
                .await?;
            match known {
                Some(known) => (
                    PresentedRefresh::AlreadyRotated,
                    session(ctx, &known.session_id).await?,
                ),
                None => (PresentedRefresh::Unknown, None),
            }
        }
    };
    if let Err(error) = refresh_rule(presented) {
        if let (SessionError::TokenReused, Some(session)) = (error, &session) {
            let mut statements = vec![revoke_session(ctx, &session.id, "refresh_reuse")?];
            if let Some(tenant_id) = &session.tenant_id {
                statements.extend(audit_in(
                    ctx,
                    &[tenant_id],
                    &session.user_id,
                    "auth.refresh_reused",
                    Some(&session.id),
                    Some(json!({"client": ctx.client_address})),
                )?);
            }
            let written = platform.batch(statements).await;
            sessions_changed(ctx, &session.user_id).await?;
            written?;
        }
        return Err(if error == SessionError::RefreshInvalid {
            invalid_refresh()
        } else {
            error.into()
        });
    }
    let Some(session) = session else {
        return Err(invalid_refresh());
    };
    let account = accounts::by_id(ctx, &session.user_id)
        .await?
        .ok_or_else(invalid_refresh)?;
    may_sign_in(&account.account())?;
    let memberships = accounts::memberships(ctx, &account.id).await?;
    let members: Vec<_> = memberships.iter().map(MembershipRow::member_of).collect();
    // The session's tenant, unless the account left it meanwhile.
    let amr = stored_amr(&session.amr);
    let claims = match access_claims(
        &account.account(),
        &members,
        session.tenant_id.as_deref(),
        &session.id,
        &amr,
        ctx.now,
        &ctx.config.jwt,
    ) {
        Err(SessionError::NotAMember) => access_claims(
            &account.account(),
            &members,
            None,
            &session.id,
            &amr,
            ctx.now,
            &ctx.config.jwt,
        )?,
        other => other?,
    };
    let next = generate_token(TokenKind::Refresh, &random_bytes());
    platform
        .batch(vec![
            platform.statement(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)",
                &[text(&next.hash), text(&session.id), int(ctx.now)],
            )?,
            platform.statement(
                "UPDATE sessions SET last_used_at = ?2, expires_at = ?3, tenant_id = ?4 WHERE id = ?1",
                &[text(&session.id), int(ctx.now), int(ctx.now + TokenKind::Refresh.lifetime_secs()), opt_text(claims.tenant_id.as_deref())],
            )?,
        ])
        .await?;
    answer(
        ctx,
        claims,
        Some(&next.plaintext),
        wants_cookie.unwrap_or(from_cookie),
    )
}

fn invalid_refresh() -> Problem {
    SessionError::RefreshInvalid.into()
}

/// `POST /v1/auth/logout`: revokes the session of the presented refresh token (every
/// token of its family) and clears the cookie. Unknown tokens get the same 204.
pub async fn logout(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let (token, _, _) = presented(req).await?;
    let hash = hash_token(TokenKind::Refresh, &token).map_err(|_| invalid_refresh())?;
    let known: Option<Claimed> = PlatformDb(&ctx.db)
        .first(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = ?1",
            &[text(&hash)],
        )
        .await?;
    if let Some(known) = known
        && let Some(session) = session(ctx, &known.session_id).await?
    {
        let mut statements = vec![revoke_session(ctx, &session.id, "logout")?];
        if let Some(tenant_id) = &session.tenant_id {
            statements.extend(audit_in(
                ctx,
                &[tenant_id],
                &session.user_id,
                "auth.logout",
                Some(&session.id),
                None,
            )?);
        }
        let written = PlatformDb(&ctx.db).batch(statements).await;
        sessions_changed(ctx, &session.user_id).await?;
        written?;
    }
    let mut response = tenantry_edge::http::no_content()?;
    response
        .headers_mut()
        .set("set-cookie", &cookie::set("", 0))
        .map_err(tenantry_edge::internal)?;
    Ok(response)
}

/// `GET /v1/auth/sessions`: the account's live sessions, newest first.
pub async fn list(ctx: &Ctx) -> Outcome<Response> {
    let account = accounts::signed_in(ctx).await?;
    may_sign_in(&account.account())?;
    #[derive(serde::Serialize, Deserialize)]
    struct Row {
        id: String,
        tenant_id: Option<String>,
        user_agent: Option<String>,
        created_at: i64,
        last_used_at: i64,
        expires_at: i64,
        amr: String,
    }
    let rows: Vec<Row> = PlatformDb(&ctx.db)
        .all(
            "SELECT id, tenant_id, user_agent, created_at, last_used_at, expires_at, amr FROM sessions \
             WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC LIMIT ?3",
            &[text(&account.id), int(ctx.now), int(MAX_SESSIONS_LISTED)],
        )
        .await?;
    let sessions: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let current = ctx.session.as_deref() == Some(r.id.as_str());
            let amr = stored_amr(&r.amr);
            let mut row = json!(r);
            row["current"] = json!(current);
            row["amr"] = json!(amr);
            row
        })
        .collect();
    json(200, &json!({"sessions": sessions}))
}

/// `DELETE /v1/auth/sessions/{id}`: ends one of the account's own sessions.
pub async fn end(ctx: &Ctx, id: &str) -> Outcome<Response> {
    let account = accounts::signed_in(ctx).await?;
    tenantry_core::ids::check(id, "ses")?;
    let Some(session) = session(ctx, id)
        .await?
        .filter(|s| s.user_id == account.id && s.revoked_at.is_none())
    else {
        return Err(not_found("session"));
    };
    let mut statements = vec![revoke_session(ctx, &session.id, "ended")?];
    if let Some(tenant_id) = &session.tenant_id {
        statements.extend(audit_in(
            ctx,
            &[tenant_id],
            &account.id,
            "auth.session_end",
            Some(&session.id),
            None,
        )?);
    }
    let written = PlatformDb(&ctx.db).batch(statements).await;
    sessions_changed(ctx, &account.id).await?;
    written?;
    tenantry_edge::http::no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    tenant: String,
}

/// `POST /v1/auth/switch {tenant}`: an access token for another of the account's
/// tenants; the session's refreshes issue tokens for it from now on.
pub async fn switch(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Switch = read_json(req).await?;
    let account = accounts::signed_in(ctx).await?;
    may_sign_in(&account.account())?;
    let session_id = ctx.session.as_deref().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "switching tenant needs a token from a sign-in (POST /v1/auth/login)",
        )
    })?;
    let Some(session) = session(ctx, session_id)
        .await?
        .filter(|s| s.user_id == account.id && s.live(ctx.now))
    else {
        return Err(Problem::new(
            ErrorCode::Unauthenticated,
            "the session has ended; sign in again",
        ));
    };
    let memberships = accounts::memberships(ctx, &account.id).await?;
    let members: Vec<_> = memberships.iter().map(MembershipRow::member_of).collect();
    let claims = access_claims(
        &account.account(),
        &members,
        Some(&body.tenant),
        &session.id,
        &stored_amr(&session.amr),
        ctx.now,
        &ctx.config.jwt,
    )?;
    let tenant_id = claims.tenant_id.clone().unwrap_or_default();
    let platform = PlatformDb(&ctx.db);
    let mut statements = vec![platform.statement(
        "UPDATE sessions SET tenant_id = ?2, last_used_at = ?3 WHERE id = ?1",
        &[text(&session.id), text(&tenant_id), int(ctx.now)],
    )?];
    statements.extend(audit_in(
        ctx,
        &[&tenant_id],
        &account.id,
        "auth.switch",
        Some(&session.id),
        None,
    )?);
    platform.batch(statements).await?;
    answer(ctx, claims, None, false)
}
