//! The internal context header: how the gateway tells a route Worker who is asking.
//!
//! The gateway resolves the tenant, authenticates and authorizes, then forwards the
//! request over a service binding with `X-Tenantry-Context: <payload>.<mac>`, where the
//! payload is base64url JSON and the MAC is HMAC-SHA256 over it with the internal
//! secret. The context names the method and path it was issued for and when, so a
//! header lifted from one request cannot authorise another route, another method or a
//! replay after [`MAX_AGE_SECS`].

use crate::encoding::ct_eq;
use crate::problem::ErrorCode;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::{Deserialize, Serialize};

/// The header that carries the context.
pub const HEADER: &str = "x-tenantry-context";

/// How long a context is accepted after it was issued.
pub const MAX_AGE_SECS: i64 = 30;

/// How far ahead of the verifier's clock a context may claim to be issued.
pub const MAX_FUTURE_SKEW_SECS: i64 = 5;

/// Who is asking, for which tenant, as the gateway established it. `E` is what a Worker
/// reads of the admitted tenant request: [`TenantEntry`] for the tenant route Workers,
/// [`NoEntry`] for the others, which then carry no
/// code to parse one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternalContext<E = TenantEntry> {
    /// The resolved tenant, when the route has one before the Worker runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The authenticated principal's subject, when there is one (webhooks have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The sign-in session of the principal's token, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Set when the principal is a platform superadmin (the admin Worker requires it).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub superadmin: bool,
    /// The tenants a relay key serves, when the principal is one (the relay Worker
    /// requires it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_scope: Option<crate::auth::RelayScope>,
    /// For a tenant route: the tenant request as the gateway admitted it.
    // A missing `Option` field reads as `None` without `default` (which would ask
    // `E: Default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<E>,
    /// The gateway's request id, for logs and audit entries.
    pub request_id: String,
    /// The method the context was issued for.
    pub method: String,
    /// The path (without query) the context was issued for.
    pub path: String,
    /// When the gateway issued it, seconds since the epoch.
    pub issued_at: i64,
}

/// The entry type of a Worker that needs no tenant entry: whatever the gateway put there
/// is skipped, unparsed.
pub use serde::de::IgnoredAny as NoEntry;

/// A tenant request the gateway admitted: resolved, its principal a member (narrowed to
/// this tenant), the tenant active, the request counted. The Worker serving the route
/// authorizes with it and reads nothing of it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantEntry {
    /// The tenant.
    pub tenant: crate::tenant::Tenant,
    /// How the request named it.
    pub resolved_by: crate::tenant::ResolvedBy,
    /// Who is asking, holding only its membership of this tenant.
    pub principal: crate::auth::Principal,
    /// The tenant's custom roles (authorization and the grant rule need them).
    pub custom_roles: Vec<crate::rbac::CustomRole>,
    /// The tenant's limits (plan with overrides).
    pub limits: crate::limits::Limits,
    /// The rate decision that admitted the request.
    pub rate: crate::ratelimit::RateDecision,
    /// API calls counted this month, this request included.
    pub month_calls: u64,
}

/// Why a context header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// No header.
    #[error("the internal context header is missing")]
    Missing,
    /// Not `<payload>.<mac>` in base64url, or the payload is not a context.
    #[error("the internal context header is malformed")]
    Malformed,
    /// The MAC does not match the internal secret.
    #[error("the internal context signature does not match")]
    BadSignature,
    /// Issued for another method or path.
    #[error("the internal context was issued for another request")]
    WrongRequest,
    /// Older than [`MAX_AGE_SECS`] or too far in the future.
    #[error("the internal context has expired")]
    Expired,
}

impl ContextError {
    /// The error code answered: nothing but the gateway may call a route Worker.
    pub const fn code(self) -> ErrorCode {
        ErrorCode::Unauthenticated
    }
}

crate::problem::problem_from!(ContextError);

use crate::mac::HmacSha256;

/// Signs and verifies contexts with the internal secret. The key schedule is computed
/// once per key.
#[derive(Clone)]
pub struct ContextKey(HmacSha256);

impl core::fmt::Debug for ContextKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ContextKey(..)")
    }
}

impl ContextKey {
    /// A key from the internal secret; an empty secret is refused.
    pub fn new(secret: &[u8]) -> Result<Self, crate::mac::EmptyKey> {
        Ok(ContextKey(crate::mac::hmac_key(secret)?))
    }

    fn mac(&self, payload: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// The header value for `context`.
    pub fn sign<E: Serialize>(&self, context: &InternalContext<E>) -> String {
        let json = serde_json::to_vec(context).expect("a context always serialises");
        let mut header = URL_SAFE_NO_PAD.encode(&json);
        let mac = self.mac(header.as_bytes());
        header.push('.');
        URL_SAFE_NO_PAD.encode_string(mac, &mut header);
        header
    }

    /// The context of a request with `method` and `path`, received at `now`.
    pub fn verify<E: serde::de::DeserializeOwned>(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        now: i64,
    ) -> Result<InternalContext<E>, ContextError> {
        let header = header.ok_or(ContextError::Missing)?;
        let (payload, mac) = header.split_once('.').ok_or(ContextError::Malformed)?;
        let presented: Vec<u8> = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| ContextError::Malformed)?;
        if !ct_eq(&self.mac(payload.as_bytes()), &presented) {
            return Err(ContextError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| ContextError::Malformed)?;
        let context: InternalContext<E> =
            serde_json::from_slice(&json).map_err(|_| ContextError::Malformed)?;
        if !context.method.eq_ignore_ascii_case(method) || context.path != path {
            return Err(ContextError::WrongRequest);
        }
        let age = now.saturating_sub(context.issued_at);
        if age > MAX_AGE_SECS || -age > MAX_FUTURE_SKEW_SECS {
            return Err(ContextError::Expired);
        }
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: i64 = 1_800_000_000;

    fn context() -> InternalContext {
        InternalContext {
            tenant_id: Some("t_paris".into()),
            subject: Some("u_1".into()),
            session: None,
            superadmin: false,
            relay_scope: None,
            entry: None,
            request_id: "req_1".into(),
            method: "POST".into(),
            path: "/v1/crm/Contact".into(),
            issued_at: NOW,
        }
    }

    #[test]
    fn an_admitted_tenant_request_travels_whole_and_cannot_be_altered() {
        use crate::limits::{Limits, Plan};
        use crate::ratelimit::SlidingWindow;
        let principal = crate::auth::Principal {
            session: None,
            subject: "u_1".into(),
            kind: crate::auth::PrincipalKind::User,
            platform_role: None,
            home_tenant: Some("t_paris".into()),
            memberships: alloc::vec![crate::auth::Membership {
                tenant_id: "t_paris".into(),
                role: "auditor".into(),
            }],
        };
        let mut window = crate::ratelimit::WindowState::default();
        let entry = TenantEntry {
            tenant: crate::tenant::Tenant {
                id: "t_paris".into(),
                slug: "paris".into(),
                name: "Paris".into(),
                plan: Plan::Starter,
                status: crate::tenant::TenantStatus::Active,
            },
            resolved_by: crate::tenant::ResolvedBy::Token,
            principal,
            custom_roles: alloc::vec![
                crate::rbac::CustomRole::new("auditor", alloc::vec!["audit:read".into()]).unwrap()
            ],
            limits: Limits::for_tenant(Plan::Starter, &[]),
            rate: SlidingWindow::per_minute(100).check(&mut window, 1_000),
            month_calls: 7,
        };
        let mut with_entry = context();
        with_entry.entry = Some(entry);
        let key = ContextKey::new(b"internal-secret").unwrap();
        let header = key.sign(&with_entry);
        assert_eq!(
            key.verify::<TenantEntry>(Some(&header), "POST", "/v1/crm/Contact", NOW),
            Ok(with_entry)
        );
        // Another payload under the same MAC (a role raised to owner) is refused.
        let (payload, mac) = header.split_once('.').unwrap();
        let decoded = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let raised = core::str::from_utf8(&decoded)
            .unwrap()
            .replace("auditor\"}]", "owner\"}]");
        assert_ne!(
            raised.as_bytes(),
            decoded.as_slice(),
            "the forgery changes the payload"
        );
        let forged = alloc::format!("{}.{mac}", URL_SAFE_NO_PAD.encode(raised));
        assert_eq!(
            key.verify::<TenantEntry>(Some(&forged), "POST", "/v1/crm/Contact", NOW),
            Err(ContextError::BadSignature)
        );
    }

    #[test]
    fn a_signed_context_verifies_for_its_own_request_only() {
        let key = ContextKey::new(b"internal-secret").unwrap();
        let header = key.sign(&context());
        assert_eq!(
            key.verify::<TenantEntry>(Some(&header), "POST", "/v1/crm/Contact", NOW + 3),
            Ok(context())
        );
        assert_eq!(
            key.verify::<TenantEntry>(Some(&header), "DELETE", "/v1/crm/Contact", NOW),
            Err(ContextError::WrongRequest)
        );
        assert_eq!(
            key.verify::<TenantEntry>(Some(&header), "POST", "/v1/crm/Account", NOW),
            Err(ContextError::WrongRequest)
        );
        assert_eq!(
            key.verify::<TenantEntry>(
                Some(&header),
                "POST",
                "/v1/crm/Contact",
                NOW + MAX_AGE_SECS + 1
            ),
            Err(ContextError::Expired)
        );
        assert_eq!(
            key.verify::<TenantEntry>(Some(&header), "POST", "/v1/crm/Contact", NOW - 60),
            Err(ContextError::Expired)
        );
    }

    #[test]
    fn an_empty_internal_secret_is_refused() {
        assert!(ContextKey::new(b"").is_err());
        assert!(crate::auth::JwtKey::new(b"").is_err());
    }

    #[test]
    fn forged_tampered_and_missing_headers_are_refused() {
        let key = ContextKey::new(b"internal-secret").unwrap();
        let other = ContextKey::new(b"another-secret").unwrap();
        let verify = |header: Option<&str>| {
            key.verify::<TenantEntry>(header, "POST", "/v1/crm/Contact", NOW)
        };
        assert_eq!(verify(None), Err(ContextError::Missing));
        assert_eq!(verify(Some("garbage")), Err(ContextError::Malformed));
        assert_eq!(
            verify(Some(&other.sign(&context()))),
            Err(ContextError::BadSignature)
        );
        // Another tenant named in a payload that keeps the original MAC.
        let header = key.sign(&context());
        let (_, mac) = header.split_once('.').unwrap();
        let mut forged = context();
        forged.tenant_id = Some("t_lyon".into());
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            verify(Some(&(forged_payload + "." + mac))),
            Err(ContextError::BadSignature)
        );
        let mut unsigned = header.clone();
        unsigned.truncate(header.find('.').unwrap() + 1);
        assert_eq!(verify(Some(&unsigned)), Err(ContextError::BadSignature));
        assert_eq!(verify(Some("no-dot-here")), Err(ContextError::Malformed));
    }
}
