//! The grant rule: no principal grants more than it holds.
//!
//! Every path that hands out a role (an API key, a member's role, a custom role's
//! permissions, an invitation) asks here first. A principal may grant a role only when
//! each of the role's grants is covered by a grant it holds itself in that tenant; only
//! an owner grants `owner`; a platform superadmin may grant anything.

use super::{BuiltinRole, CustomRole, role_grants};
use crate::auth::Principal;
use crate::problem::{ErrorCode, Problem};
use alloc::string::{String, ToString};

/// Why a grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// `owner` may be granted by an owner (or a superadmin) only.
    #[error("only an owner may grant the owner role")]
    OwnerOnly,
    /// The role carries a permission the granter does not hold.
    #[error("missing permission {0} (no principal grants more than it holds)")]
    Exceeds(String),
    /// The role is not one of the tenant's.
    #[error("role {0:?} is not a role of this tenant")]
    UnknownRole(String),
    /// The granter holds no role in the tenant.
    #[error("the principal holds no role in this tenant")]
    NotAMember,
}

impl GrantError {
    /// The permission the refusal names (`members:owner` for the owner rule).
    pub fn permission(&self) -> &str {
        match self {
            GrantError::OwnerOnly => "members:owner",
            GrantError::Exceeds(permission) => permission,
            GrantError::UnknownRole(_) | GrantError::NotAMember => "",
        }
    }
}

impl From<GrantError> for Problem {
    fn from(error: GrantError) -> Self {
        match &error {
            GrantError::UnknownRole(_) => {
                Problem::new(ErrorCode::InvalidRequest, error.to_string()).with("field", "role")
            }
            GrantError::NotAMember => Problem::new(ErrorCode::Forbidden, error.to_string()),
            _ => Problem::new(ErrorCode::Forbidden, error.to_string())
                .with("permission", error.permission()),
        }
    }
}

/// `(resource, action, own)` of a well-formed grant; `*` alone is `*:*`.
fn parts(grant: &str) -> (&str, &str, bool) {
    if grant == "*" {
        return ("*", "*", false);
    }
    let mut split = grant.split(':');
    let resource = split.next().unwrap_or("");
    let action = split.next().unwrap_or("");
    (resource, action, split.next() == Some("own"))
}

/// Whether holding `held` implies holding `wanted`: each part is equal or `*` in
/// `held`, and a grant limited to `:own` covers only `:own` grants.
fn covers(held: &str, wanted: &str) -> bool {
    let (held_resource, held_action, held_own) = parts(held);
    let (resource, action, own) = parts(wanted);
    (held_resource == "*" || held_resource == resource)
        && (held_action == "*" || held_action == action)
        && (!held_own || own)
}

/// The first of `permissions` that `principal` does not hold in `tenant_id`.
fn first_not_held<'p>(
    principal: &Principal,
    tenant_id: &str,
    permissions: impl IntoIterator<Item = &'p str>,
    custom_roles: &[CustomRole],
) -> Result<Option<&'p str>, GrantError> {
    let role = principal.role_in(tenant_id).ok_or(GrantError::NotAMember)?;
    let held =
        role_grants(role, custom_roles).ok_or_else(|| GrantError::UnknownRole(role.into()))?;
    Ok(permissions
        .into_iter()
        .find(|wanted| !held.iter().any(|h| covers(h, wanted))))
}

/// Whether `principal` may grant `role` (built-in or one of `custom_roles`) in
/// `tenant_id`: to an API key, a member or an invitation.
pub fn may_grant_role(
    principal: &Principal,
    tenant_id: &str,
    role: &str,
    custom_roles: &[CustomRole],
) -> Result<(), GrantError> {
    let wanted =
        role_grants(role, custom_roles).ok_or_else(|| GrantError::UnknownRole(role.into()))?;
    if principal.is_superadmin() {
        return Ok(());
    }
    if role == BuiltinRole::Owner.as_str() && principal.role_in(tenant_id) != Some("owner") {
        return Err(GrantError::OwnerOnly);
    }
    match first_not_held(principal, tenant_id, wanted, custom_roles)? {
        None => Ok(()),
        Some(missing) => Err(GrantError::Exceeds(missing.to_string())),
    }
}

/// Whether `principal` may define a custom role with `permissions` in `tenant_id`.
pub fn may_grant_permissions(
    principal: &Principal,
    tenant_id: &str,
    permissions: &[String],
    custom_roles: &[CustomRole],
) -> Result<(), GrantError> {
    if principal.is_superadmin() {
        return Ok(());
    }
    match first_not_held(
        principal,
        tenant_id,
        permissions.iter().map(String::as_str),
        custom_roles,
    )? {
        None => Ok(()),
        Some(missing) => Err(GrantError::Exceeds(missing.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Membership, PrincipalKind};
    use crate::rbac::PlatformRole;
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn member(role: &str) -> Principal {
        Principal {
            session: None,
            subject: "u_granter".into(),
            kind: PrincipalKind::User,
            platform_role: None,
            home_tenant: Some("t1".into()),
            memberships: vec![Membership {
                tenant_id: "t1".into(),
                role: role.into(),
            }],
        }
    }

    fn customs() -> Vec<CustomRole> {
        vec![
            CustomRole::new("everything", vec!["*".into()]).unwrap(),
            CustomRole::new(
                "front-desk",
                vec!["clients:*".into(), "appointments:read".into()],
            )
            .unwrap(),
            CustomRole::new("own-only", vec!["appointments:update:own".into()]).unwrap(),
        ]
    }

    /// Every granter (built-in and custom) × every role it might grant: the expected
    /// answer is written out, not computed by the rule under test.
    #[test]
    fn every_role_may_grant_exactly_what_it_holds() {
        // Columns: owner, admin, manager, employee, viewer, everything, front-desk, own-only.
        let targets = [
            "owner",
            "admin",
            "manager",
            "employee",
            "viewer",
            "everything",
            "front-desk",
            "own-only",
        ];
        // y: may grant, n: may not.
        #[rustfmt::skip]
        let table: &[(&str, &str)] = &[
            ("owner",      "yyyyyyyy"),
            ("admin",      "nyyyynyy"),
            ("manager",    "nnyyynyy"),
            ("employee",   "nnnynnny"),
            ("viewer",     "nnnnynnn"),
            ("everything", "nyyyyyyy"),
            ("front-desk", "nnnnnnyn"),
            ("own-only",   "nnnnnnny"),
        ];
        let customs = customs();
        for (granter, expected) in table {
            for (target, allowed) in targets.iter().zip(expected.chars()) {
                let answer = may_grant_role(&member(granter), "t1", target, &customs);
                assert_eq!(
                    answer.is_ok(),
                    allowed == 'y',
                    "{granter} grants {target}: {answer:?}"
                );
            }
        }
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let customs = customs();
        assert_eq!(
            may_grant_role(&member("admin"), "t1", "owner", &customs),
            Err(GrantError::OwnerOnly)
        );
        assert_eq!(
            may_grant_role(&member("everything"), "t1", "owner", &customs),
            Err(GrantError::OwnerOnly)
        );
        assert_eq!(
            may_grant_role(&member("manager"), "t1", "admin", &customs),
            Err(GrantError::Exceeds("tenant:update".into()))
        );
        assert_eq!(
            may_grant_permissions(&member("admin"), "t1", &["*".into()], &customs),
            Err(GrantError::Exceeds("*".into()))
        );
        assert_eq!(
            may_grant_permissions(&member("admin"), "t1", &["tenant:export".into()], &customs),
            Err(GrantError::Exceeds("tenant:export".into()))
        );
        assert_eq!(
            may_grant_permissions(&member("admin"), "t1", &["*:read".into()], &customs),
            Err(GrantError::Exceeds("*:read".into()))
        );
        assert!(
            may_grant_permissions(
                &member("admin"),
                "t1",
                &["clients:read".into(), "mail:*".into()],
                &customs
            )
            .is_ok()
        );
        assert_eq!(
            may_grant_role(&member("admin"), "t1", "no-such-role", &customs),
            Err(GrantError::UnknownRole("no-such-role".into()))
        );
        // A role in another tenant grants nothing here.
        assert!(may_grant_role(&member("owner"), "t2", "viewer", &customs).is_err());
        let problem = Problem::from(GrantError::OwnerOnly);
        assert_eq!(problem.code, ErrorCode::Forbidden);
    }

    #[test]
    fn own_grants_cover_only_own_grants() {
        let customs = customs();
        let own_only = member("own-only");
        assert!(
            may_grant_permissions(
                &own_only,
                "t1",
                &["appointments:update:own".into()],
                &customs
            )
            .is_ok()
        );
        assert!(
            may_grant_permissions(&own_only, "t1", &["appointments:update".into()], &customs)
                .is_err()
        );
        // The employee holds appointments:update:own, not appointments:update.
        assert!(
            may_grant_permissions(
                &member("employee"),
                "t1",
                &["appointments:update".into()],
                &customs
            )
            .is_err()
        );
    }

    #[test]
    fn a_superadmin_grants_anything_anywhere() {
        let superadmin = Principal {
            session: None,
            platform_role: Some(PlatformRole::Superadmin),
            memberships: vec![],
            home_tenant: None,
            ..member("viewer")
        };
        for role in ["owner", "admin", "everything"] {
            assert!(may_grant_role(&superadmin, "t9", role, &customs()).is_ok());
        }
        assert!(may_grant_permissions(&superadmin, "t9", &["*".into()], &[]).is_ok());
        // Still only roles that exist.
        assert!(may_grant_role(&superadmin, "t9", "nobody", &[]).is_err());
    }

    proptest! {
        /// Whatever a principal may put into a custom role, holding that role never
        /// allows an operation the principal was not allowed.
        #[test]
        fn granted_roles_never_exceed_the_granter(
            granter in prop::sample::select(vec!["owner", "admin", "manager", "employee", "viewer", "front-desk"]),
            permissions in prop::collection::vec(
                prop::sample::select(vec!["*", "*:read", "clients:*", "clients:read", "tenant:export",
                    "appointments:update:own", "appointments:update", "members:*", "mail:read", "*:delete"]), 1..4),
            resource in prop::sample::select(vec!["clients", "tenant", "appointments", "members", "mail", "audit"]),
            action in prop::sample::select(vec!["read", "export", "update", "delete", "create"]),
        ) {
            let customs = customs();
            let permissions: Vec<String> = permissions.into_iter().map(String::from).collect();
            if may_grant_permissions(&member(granter), "t1", &permissions, &customs).is_ok() {
                let mut all = customs.clone();
                all.push(CustomRole::new("granted", permissions).unwrap());
                let required = crate::rbac::Required::new(resource, action).owned_by("u_granter");
                let grantee = crate::rbac::authorize(&member("granted"), "t1", &required, &all).is_allowed();
                let granter_allowed = crate::rbac::authorize(&member(granter), "t1", &required, &all).is_allowed();
                prop_assert!(!grantee || granter_allowed);
            }
        }
    }
}
