//! Accepting an invitation: the token (7 days, single use, stored hashed) adds the
//! membership, to a new account or an existing one (of this tenant or another), sets
//! `joined_at`, and signs in. An unknown, expired, revoked or used token is 410
//! `invitation_invalid` and changes nothing. The token also reads the invitation without
//! spending it, so the page that accepts can say who invites and as what.

use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::mfa::Method;
use tenantry_core::auth::password::check_new_password;
use tenantry_core::auth::session::{SessionError, may_sign_in};
use tenantry_core::auth::{OneTimeToken, TokenKind, hash_token};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::accounts::{self, AccountRow};
use tenantry_edge::db::{PlatformDb, TenantDb, int, text};
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::identity::{Ctx, audit_in};
use tenantry_edge::password;
use tenantry_edge::signin::{self, Asked, check_password, rehash};
use tenantry_edge::{Outcome, new_id, tenant_state};
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    token: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    cookie: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    token: String,
}

#[derive(Deserialize)]
struct InvitationRow {
    tenant_id: String,
    tenant_name: String,
    tenant_slug: String,
    id: String,
    email: String,
    role: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// The invitation a token names while it can still be accepted, and the token's hash.
async fn usable(ctx: &Ctx, token: &str) -> Outcome<(InvitationRow, String)> {
    let hash = hash_token(TokenKind::Invitation, token).map_err(|_| invitation_invalid())?;
    let invitation = PlatformDb(&ctx.db)
        .first(
            "SELECT i.tenant_id, t.name AS tenant_name, t.slug AS tenant_slug, i.id, i.email, i.role, \
             i.created_at, i.expires_at, i.accepted_at, i.revoked_at \
             FROM invitations i JOIN tenants t ON t.id = i.tenant_id WHERE i.token_hash = ?1 AND t.status != 'deleted'",
            &[text(&hash)],
        )
        .await?
        .filter(|i: &InvitationRow| {
            OneTimeToken {
                expires_at: i.expires_at,
                used_at: i.accepted_at,
                revoked_at: i.revoked_at,
            }
            .usable(ctx.now)
        })
        .ok_or_else(invitation_invalid)?;
    Ok((invitation, hash))
}

/// `POST /v1/auth/invitation {token}`: who invites, as what, and whether accepting asks
/// for the existing account's password or a new one. Spends nothing; the token (128
/// bits, mailed to the invitee) is the only credential, as for accepting.
pub async fn show(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Lookup = read_json(req).await?;
    let (invitation, _) = usable(ctx, &body.token).await?;
    let account_exists = accounts::by_email(ctx, &invitation.email)
        .await?
        .is_some_and(|account| account.password_hash.is_some());
    json(
        200,
        &json!({
            "tenant": {"name": invitation.tenant_name, "slug": invitation.tenant_slug},
            "role": invitation.role,
            "email": invitation.email,
            "expires_at": invitation.expires_at,
            "account_exists": account_exists,
        }),
    )
}

fn invitation_invalid() -> Problem {
    Problem::new(
        ErrorCode::InvitationInvalid,
        "the invitation is unknown, already used, revoked or expired; ask for a new one",
    )
}

/// `POST /v1/auth/accept-invitation {token, password?}`. A new account sets its
/// password here; an existing one proves it with its password (throttled as a sign-in).
///
/// Everything is decided first (token usable, account may sign in, password), then one
/// batch spends the token and writes the account and the membership: the membership's
/// role is read from the invitation this very request claimed, so if another request
/// claimed it first the role is NULL, the insert fails and the batch (a transaction)
/// rolls back whole.
pub async fn accept(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    let body: Accept = read_json(req).await?;
    let (invitation, hash) = usable(ctx, &body.token).await?;
    let platform = PlatformDb(&ctx.db);
    let password = body.password.as_deref().ok_or_else(|| {
        invalid(
            "password",
            "required: the new account's password, or the existing account's",
        )
    })?;
    let existing = accounts::by_email(ctx, &invitation.email).await?;
    if let Some(account) = &existing {
        // Holding the mailed token proves the address: only a suspension refuses here.
        let mut proven = account.account();
        proven.email_verified = true;
        may_sign_in(&proven)?;
    }
    let mut statements = Vec::new();
    let account = match existing {
        Some(account) if account.password_hash.is_some() => {
            let checked = check_password(ctx, &account.email, Some(&account), password).await?;
            if !checked.matches {
                return Err(SessionError::InvalidCredentials.into());
            }
            statements.extend(rehash(ctx, &account, &checked)?);
            statements.push(platform.statement(
                "UPDATE users SET email_verified = 1, updated_at = ?2 WHERE id = ?1",
                &[text(&account.id), int(ctx.now)],
            )?);
            AccountRow {
                email_verified: 1,
                ..account
            }
        }
        Some(account) => {
            // An account made by an operator or a member addition, without a password yet.
            check_new_password(password)?;
            let hash = password::hash_new(ctx.password_policy, password).await?;
            statements.push(platform.statement(
                "UPDATE users SET password_hash = ?2, email_verified = 1, updated_at = ?3 WHERE id = ?1",
                &[text(&account.id), text(&hash), int(ctx.now)],
            )?);
            AccountRow {
                password_hash: Some(hash),
                email_verified: 1,
                ..account
            }
        }
        None => {
            check_new_password(password)?;
            let hash = password::hash_new(ctx.password_policy, password).await?;
            let account = AccountRow {
                id: new_id("u"),
                email: invitation.email.clone(),
                password_hash: Some(hash),
                email_verified: 1,
                status: "active".into(),
                platform_role: None,
                locale: ctx.locale.as_str().into(),
                second_factor: 0,
            };
            statements.push(platform.statement(
                "INSERT INTO users (id, email, password_hash, email_verified, locale, created_at, updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5)",
                &[text(&account.id), text(&account.email), text(account.password_hash.as_deref().unwrap_or_default()), text(&account.locale), int(ctx.now)],
            )?);
            account
        }
    };
    let tenant = TenantDb::new(&ctx.db, &invitation.tenant_id);
    let mut batch = vec![tenant.statement(
        "UPDATE invitations SET accepted_at = ?4, accepted_by = ?5 \
         WHERE tenant_id = ?1 AND id = ?2 AND token_hash = ?3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?4",
        &[text(&invitation.id), text(&hash), int(ctx.now), text(&account.id)],
    )?];
    batch.extend(statements);
    batch.push(tenant.statement(
        "INSERT INTO memberships (tenant_id, user_id, role, created_at, invited_at, joined_at) \
         SELECT ?1, ?2, (SELECT role FROM invitations WHERE tenant_id = ?1 AND id = ?3 AND accepted_by = ?2 AND accepted_at = ?4), ?4, ?5, ?4 \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET joined_at = COALESCE(joined_at, excluded.joined_at)",
        &[text(&account.id), text(&invitation.id), int(ctx.now), int(invitation.created_at)],
    )?);
    batch.extend(audit_in(
        ctx,
        &[&invitation.tenant_id],
        &account.id,
        "invitation.accept",
        Some(&invitation.id),
        Some(json!({"email": invitation.email, "role": invitation.role})),
    )?);
    if let Err(problem) = platform.batch(batch).await {
        // Rolled back whole. Lost to a concurrent acceptance (or a revocation): 410.
        #[derive(Deserialize)]
        struct Claim {
            accepted_by: Option<String>,
            revoked_at: Option<i64>,
        }
        let claim: Option<Claim> = tenant
            .first(
                "SELECT accepted_by, revoked_at FROM invitations WHERE tenant_id = ?1 AND id = ?2",
                &[text(&invitation.id)],
            )
            .await?;
        if claim.is_some_and(|c| {
            c.revoked_at.is_some() || c.accepted_by.is_some_and(|by| by != account.id)
        }) {
            return Err(invitation_invalid());
        }
        return Err(problem);
    }
    // The membership is hot state of the tenant's object (it may have cached "no member").
    tenant_state::invalidate(&ctx.env, &invitation.tenant_id).await?;
    let asked = Asked {
        tenant: Some(&invitation.tenant_id),
        use_cookie: body.cookie,
        action: "auth.login",
    };
    signin::sign_in(ctx, &account, &asked, Method::Password, Vec::new()).await
}
