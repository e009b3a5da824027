//! A tenant request inside the Worker that serves it: the entry the gateway admitted
//! (tenant, principal, custom roles, limits, rate decision) with the handles the
//! handlers use, and the authorization, grant and audit helpers every tenant route
//! shares.

use crate::db::TenantDb;
use crate::routes::Route;
use crate::{Outcome, audit, http, now_secs, routes};
use tenantry_core::auth::Principal;
use tenantry_core::internal::TenantEntry;
use tenantry_core::limits::{Limits, Quota};
use tenantry_core::ratelimit::RateDecision;
use tenantry_core::rbac::{CustomRole, Decision, Required, authorize};
use tenantry_core::tenant::Tenant;
use tenantry_core::{ErrorCode, Problem};
use worker::{D1Database, Env, Request};

/// The runtime handles of one request.
pub struct RequestCtx {
    pub env: Env,
    pub db: D1Database,
    pub request_id: String,
    pub now: i64,
}

/// A tenant request after the gateway's resolution, authentication and rate limiting.
pub struct TenantCtx<'a> {
    pub ctx: &'a RequestCtx,
    pub tenant: &'a Tenant,
    pub resolved_by: &'static str,
    pub principal: &'a Principal,
    pub db: TenantDb<'a>,
    pub custom_roles: &'a [CustomRole],
    pub limits: Limits,
    pub rate: RateDecision,
    pub month_calls: u64,
}

/// What a tenant route Worker starts from: the route, its handles and the gateway's entry.
pub struct Admitted {
    pub route: Route,
    pub params: Vec<String>,
    pub ctx: RequestCtx,
    pub entry: TenantEntry,
}

impl Admitted {
    /// Verifies the gateway's context for `req` (401 for anything else) and finds the
    /// route; 404 unless the context carries a tenant entry and the route is one of the
    /// `served` ones.
    pub fn verify(env: Env, req: &Request, served: fn(Route) -> bool) -> Outcome<Admitted> {
        let context = crate::internal::verify(&env, req)?;
        let path = routes::routed_path(req.path());
        let matched = routes::find(&req.method(), &path)?;
        let entry = context
            .entry
            .filter(|_| served(matched.route))
            .ok_or_else(|| http::not_found("route"))?;
        let db = env
            .d1("DB")
            .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
        Ok(Admitted {
            route: matched.route,
            params: matched.params.iter().map(|p| p.to_string()).collect(),
            ctx: RequestCtx {
                env,
                db,
                request_id: context.request_id,
                now: now_secs(),
            },
            entry,
        })
    }

    /// The `n`th path parameter.
    pub fn param(&self, n: usize) -> &str {
        self.params.get(n).map(String::as_str).unwrap_or_default()
    }

    /// The tenant context the handlers take, borrowing the entry.
    pub fn tenant_ctx(&self) -> TenantCtx<'_> {
        let entry = &self.entry;
        TenantCtx {
            ctx: &self.ctx,
            db: TenantDb::new(&self.ctx.db, &entry.tenant.id),
            resolved_by: entry.resolved_by.as_str(),
            tenant: &entry.tenant,
            principal: &entry.principal,
            custom_roles: &entry.custom_roles,
            limits: entry.limits,
            rate: entry.rate,
            month_calls: entry.month_calls,
        }
    }
}

/// 403 `forbidden` naming the missing permission, unless the core allows `principal`
/// what `required` names in `tenant_id`.
pub fn require(
    principal: &Principal,
    tenant_id: &str,
    custom_roles: &[CustomRole],
    required: Required<'_>,
) -> Outcome<()> {
    match authorize(principal, tenant_id, &required, custom_roles) {
        Decision::Allow => Ok(()),
        Decision::Deny { missing } => Err(Problem::new(
            ErrorCode::Forbidden,
            format!("missing permission {missing}"),
        )
        .with("permission", missing)),
    }
}

impl TenantCtx<'_> {
    /// 403 `forbidden` naming the missing permission, unless allowed.
    pub fn require(&self, required: Required<'_>) -> Outcome<()> {
        require(self.principal, &self.tenant.id, self.custom_roles, required)
    }

    /// 403 `quota_exceeded` unless `requested` more of `quota` fit the tenant's limits;
    /// `count_sql` (tenant-scoped, `?1` the tenant) counts what it uses now.
    pub async fn check_quota(
        &self,
        quota: Quota,
        count_sql: &str,
        args: &[wasm_bindgen::JsValue],
        requested: u64,
    ) -> Outcome<()> {
        let current = self.db.count(count_sql, args).await?;
        self.limits
            .check(quota, current, requested)
            .map_err(Problem::from)
    }

    /// 403 unless this request's principal may grant `role` (the core's grant rule: no
    /// principal grants more than it holds; only an owner grants `owner`); 400 for a
    /// role the tenant does not have.
    pub fn may_grant(&self, role: &str) -> Outcome<()> {
        tenantry_core::rbac::may_grant_role(
            self.principal,
            &self.tenant.id,
            role,
            self.custom_roles,
        )
        .map_err(Problem::from)
    }

    /// The audit entry of a change by this request's principal; it goes in the same D1
    /// batch as the change. `before` and `after` must not hold secrets.
    pub fn audit(
        &self,
        action: &str,
        resource: &str,
        resource_id: Option<&str>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Outcome<worker::D1PreparedStatement> {
        let entry = audit::Entry {
            actor: &self.principal.subject,
            action,
            resource,
            resource_id,
            before,
            after,
        };
        audit::statement(&self.db, entry, &self.ctx.request_id, self.ctx.now)
    }

    /// The limits of the tenant's plan with its overrides.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}
