//! Sessions: who may sign in, the access token a signed-in account gets for one of its
//! tenants, and what a presented refresh token's row means.
//!
//! The shell loads the account and its memberships, claims a refresh token with one
//! conditional update (the only step that must be atomic) and asks here what follows.

use super::mfa::MfaError;
use super::{Audience, Claims, JwtConfig, TenantClaim};
use crate::problem::{ErrorCode, Problem};
use crate::tenant::TenantStatus;
use alloc::string::String;
use alloc::vec::Vec;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECS: i64 = 15 * 60;

/// Longest a session lives from its sign-in, however often it is refreshed.
pub const MAX_SESSION_SECS: i64 = 90 * 86_400;

/// Whether a session can still be used: not revoked, refreshed within its sliding expiry,
/// and younger than [`MAX_SESSION_SECS`].
pub fn session_live(created_at: i64, expires_at: i64, revoked: bool, now: i64) -> bool {
    !revoked && now < expires_at && now < created_at + MAX_SESSION_SECS
}

/// A sign-in session's times as stored: created, expires, revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    /// When it was signed in.
    pub created_at: i64,
    /// Its sliding expiry.
    pub expires_at: i64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// Whether an access token of a sign-in session may act now, on any route: its account
/// is active (`account_active`) and its session (`None`: not found) is still live. A
/// logout, a reset, a reuse detection or a suspension ends its tokens at once.
pub fn token_may_act(
    account_active: bool,
    session: Option<SessionTimes>,
    now: i64,
) -> Result<(), SessionError> {
    if !account_active {
        return Err(SessionError::AccountSuspended);
    }
    match session {
        Some(s) if session_live(s.created_at, s.expires_at, s.revoked, now) => Ok(()),
        _ => Err(SessionError::SessionEnded),
    }
}

/// Memberships listed in one access token; an account in more tenants switches.
pub const MAX_TENANTS_IN_TOKEN: usize = 50;

/// An account as the shell loaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub id: String,
    /// `superadmin` for platform operators.
    pub platform_role: Option<String>,
    /// Suspended by a platform operator.
    pub suspended: bool,
    /// Whether the address was proven (by a verification or an invitation link).
    pub email_verified: bool,
}

/// One of the account's memberships, with its tenant's slug and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOf {
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant slug.
    pub slug: String,
    /// Role there.
    pub role: String,
    /// The tenant's status.
    pub tenant_status: TenantStatus,
}

/// Why a session cannot be opened or go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Wrong address or password, or a refresh token that opens nothing.
    #[error("the email address or the password is wrong")]
    InvalidCredentials,
    /// The account is suspended.
    #[error("the account is suspended")]
    AccountSuspended,
    /// The address is not verified yet.
    #[error("verify the email address first; a new link can be requested")]
    EmailUnverified,
    /// The tenant asked for is not one of the account's.
    #[error("the account is not a member of that tenant")]
    NotAMember,
    /// A refresh token that was already rotated: its session is revoked.
    #[error("the refresh token was already used; the session is revoked, sign in again")]
    TokenReused,
    /// An unknown, expired or revoked refresh token.
    #[error("the refresh token is unknown, expired or revoked")]
    RefreshInvalid,
    /// An access token whose sign-in session was ended (logout, reuse, a reset).
    #[error("the session of this token has ended; sign in again")]
    SessionEnded,
}

impl SessionError {
    /// The error code answered.
    pub const fn code(self) -> ErrorCode {
        match self {
            SessionError::InvalidCredentials => ErrorCode::InvalidCredentials,
            SessionError::RefreshInvalid | SessionError::SessionEnded => ErrorCode::Unauthenticated,
            SessionError::AccountSuspended => ErrorCode::AccountSuspended,
            SessionError::EmailUnverified => ErrorCode::EmailUnverified,
            SessionError::NotAMember => ErrorCode::TenantMismatch,
            SessionError::TokenReused => ErrorCode::TokenReused,
        }
    }
}

crate::problem::problem_from!(SessionError);

/// Whether an account whose password (or refresh token) checked out may have a session.
pub fn may_sign_in(account: &Account) -> Result<(), SessionError> {
    if account.suspended {
        return Err(SessionError::AccountSuspended);
    }
    if !account.email_verified {
        return Err(SessionError::EmailUnverified);
    }
    Ok(())
}

/// The claims of an access token for `account` in the tenant `wanted` (an id or a slug)
/// or, without one, its first active tenant (memberships in the shell's order, oldest
/// first). Deleted tenants are left out; an account with no tenant (a platform operator)
/// gets a token with none.
pub fn access_claims(
    account: &Account,
    memberships: &[MemberOf],
    wanted: Option<&str>,
    session_id: &str,
    amr: &[String],
    now: i64,
    jwt: &JwtConfig,
) -> Result<Claims, SessionError> {
    let usable: Vec<&MemberOf> = memberships
        .iter()
        .filter(|m| m.tenant_status != TenantStatus::Deleted)
        .collect();
    let current = match wanted {
        Some(name) => Some(
            *usable
                .iter()
                .find(|m| m.tenant_id == name || m.slug == name)
                .ok_or(SessionError::NotAMember)?,
        ),
        None => usable
            .iter()
            .find(|m| m.tenant_status == TenantStatus::Active)
            .or(usable.first())
            .copied(),
    };
    let claim = |m: &MemberOf| TenantClaim {
        id: m.tenant_id.clone(),
        slug: m.slug.clone(),
        role: m.role.clone(),
    };
    let mut tenants: Vec<TenantClaim> = current.into_iter().map(claim).collect();
    for m in &usable {
        if tenants.len() >= MAX_TENANTS_IN_TOKEN {
            break;
        }
        if current.is_none_or(|c| c.tenant_id != m.tenant_id) {
            tenants.push(claim(m));
        }
    }
    Ok(Claims {
        sub: account.id.clone(),
        tenant_id: current.map(|m| m.tenant_id.clone()),
        tenant_role: current.map(|m| m.role.clone()),
        tenants,
        platform_role: account.platform_role.clone(),
        iat: now,
        exp: now + ACCESS_TOKEN_SECS,
        nbf: None,
        iss: jwt.issuer.clone(),
        aud: Audience::One(jwt.audience.clone()),
        sid: Some(session_id.into()),
        amr: amr.to_vec(),
    })
}

/// A presented refresh token, as the shell found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedRefresh {
    /// This request's conditional update claimed it (it was current); `session_live`
    /// says whether its session is neither revoked nor expired.
    Claimed {
        /// The session is neither revoked nor past its expiry.
        session_live: bool,
    },
    /// It exists but was already rotated (or claimed by a concurrent request).
    AlreadyRotated,
    /// No such token.
    Unknown,
}

/// What to do with a presented refresh token: `Ok` to issue the next one; `TokenReused`
/// means the shell revokes the whole session (every token of its family).
pub fn refresh(presented: PresentedRefresh) -> Result<(), SessionError> {
    match presented {
        PresentedRefresh::Claimed { session_live: true } => Ok(()),
        PresentedRefresh::Claimed {
            session_live: false,
        }
        | PresentedRefresh::Unknown => Err(SessionError::RefreshInvalid),
        PresentedRefresh::AlreadyRotated => Err(SessionError::TokenReused),
    }
}

/// A member as the tenant's Durable Object knows it (for session tokens): the role it
/// holds now and whether its account is active.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberState {
    /// The role held now; `None` when the account is no member.
    pub role: Option<String>,
    /// Whether the account is active (not suspended).
    pub active: bool,
    /// Whether the token's sign-in session is still live (not logged out, ended, revoked
    /// for reuse or by a password reset).
    pub session_live: bool,
    /// Whether the session signed in with two factors (its `amr` says `mfa`).
    #[serde(default)]
    pub multi_factor: bool,
}

impl MemberState {
    /// Why the session token may not act on the tenant now, if it may not: the account
    /// must be active and the session live; a member unless it is a platform operator
    /// (who acts on any tenant, but not once suspended); signed in with two factors when
    /// the tenant requires it of its members (`require_mfa`; a platform operator answers
    /// to the platform's policy, not to a tenant's).
    pub fn refusal(&self, platform_operator: bool, require_mfa: bool) -> Option<Problem> {
        if !self.active {
            return Some(SessionError::AccountSuspended.into());
        }
        if !self.session_live {
            return Some(SessionError::SessionEnded.into());
        }
        if platform_operator {
            return None;
        }
        if self.role.is_none() {
            return Some(SessionError::NotAMember.into());
        }
        if require_mfa && !self.multi_factor {
            return Some(MfaError::SecondFactorRequired.into());
        }
        None
    }

    /// The role a session token acts with now: the membership's current role, so a
    /// removal, a role change or a suspension applies to the very next request.
    pub fn current_role(&self) -> Option<&str> {
        self.role
            .as_deref()
            .filter(|_| self.active && self.session_live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn an_ended_session_or_a_suspended_account_stops_its_tokens() {
        let live = SessionTimes {
            created_at: 0,
            expires_at: 1_000,
            revoked: false,
        };
        type Case = (bool, Option<SessionTimes>, i64, Result<(), SessionError>);
        let table: &[Case] = &[
            (true, Some(live), 10, Ok(())),
            (
                true,
                Some(SessionTimes {
                    revoked: true,
                    ..live
                }),
                10,
                Err(SessionError::SessionEnded),
            ),
            (true, Some(live), 1_000, Err(SessionError::SessionEnded)),
            (true, None, 10, Err(SessionError::SessionEnded)),
            (false, Some(live), 10, Err(SessionError::AccountSuspended)),
        ];
        for (active, session, now, expected) in table {
            assert_eq!(
                token_may_act(*active, *session, *now),
                *expected,
                "{active} {session:?} {now}"
            );
        }
        assert_eq!(
            SessionError::SessionEnded.code(),
            ErrorCode::Unauthenticated
        );
    }

    fn member(id: &str, status: TenantStatus) -> MemberOf {
        MemberOf {
            tenant_id: id.into(),
            slug: alloc::format!("{id}-slug"),
            role: "admin".into(),
            tenant_status: status,
        }
    }

    fn account() -> Account {
        Account {
            id: "u_1".into(),
            platform_role: None,
            suspended: false,
            email_verified: true,
        }
    }

    #[test]
    fn the_token_names_the_wanted_or_first_active_tenant() {
        let rows = [
            member("t_del", TenantStatus::Deleted),
            member("t_sus", TenantStatus::Suspended),
            member("t_ok", TenantStatus::Active),
        ];
        let jwt = JwtConfig::default();
        let claims = access_claims(&account(), &rows, None, "s_1", &[], 100, &jwt).unwrap();
        assert_eq!(claims.tenant_id.as_deref(), Some("t_ok"));
        assert_eq!(claims.exp, 100 + ACCESS_TOKEN_SECS);
        assert_eq!(claims.sid.as_deref(), Some("s_1"));
        assert_eq!(
            claims
                .tenants
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>(),
            ["t_ok", "t_sus"],
            "deleted tenants are left out"
        );
        let by_slug = access_claims(&account(), &rows, Some("t_sus-slug"), "s_1", &[], 0, &jwt);
        assert_eq!(by_slug.unwrap().tenant_id.as_deref(), Some("t_sus"));
        for other in ["t_del", "t_other"] {
            assert_eq!(
                access_claims(&account(), &rows, Some(other), "s", &[], 0, &jwt),
                Err(SessionError::NotAMember)
            );
        }
        let none = access_claims(&account(), &[], None, "s", &[], 0, &jwt).unwrap();
        assert_eq!((none.tenant_id, none.tenants.len()), (None, 0));
        let many: Vec<_> = (0..80)
            .map(|i| member(&alloc::format!("t_{i}"), TenantStatus::Active))
            .collect();
        let capped = access_claims(&account(), &many, Some("t_79"), "s", &[], 0, &jwt).unwrap();
        assert_eq!(capped.tenants.len(), MAX_TENANTS_IN_TOKEN);
        assert_eq!(
            capped.tenants[0].id, "t_79",
            "the current tenant is always listed"
        );
    }

    #[test]
    fn suspended_and_unverified_accounts_get_no_session() {
        assert_eq!(may_sign_in(&account()), Ok(()));
        let suspended = Account {
            suspended: true,
            ..account()
        };
        assert_eq!(may_sign_in(&suspended), Err(SessionError::AccountSuspended));
        let unverified = Account {
            email_verified: false,
            ..account()
        };
        assert_eq!(may_sign_in(&unverified), Err(SessionError::EmailUnverified));
    }

    #[test]
    fn a_session_ends_at_its_expiry_its_revocation_or_its_absolute_age() {
        assert!(session_live(0, 100, false, 99));
        assert!(!session_live(0, 100, false, 100));
        assert!(!session_live(0, 100, true, 50));
        let refreshed_forever = i64::MAX;
        assert!(session_live(
            0,
            refreshed_forever,
            false,
            MAX_SESSION_SECS - 1
        ));
        assert!(!session_live(0, refreshed_forever, false, MAX_SESSION_SECS));
    }

    #[test]
    fn a_rotated_refresh_token_revokes_its_session() {
        assert_eq!(
            refresh(PresentedRefresh::Claimed { session_live: true }),
            Ok(())
        );
        assert_eq!(
            refresh(PresentedRefresh::AlreadyRotated),
            Err(SessionError::TokenReused)
        );
        assert_eq!(
            refresh(PresentedRefresh::Claimed {
                session_live: false
            }),
            Err(SessionError::RefreshInvalid)
        );
        assert_eq!(
            refresh(PresentedRefresh::Unknown),
            Err(SessionError::RefreshInvalid)
        );
        let member = MemberState {
            role: Some("admin".into()),
            active: true,
            session_live: true,
            multi_factor: false,
        };
        let removed = MemberState {
            role: None,
            ..member.clone()
        };
        let suspended = MemberState {
            active: false,
            ..member.clone()
        };
        let logged_out = MemberState {
            session_live: false,
            ..member.clone()
        };
        let two_factors = MemberState {
            multi_factor: true,
            ..member.clone()
        };
        assert_eq!(removed.current_role(), None);
        assert_eq!(logged_out.current_role(), None);
        assert_eq!(suspended.current_role(), None);
        assert_eq!(member.current_role(), Some("admin"));
        let code = |state: &MemberState, operator: bool, require_mfa: bool| {
            state
                .refusal(operator, require_mfa)
                .map(|problem| problem.code)
        };
        // (state, platform operator, tenant requires MFA) -> refusal
        let table: &[(&MemberState, bool, bool, Option<ErrorCode>)] = &[
            (&member, false, false, None),
            (&member, false, true, Some(ErrorCode::MfaRequired)),
            (&two_factors, false, true, None),
            (&removed, false, false, Some(ErrorCode::TenantMismatch)),
            (&removed, true, false, None),
            (&removed, true, true, None),
            (&suspended, true, false, Some(ErrorCode::AccountSuspended)),
            (&suspended, false, false, Some(ErrorCode::AccountSuspended)),
            (&logged_out, false, false, Some(ErrorCode::Unauthenticated)),
            (&logged_out, true, false, Some(ErrorCode::Unauthenticated)),
        ];
        for (state, operator, require_mfa, expected) in table {
            assert_eq!(
                code(state, *operator, *require_mfa),
                *expected,
                "{state:?} operator={operator} require_mfa={require_mfa}"
            );
        }
    }
}
