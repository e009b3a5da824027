//! An account's authenticator app and recovery codes as stored, and checking a typed
//! code against them: throttled first, then claimed with one conditional update, so a
//! code is accepted once even by concurrent requests.

use serde::Deserialize;
use serde::de::IgnoredAny;
use tenantry_core::auth::mfa::{self, MfaError, Presented, RecoveryCodes};
use tenantry_core::auth::totp::{SECRET_LEN, TotpSecret};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::config::keyring;
use tenantry_edge::db::{PlatformDb, int, text};
use tenantry_edge::identity::Ctx;
use tenantry_edge::{Outcome, random_bytes, throttle};
use worker::D1PreparedStatement;

/// The sealed field's name (the associated data binds the ciphertext to it and to the
/// account).
const SEALED_FIELD: &str = "totp_secret";

#[derive(Deserialize)]
pub struct FactorRow {
    secret_sealed: String,
    pub confirmed_at: Option<i64>,
    last_used_step: Option<i64>,
}

/// The account's authenticator app, confirmed or waiting for its first code.
pub async fn load(ctx: &Ctx, user_id: &str) -> Outcome<Option<FactorRow>> {
    PlatformDb(&ctx.db)
        .first(
            "SELECT secret_sealed, confirmed_at, last_used_step FROM totp_factors WHERE user_id = ?1",
            &[text(user_id)],
        )
        .await
}

/// A new secret, sealed for `user_id`: what the app is shown, and what is stored.
pub fn new_secret(ctx: &Ctx, user_id: &str) -> Outcome<(TotpSecret, String)> {
    let secret = TotpSecret::from_random(random_bytes::<SECRET_LEN>());
    let sealed = keyring(&ctx.env)?.seal(user_id, SEALED_FIELD, secret.as_bytes(), random_bytes());
    Ok((secret, sealed))
}

/// The stored secret, opened; a secret that cannot be opened is an error, never a
/// factor that accepts nothing or anything.
fn secret(ctx: &Ctx, user_id: &str, row: &FactorRow) -> Outcome<TotpSecret> {
    let bytes = keyring(&ctx.env)?
        .open(user_id, SEALED_FIELD, &row.secret_sealed)
        .map_err(|_| {
            Problem::new(
                ErrorCode::Internal,
                "the account's authenticator secret cannot be opened",
            )
        })?;
    TotpSecret::from_bytes(&bytes).ok_or_else(|| {
        Problem::new(
            ErrorCode::Internal,
            "the account's authenticator secret is damaged",
        )
    })
}

/// Checks `presented` for `user_id` against `row` (recovery codes only when `row` is
/// confirmed): throttled per account and client, and claimed, so a code or a step is
/// accepted once.
pub async fn check(
    ctx: &Ctx,
    user_id: &str,
    row: &FactorRow,
    presented: Presented<'_>,
) -> Outcome<()> {
    let keys = throttle::Keys::second_factor(user_id, ctx.client_address.as_deref());
    throttle::begin(&ctx.env, &keys, ctx.now).await?;
    let platform = PlatformDb(&ctx.db);
    // Only how many rows the update claimed matters.
    let claimed: Vec<IgnoredAny> = match presented {
        Presented::Totp(code) => {
            let step = secret(ctx, user_id, row)?.verify(code, ctx.now, row.last_used_step)?;
            platform
                .all(
                    "UPDATE totp_factors SET last_used_step = ?2 WHERE user_id = ?1 AND (last_used_step IS NULL OR last_used_step < ?2) RETURNING user_id",
                    &[text(user_id), int(step)],
                )
                .await?
        }
        Presented::RecoveryCode(code) => {
            if row.confirmed_at.is_none() {
                return Err(MfaError::WrongRecoveryCode.into());
            }
            let hash = mfa::hash_recovery_code(code)?;
            platform
                .all(
                    "UPDATE recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL RETURNING user_id",
                    &[text(user_id), text(&hash), int(ctx.now)],
                )
                .await?
        }
    };
    if claimed.is_empty() {
        // A concurrent request claimed the same step or code first.
        return Err(match presented {
            Presented::Totp(_) => MfaError::CodeReplayed,
            Presented::RecoveryCode(_) => MfaError::WrongRecoveryCode,
        }
        .into());
    }
    throttle::succeed(&ctx.env, &keys, ctx.now).await
}

/// New recovery codes for `user_id`, replacing any it had: the statements to write and
/// the plaintexts to show once.
pub fn replace_recovery_codes(
    ctx: &Ctx,
    user_id: &str,
) -> Outcome<(Vec<D1PreparedStatement>, Vec<String>)> {
    let RecoveryCodes { plaintext, hashes } =
        mfa::recovery_codes(&random_bytes::<{ mfa::RECOVERY_RANDOM_LEN }>());
    let platform = PlatformDb(&ctx.db);
    let mut statements = vec![platform.statement(
        "DELETE FROM recovery_codes WHERE user_id = ?1",
        &[text(user_id)],
    )?];
    for hash in &hashes {
        statements.push(platform.statement(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)",
            &[text(user_id), text(hash), int(ctx.now)],
        )?);
    }
    Ok((statements, plaintext))
}
