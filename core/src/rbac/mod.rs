//! Role-based access control.
//!
//! A permission is `resource:action` or `resource:action:own`; a grant may use `*` for
//! the resource, the action or both (`*`, `clients:*`, `*:read`). `:own` grants only
//! when the resource's owner is the principal. Built-in roles are fixed; each tenant may
//! define custom roles from the same grammar. A platform superadmin is allowed
//! everything on every tenant.

mod grant;

pub use grant::{GrantError, may_grant_permissions, may_grant_role};

use crate::auth::Principal;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Platform-wide roles (not tied to a tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformRole {
    /// Operates the platform: every tenant, every action.
    Superadmin,
}

impl PlatformRole {
    /// Parses the claim value.
    pub fn parse(text: &str) -> Option<Self> {
        (text == "superadmin").then_some(PlatformRole::Superadmin)
    }
}

/// Roles every tenant has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltinRole {
    /// Everything in the tenant, including export.
    Owner,
    /// Everything but export.
    Admin,
    /// Runs the day-to-day: clients, appointments, conversations, CRM.
    Manager,
    /// Works with clients and their own appointments.
    Employee,
    /// Reads.
    Viewer,
}

impl BuiltinRole {
    /// Every built-in role.
    pub const ALL: [BuiltinRole; 5] = [
        BuiltinRole::Owner,
        BuiltinRole::Admin,
        BuiltinRole::Manager,
        BuiltinRole::Employee,
        BuiltinRole::Viewer,
    ];

    /// The role's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "owner",
            BuiltinRole::Admin => "admin",
            BuiltinRole::Manager => "manager",
            BuiltinRole::Employee => "employee",
            BuiltinRole::Viewer => "viewer",
        }
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Self> {
        BuiltinRole::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The grants of the role.
    pub const fn grants(self) -> &'static [&'static str] {
        match self {
            BuiltinRole::Owner => &["*"],
            BuiltinRole::Admin => &[
                "tenant:read",
                "tenant:update",
                "members:*",
                "roles:*",
                "api-keys:*",
                "usage:read",
                "settings:*",
                "audit:read",
                "clients:*",
                "appointments:*",
                "integrations:*",
                "conversations:*",
                "mail:*",
                "crm:*",
            ],
            BuiltinRole::Manager => &[
                "tenant:read",
                "members:read",
                "usage:read",
                "settings:read",
                "audit:read",
                "clients:*",
                "appointments:*",
                "conversations:*",
                "mail:read",
                "crm:read",
                "crm:write",
                "crm:delete",
            ],
            BuiltinRole::Employee => &[
                "tenant:read",
                "clients:read",
                "clients:create",
                "clients:update",
                "appointments:read",
                "appointments:create",
                "appointments:update:own",
                "conversations:read",
                "crm:read",
                "crm:write",
            ],
            BuiltinRole::Viewer => &[
                "tenant:read",
                "usage:read",
                "clients:read",
                "appointments:read",
                "conversations:read",
                "mail:read",
                "crm:read",
            ],
        }
    }
}

/// Why a permission or role name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RbacError {
    /// Not `resource:action[:own]` with lowercase names or `*`.
    #[error("permission {0:?} is not resource:action[:own]")]
    InvalidPermission(String),
    /// Not 2 to 32 characters of `a-z`, `0-9` and `-` starting with a letter.
    #[error(
        "role name {0:?} must be 2 to 32 characters of a-z, 0-9 and '-', starting with a letter"
    )]
    InvalidRoleName(String),
    /// The name of a built-in role.
    #[error("role name {0:?} is a built-in role")]
    BuiltinRoleName(String),
    /// A role with no permission.
    #[error("a role needs at least one permission")]
    NoPermissions,
}

fn is_name(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 32
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Checks the grammar of a grant; returns it unchanged when valid.
pub fn parse_permission(text: &str) -> Result<&str, RbacError> {
    let invalid = || RbacError::InvalidPermission(text.to_string());
    if text == "*" {
        return Ok(text);
    }
    let mut parts = text.split(':');
    let resource = parts.next().ok_or_else(invalid)?;
    let action = parts.next().ok_or_else(invalid)?;
    let own = parts.next();
    let valid = (resource == "*" || is_name(resource))
        && (action == "*" || is_name(action))
        && matches!(own, None | Some("own"))
        && parts.next().is_none()
        && !(own.is_some() && action == "*");
    if valid { Ok(text) } else { Err(invalid()) }
}

/// Names no custom role may take: `mail-relay` was a tenant role before relay keys became
/// platform credentials, and a custom role of that name would read as if it still were.
pub const RESERVED_ROLE_NAMES: &[&str] = &["mail-relay"];

/// Most custom roles a tenant may define: they travel with every admitted request (the
/// tenant's hot state and the gateway's signed context), so they stay few.
pub const MAX_CUSTOM_ROLES: usize = 100;

/// A tenant's own role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRole {
    /// Name, unique in the tenant, never a built-in name.
    pub name: String,
    /// Grants.
    pub permissions: Vec<String>,
}

impl CustomRole {
    /// Validates a custom role definition.
    pub fn new(name: &str, permissions: Vec<String>) -> Result<Self, RbacError> {
        let well_formed = name.len() >= 2
            && name.len() <= 32
            && name.as_bytes()[0].is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return Err(RbacError::InvalidRoleName(name.to_string()));
        }
        if BuiltinRole::parse(name).is_some() || RESERVED_ROLE_NAMES.contains(&name) {
            return Err(RbacError::BuiltinRoleName(name.to_string()));
        }
        if permissions.is_empty() {
            return Err(RbacError::NoPermissions);
        }
        for permission in &permissions {
            parse_permission(permission)?;
        }
        Ok(CustomRole {
            name: name.to_string(),
            permissions,
        })
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Required<'a> {
    /// The resource, e.g. `appointments`.
    pub resource: &'a str,
    /// The action, e.g. `update`.
    pub action: &'a str,
    /// The owner of the resource instance, when the operation is on one.
    pub owner: Option<&'a str>,
}

impl<'a> Required<'a> {
    /// An operation on a collection or on an instance without an owner.
    pub const fn new(resource: &'a str, action: &'a str) -> Self {
        Required {
            resource,
            action,
            owner: None,
        }
    }

    /// An operation on an instance owned by `owner`.
    pub const fn owned_by(self, owner: &'a str) -> Self {
        Required {
            owner: Some(owner),
            ..self
        }
    }
}

/// The answer of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused: `missing` is the permission that would have allowed it.
    Deny {
        /// `resource:action`.
        missing: String,
    },
}

impl Decision {
    /// Whether it is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

fn grant_allows(grant: &str, required: &Required<'_>, subject: &str) -> bool {
    if grant == "*" {
        return true;
    }
    let mut parts = grant.split(':');
    let (Some(resource), Some(action)) = (parts.next(), parts.next()) else {
        return false;
    };
    let own = parts.next() == Some("own");
    (resource == "*" || resource == required.resource)
        && (action == "*" || action == required.action)
        && (!own || required.owner == Some(subject))
}

/// The grants of a role name in a tenant: built-in first, then the tenant's custom roles.
pub fn role_grants<'r>(role: &str, custom_roles: &'r [CustomRole]) -> Option<Vec<&'r str>> {
    if let Some(builtin) = BuiltinRole::parse(role) {
        return Some(builtin.grants().to_vec());
    }
    custom_roles
        .iter()
        .find(|r| r.name == role)
        .map(|r| r.permissions.iter().map(String::as_str).collect())
}

/// Whether `principal` may do `required` in `tenant_id`.
pub fn authorize(
    principal: &Principal,
    tenant_id: &str,
    required: &Required<'_>,
    custom_roles: &[CustomRole],
) -> Decision {
    if principal.is_superadmin() {
        return Decision::Allow;
    }
    let allowed = principal.role_in(tenant_id).is_some_and(|role| {
        let subject = principal.subject.as_str();
        match BuiltinRole::parse(role) {
            Some(builtin) => builtin
                .grants()
                .iter()
                .any(|g| grant_allows(g, required, subject)),
            None => custom_roles
                .iter()
                .find(|r| r.name == role)
                .is_some_and(|r| {
                    r.permissions
                        .iter()
                        .any(|g| grant_allows(g, required, subject))
                }),
        }
    });
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny {
            missing: alloc::format!("{}:{}", required.resource, required.action),
        }
    }
}

/// What `principal` holds in `tenant_id`, as grants (`*` for a platform superadmin,
/// nothing for a stranger): what a console shows, never what decides (that is
/// [`authorize`], on every request).
pub fn held_grants(
    principal: &Principal,
    tenant_id: &str,
    custom_roles: &[CustomRole],
) -> Vec<String> {
    if principal.is_superadmin() {
        return alloc::vec![String::from("*")];
    }
    principal
        .role_in(tenant_id)
        .and_then(|role| role_grants(role, custom_roles))
        .map(|grants| grants.into_iter().map(String::from).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Membership, PrincipalKind};
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn held_grants_follow_the_role_in_that_tenant() {
        let custom = [CustomRole::new("front-desk", alloc::vec!["clients:read".into()]).unwrap()];
        assert!(held_grants(&principal("viewer"), "t1", &custom).contains(&"usage:read".into()));
        assert_eq!(
            held_grants(&principal("front-desk"), "t1", &custom),
            ["clients:read"]
        );
        assert!(held_grants(&principal("viewer"), "t_other", &custom).is_empty());
        let mut operator = principal("viewer");
        operator.platform_role = Some(PlatformRole::Superadmin);
        assert_eq!(held_grants(&operator, "t_other", &custom), ["*"]);
    }

    fn principal(role: &str) -> Principal {
        Principal {
            session: None,
            subject: "u_me".into(),
            kind: PrincipalKind::User,
            platform_role: None,
            home_tenant: Some("t1".into()),
            memberships: alloc::vec![Membership {
                tenant_id: "t1".into(),
                role: role.into()
            }],
        }
    }

    fn allowed(role: &str, resource: &str, action: &str, owner: Option<&str>) -> bool {
        let customs = [CustomRole::new(
            "receptionist",
            alloc::vec![
                "appointments:*".into(),
                "clients:read".into(),
                "crm:update:own".into()
            ],
        )
        .unwrap()];
        let mut required = Required::new(resource, action);
        required.owner = owner;
        authorize(&principal(role), "t1", &required, &customs).is_allowed()
    }

    #[test]
    fn builtin_role_table() {
        let table: &[(&str, &str, &str, Option<&str>, bool)] = &[
            ("owner", "tenant", "export", None, true),
            ("owner", "anything", "at-all", None, true),
            ("admin", "tenant", "export", None, false),
            ("admin", "members", "delete", None, true),
            ("admin", "relay", "read", None, false),
            ("manager", "clients", "delete", None, true),
            ("manager", "members", "create", None, false),
            ("employee", "appointments", "update", Some("u_me"), true),
            ("employee", "appointments", "update", Some("u_other"), false),
            ("employee", "appointments", "update", None, false),
            ("employee", "appointments", "delete", Some("u_me"), false),
            ("employee", "clients", "delete", None, false),
            ("viewer", "clients", "read", None, true),
            ("viewer", "clients", "create", None, false),
            ("mail-relay", "relay", "read", None, false),
            ("receptionist", "appointments", "delete", None, true),
            ("receptionist", "clients", "create", None, false),
            ("receptionist", "crm", "update", Some("u_me"), true),
            ("receptionist", "crm", "update", Some("u_x"), false),
            ("no-such-role", "clients", "read", None, false),
        ];
        for (role, resource, action, owner, expected) in table {
            assert_eq!(
                allowed(role, resource, action, *owner),
                *expected,
                "{role} {resource}:{action} owner={owner:?}"
            );
        }
    }

    #[test]
    fn deny_names_the_missing_permission_and_other_tenants_get_nothing() {
        let p = principal("owner");
        assert_eq!(
            authorize(&p, "t2", &Required::new("clients", "read"), &[]),
            Decision::Deny {
                missing: "clients:read".into()
            }
        );
        let superadmin = Principal {
            session: None,
            platform_role: Some(PlatformRole::Superadmin),
            ..principal("viewer")
        };
        assert!(authorize(&superadmin, "t2", &Required::new("tenant", "export"), &[]).is_allowed());
    }

    #[test]
    fn wildcards_in_custom_roles() {
        let customs = [
            CustomRole::new("auditor", alloc::vec!["*:read".into()]).unwrap(),
            CustomRole::new("all", alloc::vec!["*".into()]).unwrap(),
        ];
        let auditor = principal("auditor");
        assert!(authorize(&auditor, "t1", &Required::new("audit", "read"), &customs).is_allowed());
        assert!(
            !authorize(&auditor, "t1", &Required::new("audit", "delete"), &customs).is_allowed()
        );
        assert!(
            authorize(&principal("all"), "t1", &Required::new("x", "y"), &customs).is_allowed()
        );
    }

    #[test]
    fn permission_grammar() {
        for ok in [
            "*",
            "clients:*",
            "*:read",
            "clients:read",
            "appointments:update:own",
            "api-keys:create",
        ] {
            assert_eq!(parse_permission(ok), Ok(ok));
        }
        for bad in [
            "",
            ":",
            "clients",
            "clients:",
            ":read",
            "Clients:read",
            "clients:read:mine",
            "a:b:own:x",
            "clients:*:own",
            "c d:read",
        ] {
            assert!(parse_permission(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn custom_role_rules() {
        assert_eq!(
            CustomRole::new("owner", alloc::vec!["*".into()]),
            Err(RbacError::BuiltinRoleName("owner".into()))
        );
        assert!(matches!(
            CustomRole::new("X", alloc::vec!["*".into()]),
            Err(RbacError::InvalidRoleName(_))
        ));
        assert_eq!(
            CustomRole::new("nurse", alloc::vec![]),
            Err(RbacError::NoPermissions)
        );
        assert!(matches!(
            CustomRole::new("nurse", alloc::vec!["clients".into()]),
            Err(RbacError::InvalidPermission(_))
        ));
        assert_eq!(role_grants("viewer", &[]).unwrap()[0], "tenant:read");
        assert_eq!(role_grants("nobody", &[]), None);
    }

    #[test]
    fn every_builtin_grant_is_well_formed() {
        for role in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::parse(role.as_str()), Some(role));
            for grant in role.grants() {
                assert!(parse_permission(grant).is_ok(), "{grant}");
            }
        }
    }

    proptest! {
        #[test]
        fn own_grants_never_allow_other_owners(owner in "[a-z_]{1,8}") {
            let mine = owner == "u_me";
            prop_assert_eq!(allowed("employee", "appointments", "update", Some(&owner)), mine);
        }

        #[test]
        fn parse_permission_never_panics(text in "\\PC{0,40}") {
            let _ = parse_permission(&text);
        }
    }
}
