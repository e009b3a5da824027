//! Authentication: platform JWTs, API keys and the principal they prove.
//!
//! The shell turns an `Authorization` header into a [`Credential`], verifies it here with
//! the current time it passes in, and gets a [`Principal`] that tenant resolution and
//! RBAC work with.

mod api_key;
mod jwt;
pub mod mfa;
pub mod password;
pub mod session;
pub mod throttle;
mod token;
pub mod totp;

pub use api_key::{
    API_KEY_PREFIX, ApiKeyRecord, NewApiKey, RELAY_KEY_PREFIX, RelayKeyRecord, RelayScope,
    generate_api_key, generate_relay_key, hash_api_key, hash_relay_key,
};
pub use jwt::{Audience, Claims, JwtConfig, JwtKey, TenantClaim};
pub use token::{OneTimeToken, TokenKind, generate_token, hash_token};

use crate::problem::ErrorCode;
use crate::rbac::PlatformRole;
use alloc::string::String;
use alloc::vec::Vec;

/// Why a credential was refused. Only [`AuthError::Expired`] is told apart to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or not a bearer credential.
    #[error("no bearer credential")]
    Missing,
    /// Not three base64url segments, not JSON, or a claim of the wrong type.
    #[error("the credential is malformed")]
    Malformed,
    /// A JWT whose `alg` is not HS256 (`none` included), or with `crit` extensions.
    #[error("the token algorithm is not accepted")]
    UnsupportedAlgorithm,
    /// The signature or key hash does not match.
    #[error("the signature does not match")]
    BadSignature,
    /// Past `exp` (plus leeway) or past the API key's expiry.
    #[error("the credential has expired")]
    Expired,
    /// `iat` or `nbf` in the future beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token issuer is not accepted")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("the token audience is not accepted")]
    WrongAudience,
    /// The API key was revoked.
    #[error("the API key was revoked")]
    Revoked,
    /// Claims that contradict each other or name an unknown platform role.
    #[error("the token claims are invalid")]
    InvalidClaims,
}

impl AuthError {
    /// The error code answered to the client.
    pub const fn code(self) -> ErrorCode {
        match self {
            AuthError::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::Unauthenticated,
        }
    }
}

crate::problem::problem_from!(AuthError);

/// What an `Authorization` header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A platform JWT.
    Jwt(&'a str),
    /// A tenant API key `tk_...`.
    ApiKey(&'a str),
    /// A platform relay key `rk_...`.
    RelayKey(&'a str),
}

impl<'a> Credential<'a> {
    /// Reads `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 11.1).
    pub fn from_authorization(header: Option<&'a str>) -> Result<Self, AuthError> {
        let header = header.ok_or(AuthError::Missing)?.trim();
        let (scheme, value) = header.split_once(' ').ok_or(AuthError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(AuthError::Missing);
        }
        Ok(if value.starts_with(API_KEY_PREFIX) {
            Credential::ApiKey(value)
        } else if value.starts_with(RELAY_KEY_PREFIX) {
            Credential::RelayKey(value)
        } else {
            Credential::Jwt(value)
        })
    }
}

/// How the principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
// Externally tagged (serde's default): an internally tagged enum costs every Worker
// that reads one ~10 KiB of buffering code.
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A user, by platform JWT.
    User,
    /// An API key, by its id.
    ApiKey {
        /// The key's id (never its secret).
        key_id: String,
    },
    /// A platform relay key: no tenant role at all, only the relay API for its scope.
    Relay {
        /// The key's id (never its secret).
        key_id: String,
        /// The tenants whose mail data it reads and writes.
        scope: RelayScope,
    },
}

/// A principal's role in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    /// The tenant.
    pub tenant_id: String,
    /// A built-in role name or a custom role of that tenant.
    pub role: String,
}

/// Who is asking, and which tenants they belong to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    /// The user id, or the API key's id for keys.
    pub subject: String,
    /// How it authenticated.
    pub kind: PrincipalKind,
    /// Platform-wide role, if any.
    pub platform_role: Option<PlatformRole>,
    /// The tenant used when a request names none.
    pub home_tenant: Option<String>,
    /// Every tenant the principal belongs to, with its role there.
    pub memberships: Vec<Membership>,
    /// The session of a token the platform issued at sign-in (`sid`): its memberships
    /// are checked where the tenant's hot state lives on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl Principal {
    /// The same principal holding only its membership of `tenant_id`: what a Worker
    /// serving one tenant's request is told, and no more.
    pub fn narrowed_to(&self, tenant_id: &str) -> Principal {
        Principal {
            subject: self.subject.clone(),
            kind: self.kind.clone(),
            platform_role: self.platform_role,
            home_tenant: self
                .home_tenant
                .as_ref()
                .filter(|home| *home == tenant_id)
                .cloned(),
            memberships: self
                .memberships
                .iter()
                .filter(|m| m.tenant_id == tenant_id)
                .cloned()
                .collect(),
            session: self.session.clone(),
        }
    }

    /// The principal a verified JWT proves.
    pub fn from_claims(claims: Claims) -> Result<Self, AuthError> {
        let platform_role = match claims.platform_role.as_deref() {
            None => None,
            Some(role) => Some(PlatformRole::parse(role).ok_or(AuthError::InvalidClaims)?),
        };
        let mut memberships: Vec<Membership> = Vec::with_capacity(claims.tenants.len() + 1);
        if let Some(tenant_id) = &claims.tenant_id {
            let role = claims.tenant_role.clone().ok_or(AuthError::InvalidClaims)?;
            memberships.push(Membership {
                tenant_id: tenant_id.clone(),
                role,
            });
        }
        for claim in claims.tenants {
            match memberships.iter().find(|m| m.tenant_id == claim.id) {
                Some(existing) if existing.role != claim.role => {
                    return Err(AuthError::InvalidClaims);
                }
                Some(_) => {}
                None => memberships.push(Membership {
                    tenant_id: claim.id,
                    role: claim.role,
                }),
            }
        }
        Ok(Principal {
            subject: claims.sub,
            kind: PrincipalKind::User,
            platform_role,
            home_tenant: claims.tenant_id,
            memberships,
            session: claims.sid,
        })
    }

    /// The principal a checked API key proves: one tenant, one role.
    pub fn from_api_key(record: &ApiKeyRecord) -> Self {
        Principal {
            subject: record.id.clone(),
            kind: PrincipalKind::ApiKey {
                key_id: record.id.clone(),
            },
            platform_role: None,
            home_tenant: Some(record.tenant_id.clone()),
            memberships: alloc::vec![Membership {
                tenant_id: record.tenant_id.clone(),
                role: record.role.clone(),
            }],
            session: None,
        }
    }

    /// The principal a checked relay key proves: member of no tenant.
    pub fn from_relay_key(record: &RelayKeyRecord) -> Self {
        Principal {
            subject: record.id.clone(),
            kind: PrincipalKind::Relay {
                key_id: record.id.clone(),
                scope: record.scope.clone(),
            },
            platform_role: None,
            home_tenant: None,
            memberships: Vec::new(),
            session: None,
        }
    }

    /// The scope of a relay key; `None` for every other principal.
    pub fn relay_scope(&self) -> Option<&RelayScope> {
        match &self.kind {
            PrincipalKind::Relay { scope, .. } => Some(scope),
            _ => None,
        }
    }

    /// Whether the principal is a platform superadmin.
    pub fn is_superadmin(&self) -> bool {
        self.platform_role == Some(PlatformRole::Superadmin)
    }

    /// The principal's role in a tenant.
    pub fn role_in(&self, tenant_id: &str) -> Option<&str> {
        self.memberships
            .iter()
            .find(|m| m.tenant_id == tenant_id)
            .map(|m| m.role.as_str())
    }

    /// Whether the principal may act on a tenant: a member, or a superadmin.
    pub fn may_act_on(&self, tenant_id: &str) -> bool {
        self.is_superadmin() || self.role_in(tenant_id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn authorization_header_forms() {
        assert_eq!(
            Credential::from_authorization(Some("Bearer abc.def.ghi")),
            Ok(Credential::Jwt("abc.def.ghi"))
        );
        assert_eq!(
            Credential::from_authorization(Some("bearer  tk_abc ")),
            Ok(Credential::ApiKey("tk_abc"))
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer   "),
            Some("Basic dXNlcjpwYXNz"),
        ] {
            assert_eq!(
                Credential::from_authorization(bad),
                Err(AuthError::Missing),
                "{bad:?}"
            );
        }
    }

    fn claims() -> Claims {
        Claims {
            sub: "u_1".into(),
            tenant_id: Some("t_paris".into()),
            tenant_role: Some("owner".into()),
            tenants: alloc::vec![
                TenantClaim {
                    id: "t_paris".into(),
                    slug: "paris".into(),
                    role: "owner".into()
                },
                TenantClaim {
                    id: "t_lyon".into(),
                    slug: "lyon".into(),
                    role: "viewer".into()
                },
            ],
            platform_role: None,
            iat: 0,
            exp: 10,
            nbf: None,
            iss: "tenantry".into(),
            aud: Audience::One("tenantry-api".into()),
            sid: None,
            amr: Vec::new(),
        }
    }

    #[test]
    fn principal_from_claims_merges_memberships() {
        let principal = Principal::from_claims(claims()).unwrap();
        assert_eq!(principal.home_tenant.as_deref(), Some("t_paris"));
        assert_eq!(principal.role_in("t_paris"), Some("owner"));
        assert_eq!(principal.role_in("t_lyon"), Some("viewer"));
        assert_eq!(principal.role_in("t_nice"), None);
        assert!(principal.may_act_on("t_lyon"));
        assert!(!principal.may_act_on("t_nice"));
        assert!(!principal.is_superadmin());
    }

    #[test]
    fn a_narrowed_principal_holds_only_that_tenant_and_survives_serialisation() {
        let principal = Principal::from_claims(claims()).unwrap();
        let lyon = principal.narrowed_to("t_lyon");
        assert_eq!(lyon.role_in("t_lyon"), Some("viewer"));
        assert_eq!(lyon.role_in("t_paris"), None);
        assert_eq!(lyon.home_tenant, None);
        assert!(!lyon.may_act_on("t_paris"));
        let paris = principal.narrowed_to("t_paris");
        assert_eq!(paris.home_tenant.as_deref(), Some("t_paris"));
        assert_eq!(paris.memberships.len(), 1);
        let json = serde_json::to_string(&paris).unwrap();
        assert_eq!(serde_json::from_str::<Principal>(&json).unwrap(), paris);
        let nobody = principal.narrowed_to("t_nice");
        assert!(nobody.memberships.is_empty() && !nobody.may_act_on("t_nice"));
    }

    #[test]
    fn contradictory_or_unknown_claims_are_refused() {
        let mut c = claims();
        c.tenants[0].role = "viewer".into();
        assert_eq!(Principal::from_claims(c), Err(AuthError::InvalidClaims));
        let mut c = claims();
        c.platform_role = Some("god".into());
        assert_eq!(Principal::from_claims(c), Err(AuthError::InvalidClaims));
        let mut c = claims();
        c.tenant_role = None;
        assert_eq!(Principal::from_claims(c), Err(AuthError::InvalidClaims));
        let mut c = claims();
        c.platform_role = Some("superadmin".into());
        let admin = Principal::from_claims(c).unwrap();
        assert!(admin.is_superadmin() && admin.may_act_on("t_anything"));
    }

    #[test]
    fn api_key_principal_has_exactly_one_tenant() {
        let record = ApiKeyRecord {
            id: "k_1".into(),
            tenant_id: "t_paris".into(),
            role: "viewer".into(),
            revoked: false,
            expires_at: None,
        };
        let principal = Principal::from_api_key(&record);
        assert_eq!(principal.memberships.len(), 1);
        assert_eq!(principal.role_in("t_paris"), Some("viewer"));
        assert!(!principal.may_act_on("t_lyon"));
        assert_eq!(
            principal.kind,
            PrincipalKind::ApiKey {
                key_id: "k_1".into()
            }
        );
    }

    #[test]
    fn a_relay_key_belongs_to_no_tenant() {
        let key = generate_relay_key(&[3u8; 32]);
        let header = alloc::format!("Bearer {}", key.plaintext);
        assert_eq!(
            Credential::from_authorization(Some(&header)),
            Ok(Credential::RelayKey(&key.plaintext))
        );
        let record = RelayKeyRecord {
            id: "rk_1".into(),
            scope: RelayScope::Tenants(alloc::vec!["t_paris".into()]),
            revoked: false,
            expires_at: None,
        };
        let principal = Principal::from_relay_key(&record);
        assert!(principal.memberships.is_empty() && principal.home_tenant.is_none());
        assert!(!principal.may_act_on("t_paris") && !principal.is_superadmin());
        assert!(principal.relay_scope().unwrap().covers("t_paris"));
        assert_eq!(
            Principal::from_api_key(&ApiKeyRecord {
                id: "k".into(),
                tenant_id: "t".into(),
                role: "owner".into(),
                revoked: false,
                expires_at: None,
            })
            .relay_scope(),
            None
        );
    }

    #[test]
    fn only_expiry_is_told_apart() {
        assert_eq!(AuthError::Expired.code(), ErrorCode::TokenExpired);
        for e in [
            AuthError::BadSignature,
            AuthError::Revoked,
            AuthError::UnsupportedAlgorithm,
        ] {
            assert_eq!(e.code(), ErrorCode::Unauthenticated);
        }
    }
}
