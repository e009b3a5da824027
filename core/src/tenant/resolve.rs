//! Tenant resolution: which tenant a request means and how that was decided.
//!
//! Resolution runs in two steps so that the shell can do its lookups in between:
//! 1. [`TenantResolver::named`] reads the request facts and returns every tenant the
//!    request names, by which source ([`Named`]);
//! 2. the shell loads those tenants (by hostname, slug or id) and
//!    [`TenantResolver::decide`] checks that they agree, that the principal may act on
//!    the tenant and that its status allows it.
//!
//! Ambiguity and mismatch are errors, never guesses.

use super::{Hostname, Slug, Tenant, TenantStatus};
use crate::auth::Principal;
use crate::problem::ErrorCode;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// How the tenant of a request was found, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolvedBy {
    /// A custom hostname registered to the tenant.
    Hostname,
    /// `{slug}.{platform domain}`.
    Subdomain,
    /// `/v1/t/{slug}/...`.
    Path,
    /// `X-Tenant` (slug) or `X-Tenant-ID` (id).
    Header,
    /// `?tenant={slug}`.
    Query,
    /// The authenticated principal's own tenant, when nothing else names one.
    Token,
}

impl ResolvedBy {
    /// The form used in `GET /v1/tenant`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResolvedBy::Hostname => "hostname",
            ResolvedBy::Subdomain => "subdomain",
            ResolvedBy::Path => "path",
            ResolvedBy::Header => "header",
            ResolvedBy::Query => "query",
            ResolvedBy::Token => "token",
        }
    }
}

/// What the shell looks a tenant up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantKey {
    /// A custom hostname.
    Hostname(Hostname),
    /// A slug.
    Slug(Slug),
    /// A tenant id.
    Id(String),
}

/// One source that names a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Which source.
    pub by: ResolvedBy,
    /// What it names.
    pub key: TenantKey,
}

/// The parts of a request that can name a tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The `Host` header (may carry a port).
    pub host: Option<&'a str>,
    /// The request path, without query.
    pub path: &'a str,
    /// `X-Tenant`.
    pub tenant_header: Option<&'a str>,
    /// `X-Tenant-ID`.
    pub tenant_id_header: Option<&'a str>,
    /// The `tenant` query parameter, already percent-decoded.
    pub tenant_query: Option<&'a str>,
}

/// A resolved tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The tenant.
    pub tenant: Tenant,
    /// The source that named it (the highest in precedence when several agree).
    pub resolved_by: ResolvedBy,
}

/// Why no tenant could be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Sources name different tenants.
    #[error("the request names more than one tenant ({0} and {1} disagree)")]
    Ambiguous(&'static str, &'static str),
    /// Nothing names a tenant and the principal has no tenant of its own.
    #[error("no tenant is named by hostname, subdomain, path, header, query or token")]
    Required,
    /// A named tenant does not exist (or is deleted).
    #[error("the tenant does not exist")]
    NotFound,
    /// A tenant value is not a well-formed slug or id.
    #[error("the tenant named by {0} is not well formed")]
    Malformed(&'static str),
    /// The principal is not a member of the tenant.
    #[error("the credential does not belong to this tenant")]
    Mismatch,
    /// The tenant is pending.
    #[error("the tenant is not active yet")]
    Inactive,
    /// The tenant is suspended.
    #[error("the tenant is suspended")]
    Suspended,
}

impl ResolveError {
    /// The error code answered to the client.
    pub const fn code(self) -> ErrorCode {
        match self {
            ResolveError::Ambiguous(..) => ErrorCode::AmbiguousTenant,
            ResolveError::Required => ErrorCode::TenantRequired,
            ResolveError::NotFound => ErrorCode::TenantNotFound,
            ResolveError::Malformed(_) => ErrorCode::InvalidRequest,
            ResolveError::Mismatch => ErrorCode::TenantMismatch,
            ResolveError::Inactive => ErrorCode::TenantInactive,
            ResolveError::Suspended => ErrorCode::TenantSuspended,
        }
    }
}

crate::problem::problem_from!(ResolveError);

/// The path prefix that names a tenant: `/v1/t/{slug}/...`.
const TENANT_PATH_PREFIX: &str = "/v1/t/";

/// The longest tenant id accepted from a header; ids are opaque but short.
const MAX_TENANT_ID: usize = 64;

/// Resolves tenants for one deployment.
#[derive(Debug, Clone)]
pub struct TenantResolver {
    platform_domain: Option<Hostname>,
}

impl TenantResolver {
    /// A resolver for the platform domain (`PLATFORM_DOMAIN`); without one, subdomains
    /// never name a tenant.
    pub fn new(platform_domain: Option<Hostname>) -> Self {
        TenantResolver { platform_domain }
    }

    /// Step 1: every tenant the request names, in precedence order. The principal's
    /// own tenant comes last, as [`ResolvedBy::Token`].
    pub fn named(
        &self,
        facts: &RequestFacts<'_>,
        principal: Option<&Principal>,
    ) -> Result<Vec<Named>, ResolveError> {
        let mut named = Vec::new();
        if let Some(host) = facts.host.and_then(|h| Hostname::parse(h).ok()) {
            let platform = self.platform_domain.as_ref();
            match platform.and_then(|p| host.single_label_under(p)) {
                // A reserved label (www, api, ...) under the platform domain names nothing.
                Some(label) => {
                    if let Ok(slug) = Slug::parse(label) {
                        named.push(Named {
                            by: ResolvedBy::Subdomain,
                            key: TenantKey::Slug(slug),
                        });
                    }
                }
                None if platform == Some(&host) => {}
                None => named.push(Named {
                    by: ResolvedBy::Hostname,
                    key: TenantKey::Hostname(host),
                }),
            }
        }
        if let Some(rest) = facts.path.strip_prefix(TENANT_PATH_PREFIX) {
            let segment = rest.split('/').next().unwrap_or_default();
            named.push(Named {
                by: ResolvedBy::Path,
                key: TenantKey::Slug(parse_slug(segment, "path")?),
            });
        }
        if let Some(value) = facts.tenant_header {
            named.push(Named {
                by: ResolvedBy::Header,
                key: TenantKey::Slug(parse_slug(value.trim(), "X-Tenant")?),
            });
        }
        if let Some(value) = facts.tenant_id_header {
            named.push(Named {
                by: ResolvedBy::Header,
                key: TenantKey::Id(parse_id(value.trim())?),
            });
        }
        if let Some(value) = facts.tenant_query {
            named.push(Named {
                by: ResolvedBy::Query,
                key: TenantKey::Slug(parse_slug(value, "query")?),
            });
        }
        if let Some(home) = principal.and_then(|p| p.home_tenant.as_deref()) {
            named.push(Named {
                by: ResolvedBy::Token,
                key: TenantKey::Id(home.to_string()),
            });
        }
        Ok(named)
    }

    /// Step 2: the tenant the request means. `lookup` returns the tenant the shell
    /// loaded for a key, or `None` when there is none. A custom hostname that is not
    /// registered names nothing (it may be the platform's own address); the principal's
    /// own tenant is used only when no other source named one.
    pub fn decide<'t>(
        &self,
        named: &[Named],
        principal: Option<&Principal>,
        lookup: impl Fn(&TenantKey) -> Option<&'t Tenant>,
    ) -> Result<Resolution, ResolveError> {
        let mut chosen: Option<(&Tenant, ResolvedBy)> = None;
        let mut unknown = false;
        let explicit = named.iter().filter(|n| n.by != ResolvedBy::Token);
        for source in explicit {
            match lookup(&source.key) {
                Some(tenant) => match chosen {
                    Some((first, by)) if first.id != tenant.id => {
                        return Err(ResolveError::Ambiguous(by.as_str(), source.by.as_str()));
                    }
                    Some(_) => {}
                    None => chosen = Some((tenant, source.by)),
                },
                None if source.by == ResolvedBy::Hostname => {}
                None => unknown = true,
            }
        }
        if unknown {
            return Err(ResolveError::NotFound);
        }
        if chosen.is_none()
            && let Some(token) = named.iter().find(|n| n.by == ResolvedBy::Token)
        {
            let tenant = lookup(&token.key).ok_or(ResolveError::NotFound)?;
            chosen = Some((tenant, ResolvedBy::Token));
        }
        let (tenant, resolved_by) = chosen.ok_or(ResolveError::Required)?;
        admit(tenant, principal.is_none_or(|p| p.may_act_on(&tenant.id)))?;
        Ok(Resolution {
            tenant: tenant.clone(),
            resolved_by,
        })
    }
}

/// Whether a request may enter `tenant`, given whether its principal may act on it: the
/// last step of [`TenantResolver::decide`], also taken by the tenant's Durable Object
/// before it counts a request, so that nothing refused here touches the tenant's limits.
pub fn admit(tenant: &Tenant, may_act: bool) -> Result<(), ResolveError> {
    if tenant.status == TenantStatus::Deleted {
        return Err(ResolveError::NotFound);
    }
    // Membership is checked before status so that another tenant's principal learns
    // nothing about this tenant's state.
    if !may_act {
        return Err(ResolveError::Mismatch);
    }
    match tenant.status {
        TenantStatus::Active => Ok(()),
        TenantStatus::Pending => Err(ResolveError::Inactive),
        TenantStatus::Suspended => Err(ResolveError::Suspended),
        TenantStatus::Deleted => Err(ResolveError::NotFound),
    }
}

/// The path after `/v1/t/{slug}`, as the routes under `/v1/` expect it (`/v1/...`).
pub fn strip_tenant_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(TENANT_PATH_PREFIX)?;
    let after_slug = rest.find('/').map_or("", |i| &rest[i..]);
    Some(alloc::format!("/v1{after_slug}"))
}

fn parse_slug(text: &str, source: &'static str) -> Result<Slug, ResolveError> {
    Slug::parse_lenient(text).map_err(|_| ResolveError::Malformed(source))
}

fn parse_id(text: &str) -> Result<String, ResolveError> {
    let well_formed = !text.is_empty()
        && text.len() <= MAX_TENANT_ID
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(text.to_string())
    } else {
        Err(ResolveError::Malformed("X-Tenant-ID"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Membership, PrincipalKind};
    use crate::limits::Plan;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn tenant(id: &str, slug: &str, status: TenantStatus) -> Tenant {
        Tenant {
            id: id.into(),
            slug: slug.into(),
            name: slug.into(),
            plan: Plan::Starter,
            status,
        }
    }

    struct World {
        tenants: Vec<Tenant>,
        hostnames: Vec<(&'static str, &'static str)>,
    }

    impl World {
        fn new() -> Self {
            World {
                tenants: alloc::vec![
                    tenant("t_paris", "paris", TenantStatus::Active),
                    tenant("t_lyon", "lyon", TenantStatus::Active),
                    tenant("t_nice", "nice", TenantStatus::Suspended),
                    tenant("t_lille", "lille", TenantStatus::Pending),
                    tenant("t_gone", "gone", TenantStatus::Deleted),
                ],
                hostnames: alloc::vec![("crm.hopital-paris.example", "t_paris")],
            }
        }

        fn lookup(&self, key: &TenantKey) -> Option<&Tenant> {
            match key {
                TenantKey::Id(id) => self.tenants.iter().find(|t| &t.id == id),
                TenantKey::Slug(slug) => self.tenants.iter().find(|t| t.slug == slug.as_str()),
                TenantKey::Hostname(host) => {
                    let (_, id) = self.hostnames.iter().find(|(h, _)| *h == host.as_str())?;
                    self.tenants.iter().find(|t| t.id == *id)
                }
            }
        }

        fn resolve(
            &self,
            facts: RequestFacts<'_>,
            principal: Option<&Principal>,
        ) -> Result<(String, ResolvedBy), ResolveError> {
            let resolver = TenantResolver::new(Some(Hostname::parse("app.example").unwrap()));
            let named = resolver.named(&facts, principal)?;
            let resolution = resolver.decide(&named, principal, |k| self.lookup(k))?;
            Ok((resolution.tenant.slug, resolution.resolved_by))
        }
    }

    fn member_of(tenant_id: &str) -> Principal {
        Principal {
            session: None,
            subject: "u_1".into(),
            kind: PrincipalKind::User,
            platform_role: None,
            home_tenant: Some(tenant_id.into()),
            memberships: alloc::vec![Membership {
                tenant_id: tenant_id.into(),
                role: "owner".into(),
            }],
        }
    }

    fn facts(host: &'static str, path: &'static str) -> RequestFacts<'static> {
        RequestFacts {
            host: Some(host),
            path,
            ..Default::default()
        }
    }

    #[test]
    fn each_source_resolves_and_reports_itself() {
        let world = World::new();
        let ok = |f, by| assert_eq!(world.resolve(f, None), Ok(("paris".into(), by)));
        ok(
            facts("crm.hopital-paris.example", "/v1/tenant"),
            ResolvedBy::Hostname,
        );
        ok(
            facts("Paris.App.Example:443", "/v1/tenant"),
            ResolvedBy::Subdomain,
        );
        ok(
            facts("app.example", "/v1/t/paris/clients"),
            ResolvedBy::Path,
        );
        ok(
            RequestFacts {
                tenant_header: Some("paris"),
                ..facts("127.0.0.1:8787", "/v1/tenant")
            },
            ResolvedBy::Header,
        );
        ok(
            RequestFacts {
                tenant_id_header: Some("t_paris"),
                ..facts("localhost", "/v1/tenant")
            },
            ResolvedBy::Header,
        );
        ok(
            RequestFacts {
                tenant_query: Some("PARIS"),
                ..facts("app.example", "/v1/tenant")
            },
            ResolvedBy::Query,
        );
        let paris_member = member_of("t_paris");
        assert_eq!(
            world.resolve(facts("app.example", "/v1/tenant"), Some(&paris_member)),
            Ok(("paris".into(), ResolvedBy::Token))
        );
    }

    #[test]
    fn agreeing_sources_report_the_highest_precedence() {
        let world = World::new();
        let f = RequestFacts {
            tenant_header: Some("paris"),
            tenant_query: Some("paris"),
            ..facts("paris.app.example", "/v1/t/paris/x")
        };
        assert_eq!(
            world.resolve(f, None),
            Ok(("paris".into(), ResolvedBy::Subdomain))
        );
    }

    #[test]
    fn disagreeing_sources_are_ambiguous() {
        let world = World::new();
        let f = RequestFacts {
            tenant_header: Some("lyon"),
            ..facts("paris.app.example", "/v1/tenant")
        };
        assert_eq!(
            world.resolve(f, None),
            Err(ResolveError::Ambiguous("subdomain", "header"))
        );
        let f = RequestFacts {
            tenant_id_header: Some("t_lyon"),
            ..facts("app.example", "/v1/t/paris/tenant")
        };
        assert_eq!(
            world.resolve(f, None).unwrap_err().code(),
            ErrorCode::AmbiguousTenant
        );
    }

    #[test]
    fn principal_of_another_tenant_is_a_mismatch_and_superadmin_is_not() {
        let world = World::new();
        let lyon_member = member_of("t_lyon");
        let f = facts("paris.app.example", "/v1/tenant");
        assert_eq!(
            world.resolve(f, Some(&lyon_member)),
            Err(ResolveError::Mismatch)
        );
        // The mismatch hides the status of a tenant the principal does not belong to.
        let f = facts("nice.app.example", "/v1/tenant");
        assert_eq!(
            world.resolve(f, Some(&lyon_member)),
            Err(ResolveError::Mismatch)
        );
        let admin = Principal {
            session: None,
            platform_role: Some(crate::rbac::PlatformRole::Superadmin),
            ..member_of("t_lyon")
        };
        let f = facts("paris.app.example", "/v1/tenant");
        assert_eq!(
            world.resolve(f, Some(&admin)),
            Ok(("paris".into(), ResolvedBy::Subdomain))
        );
    }

    #[test]
    fn status_and_existence() {
        let world = World::new();
        let by_slug = |slug: &'static str| RequestFacts {
            tenant_header: Some(slug),
            ..facts("app.example", "/v1/tenant")
        };
        assert_eq!(
            world.resolve(by_slug("nice"), None),
            Err(ResolveError::Suspended)
        );
        assert_eq!(
            world.resolve(by_slug("lille"), None),
            Err(ResolveError::Inactive)
        );
        assert_eq!(
            world.resolve(by_slug("gone"), None),
            Err(ResolveError::NotFound)
        );
        assert_eq!(
            world.resolve(by_slug("nobody"), None),
            Err(ResolveError::NotFound)
        );
        assert_eq!(
            world.resolve(facts("nobody.app.example", "/v1/tenant"), None),
            Err(ResolveError::NotFound)
        );
        assert_eq!(
            world.resolve(by_slug("bad slug!"), None),
            Err(ResolveError::Malformed("X-Tenant"))
        );
        let f = RequestFacts {
            tenant_id_header: Some("t_paris' OR 1=1"),
            ..facts("app.example", "/v1/tenant")
        };
        assert_eq!(
            world.resolve(f, None),
            Err(ResolveError::Malformed("X-Tenant-ID"))
        );
    }

    #[test]
    fn nothing_named_is_required_and_unregistered_hosts_name_nothing() {
        let world = World::new();
        for host in [
            "app.example",
            "localhost:8787",
            "127.0.0.1",
            "www.app.example",
            "a.b.app.example",
        ] {
            assert_eq!(
                world.resolve(facts(host, "/v1/tenant"), None),
                Err(ResolveError::Required),
                "{host}"
            );
        }
        // An unregistered host does not stop the token's own tenant from being used.
        let paris_member = member_of("t_paris");
        assert_eq!(
            world.resolve(facts("unknown.example", "/v1/tenant"), Some(&paris_member)),
            Ok(("paris".into(), ResolvedBy::Token))
        );
    }

    #[test]
    fn tenant_path_is_stripped_for_routing() {
        assert_eq!(
            strip_tenant_path("/v1/t/paris/clients/1").as_deref(),
            Some("/v1/clients/1")
        );
        assert_eq!(strip_tenant_path("/v1/t/paris").as_deref(), Some("/v1"));
        assert_eq!(strip_tenant_path("/v1/clients"), None);
    }

    proptest! {
        #[test]
        fn resolution_never_panics(host in "\\PC{0,40}", path in "/[a-z0-9/._-]{0,40}", header in proptest::option::of("\\PC{0,20}")) {
            let world = World::new();
            let f = RequestFacts { host: Some(&host), path: &path, tenant_header: header.as_deref(), ..Default::default() };
            let _ = world.resolve(f, None);
        }

        #[test]
        fn a_slug_in_any_single_source_resolves_to_that_tenant(idx in 0usize..2, source in 0usize..4) {
            let world = World::new();
            let slug = ["paris", "lyon"][idx];
            let host = alloc::format!("{slug}.app.example");
            let path = alloc::format!("/v1/t/{slug}/x");
            let f = match source {
                0 => RequestFacts { host: Some(&host), path: "/v1/x", ..Default::default() },
                1 => RequestFacts { path: &path, ..Default::default() },
                2 => RequestFacts { path: "/v1/x", tenant_header: Some(slug), ..Default::default() },
                _ => RequestFacts { path: "/v1/x", tenant_query: Some(slug), ..Default::default() },
            };
            prop_assert_eq!(world.resolve(f, None).unwrap().0, slug);
        }
    }
}
