//! Tenants: the model, the naming rules and tenant resolution.

mod names;
pub mod reserved;
mod resolve;

pub use names::{Hostname, NameError, Slug};
pub use reserved::{Reserved, ReservedNames};
pub use resolve::{
    Named, RequestFacts, Resolution, ResolveError, ResolvedBy, TenantKey, TenantResolver, admit,
    strip_tenant_path,
};

use crate::limits::Plan;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Most custom hostnames one tenant may register: they are part of its hot state,
/// loaded whole by its Durable Object.
pub const MAX_HOSTNAMES: usize = 100;

/// Lifecycle of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Created, not yet usable (for example awaiting verification or payment).
    Pending,
    /// Serving requests.
    Active,
    /// Refused with `tenant_suspended` until reactivated.
    Suspended,
    /// Soft-deleted: resolves as if it did not exist.
    Deleted,
}

impl TenantStatus {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Pending => "pending",
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Deleted => "deleted",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => TenantStatus::Pending,
            "active" => TenantStatus::Active,
            "suspended" => TenantStatus::Suspended,
            "deleted" => TenantStatus::Deleted,
            _ => return None,
        })
    }
}

/// A tenant as loaded by a shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Stable opaque identifier.
    pub id: String,
    /// DNS-label name used in subdomains, paths and headers.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Current plan.
    pub plan: Plan,
    /// Lifecycle status.
    pub status: TenantStatus,
}
