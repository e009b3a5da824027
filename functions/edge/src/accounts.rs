//! Accounts as the identity Workers (`auth`, `accounts`) read them: one identity per
//! address across tenants, and its memberships.

use crate::Outcome;
use crate::db::{PlatformDb, int, text};
use crate::identity::Ctx;
use serde::{Deserialize, Serialize};
use tenantry_core::auth::session::{Account, MemberOf};
use tenantry_core::tenant::TenantStatus;
use tenantry_core::{ErrorCode, Problem};

/// Most memberships read for one account (every read is bounded).
const MAX_MEMBERSHIPS: i64 = 200;

/// An account row.
#[derive(Clone, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub email_verified: i64,
    pub status: String,
    pub platform_role: Option<String>,
    pub locale: String,
    /// 1 when a confirmed second factor (an authenticator app) guards its sign-ins.
    #[serde(default)]
    pub second_factor: i64,
}

const ACCOUNT_COLUMNS: &str = "id, email, password_hash, email_verified, status, platform_role, locale, \
     EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id AND f.confirmed_at IS NOT NULL) AS second_factor";

impl AccountRow {
    /// What the core decides with.
    pub fn account(&self) -> Account {
        Account {
            id: self.id.clone(),
            platform_role: self.platform_role.clone(),
            suspended: self.status != "active",
            email_verified: self.email_verified != 0,
        }
    }

    pub fn locale(&self) -> tenantry_core::notify::Locale {
        tenantry_core::notify::Locale::parse(&self.locale)
            .unwrap_or(tenantry_core::notify::Locale::En)
    }
}

/// The account with this (normalised) address.
pub async fn by_email(ctx: &Ctx, email: &str) -> Outcome<Option<AccountRow>> {
    by_email_in(&ctx.db, email).await
}

/// [`by_email`] for work that outlives the request.
pub async fn by_email_in(db: &worker::D1Database, email: &str) -> Outcome<Option<AccountRow>> {
    PlatformDb(db)
        .first(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE email = ?1"),
            &[text(email)],
        )
        .await
}

/// The account with this id.
pub async fn by_id(ctx: &Ctx, id: &str) -> Outcome<Option<AccountRow>> {
    PlatformDb(&ctx.db)
        .first(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = ?1"),
            &[text(id)],
        )
        .await
}

/// The signed-in account; 401 when it no longer exists.
pub async fn signed_in(ctx: &Ctx) -> Outcome<AccountRow> {
    by_id(ctx, ctx.account_id()?)
        .await?
        .ok_or_else(|| Problem::new(ErrorCode::Unauthenticated, "the account no longer exists"))
}

#[derive(Serialize, Deserialize)]
pub struct MembershipRow {
    pub tenant_id: String,
    pub slug: String,
    pub name: String,
    pub role: String,
    pub status: TenantStatus,
    pub invited_at: Option<i64>,
    pub joined_at: Option<i64>,
}

impl MembershipRow {
    pub fn member_of(&self) -> MemberOf {
        MemberOf {
            tenant_id: self.tenant_id.clone(),
            slug: self.slug.clone(),
            role: self.role.clone(),
            tenant_status: self.status,
        }
    }
}

/// The account's memberships, oldest first.
pub async fn memberships(ctx: &Ctx, user_id: &str) -> Outcome<Vec<MembershipRow>> {
    PlatformDb(&ctx.db)
        .all(
            "SELECT m.tenant_id, t.slug, t.name, m.role, t.status, m.invited_at, m.joined_at \
             FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = ?1 AND t.status != 'deleted' \
             ORDER BY COALESCE(m.joined_at, m.created_at), m.tenant_id LIMIT ?2",
            &[text(user_id), int(MAX_MEMBERSHIPS)],
        )
        .await
}
