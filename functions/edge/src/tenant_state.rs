//! The tenant's Durable Object as its callers see it. One object per tenant (named by
//! the tenant id, class `TenantGate` in the gateway Worker) holds the tenant's hot
//! state — the tenant row, its hostnames, custom roles and limits — and counts its
//! requests. The gateway asks it once per request ([`admit`]); every Worker that changes
//! that state calls [`invalidate`] after its D1 write and before it answers, so that no
//! request after the answer is admitted on the old state.

use crate::{Outcome, internal};
use serde::{Deserialize, Serialize};
use tenantry_core::auth::session::MemberState;
use tenantry_core::limits::Limits;
use tenantry_core::ratelimit::RateDecision;
use tenantry_core::rbac::CustomRole;
use tenantry_core::tenant::{Tenant, TenantKey};
use worker::{Env, Method, Request, RequestInit};

/// The Durable Object binding, on every Worker that reads or changes hot state.
pub const BINDING: &str = "TENANT";

/// Most hostnames and custom roles a tenant's hot state loads (every read is bounded).
pub const MAX_HOT_ROWS: usize = 1000;

/// What the object knows of its tenant, loaded from D1 once and kept until invalidated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HotState {
    pub tenant: Tenant,
    pub hostnames: Vec<String>,
    pub custom_roles: Vec<CustomRole>,
    pub limits: Limits,
    /// The tenant's `require_mfa` setting: its members' sessions need two factors.
    #[serde(default)]
    pub require_mfa: bool,
}

impl HotState {
    /// Whether `key` names this tenant.
    pub fn is_named_by(&self, key: &TenantKey) -> bool {
        match key {
            TenantKey::Id(id) => *id == self.tenant.id,
            TenantKey::Slug(slug) => slug.as_str() == self.tenant.slug,
            TenantKey::Hostname(host) => self.hostnames.iter().any(|h| h == host.as_str()),
        }
    }
}

/// The gateway's question for one request.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdmitRequest {
    /// The object's own name.
    pub tenant_id: String,
    /// Slugs and hostnames the gateway believes name this tenant (from its cache or D1);
    /// the object answers `stale` when one does not, and counts nothing.
    pub names: Vec<TenantKey>,
    /// Whether the principal may act on this tenant (a member, its key, a superadmin).
    pub may_act: bool,
    /// For a sign-in session's token: the account whose membership and status
    /// the object checks as it is now, so that a removal, a role change or a suspension
    /// applies to the very next request rather than at the token's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The token's sign-in session, checked with the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The member is a platform operator: it needs no membership, only an active account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub platform_operator: bool,
    /// The gateway's clock.
    pub now_ms: u64,
}

/// The object's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdmitAnswer {
    /// The tenant's hot state; `None` when no such tenant exists.
    pub state: Option<HotState>,
    /// A name in the request does not (or no longer) name this tenant.
    pub stale: bool,
    /// Set when the request was admitted (`tenantry_core::tenant::admit`): the
    /// per-minute decision, counted when allowed.
    pub rate: Option<RateDecision>,
    /// Admitted but refused because the month's API calls are used up.
    pub month_exhausted: bool,
    /// API calls counted this month, this request included.
    pub month_calls: u64,
    /// The asked-for member as it is now (see [`AdmitRequest::member`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberState>,
}

fn stub(env: &Env, tenant_id: &str) -> Outcome<worker::Stub> {
    env.durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(tenant_id))
        .map_err(internal)
}

fn post(path: &str, body: Option<String>) -> Outcome<Request> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(body.map(Into::into));
    Request::new_with_init(&format!("https://tenant{path}"), &init).map_err(internal)
}

/// Asks the tenant's object to admit and count one request.
pub async fn admit(env: &Env, tenant_id: &str, ask: &AdmitRequest) -> Outcome<AdmitAnswer> {
    let body = serde_json::to_string(ask).map_err(internal)?;
    let mut response = stub(env, tenant_id)?
        .fetch_with_request(post("/admit", Some(body))?)
        .await
        .map_err(internal)?;
    response.json().await.map_err(internal)
}

/// Drops the tenant's hot state, so the next request reloads it from D1. Call it after
/// the D1 change commits and before answering the request that made it.
pub async fn invalidate(env: &Env, tenant_id: &str) -> Outcome<()> {
    let response = stub(env, tenant_id)?
        .fetch_with_request(post("/invalidate", None)?)
        .await
        .map_err(internal)?;
    if response.status_code() != 204 {
        return Err(internal(format!(
            "the tenant object answered {} to an invalidation",
            response.status_code()
        )));
    }
    Ok(())
}
