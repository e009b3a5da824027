//! `POST /v1/auth/mfa/verify {mfa_token, code | recovery_code}`: completes a sign-in that
//! met a second factor. The challenge (5 minutes, single use, at most five wrong codes)
//! carries what the sign-in asked for, so the session opened here is the one the password
//! would have opened, with both factors in its `amr`.

use crate::factor;
use serde::Deserialize;
use serde::de::IgnoredAny;
use tenantry_core::auth::mfa::{self, Challenge, Method, MfaError, Presented};
use tenantry_core::auth::{TokenKind, hash_token};
use tenantry_edge::Outcome;
use tenantry_edge::accounts;
use tenantry_edge::db::{PlatformDb, int, text};
use tenantry_edge::http::read_json;
use tenantry_edge::identity::Ctx;
use tenantry_edge::signin::{self, Asked};
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verify {
    mfa_token: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Deserialize)]
struct ChallengeRow {
    user_id: String,
    tenant: Option<String>,
    use_cookie: i64,
    action: String,
    attempts: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl ChallengeRow {
    fn challenge(&self) -> Challenge {
        Challenge {
            expires_at: self.expires_at,
            used_at: self.used_at,
            attempts: self.attempts,
        }
    }
}

pub async fn verify(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Verify = read_json(req).await?;
    let presented = Presented::from_fields(body.code.as_deref(), body.recovery_code.as_deref())?;
    let hash = hash_token(TokenKind::MfaChallenge, &body.mfa_token)
        .map_err(|_| MfaError::ChallengeInvalid)?;
    let platform = PlatformDb(&ctx.db);
    let row: ChallengeRow = platform
        .first(
            "SELECT user_id, tenant, use_cookie, action, attempts, expires_at, used_at FROM mfa_challenges WHERE token_hash = ?1",
            &[text(&hash)],
        )
        .await?
        .ok_or(MfaError::ChallengeInvalid)?;
    row.challenge().check(ctx.now)?;
    let account = accounts::by_id(ctx, &row.user_id)
        .await?
        .ok_or(MfaError::ChallengeInvalid)?;
    // Disabled since the password was checked: that sign-in needs starting again.
    let factor_row = factor::load(ctx, &account.id)
        .await?
        .filter(|f| f.confirmed_at.is_some())
        .ok_or(MfaError::ChallengeInvalid)?;
    if let Err(refused) = factor::check(ctx, &account.id, &factor_row, presented).await {
        platform
            .batch(vec![platform.statement(
                "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = ?1",
                &[text(&hash)],
            )?])
            .await?;
        return Err(refused);
    }
    // Exactly one request turns a challenge into a session.
    // Only how many rows the update claimed matters.
    let claimed: Vec<IgnoredAny> = platform
        .all(
            "UPDATE mfa_challenges SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL RETURNING token_hash",
            &[text(&hash), int(ctx.now)],
        )
        .await?;
    if claimed.is_empty() {
        return Err(MfaError::ChallengeInvalid.into());
    }
    let asked = Asked {
        tenant: row.tenant.as_deref(),
        use_cookie: row.use_cookie != 0,
        action: &row.action,
    };
    let amr = mfa::amr(Method::Password, Some(presented.method()));
    signin::open(ctx, &account, &asked, amr, Vec::new()).await
}
