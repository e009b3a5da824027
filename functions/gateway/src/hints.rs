//! Which tenant a slug or a custom hostname names, remembered by this isolate so that
//! a request naming its tenant that way reads no D1.
//!
//! A hint is never trusted on its own: the gateway sends the names it used to the
//! tenant's Durable Object, whose hot state (invalidated by every change to the
//! tenant's slug, hostnames or status) answers `stale` when one no longer names the
//! tenant. The gateway then forgets those hints and asks D1. So a hostname moved to
//! another tenant, or a deleted tenant, takes effect on the very next request with no
//! cross-isolate invalidation. Unregistered names are not remembered: a request naming
//! one reads D1 each time (they only come from misdirected traffic).

use std::cell::RefCell;
use std::collections::HashMap;
use tenantry_core::tenant::TenantKey;

/// Hints kept per isolate; when full the map starts again (a bounded cache, refilled
/// by the requests that need it).
const MAX_HINTS: usize = 10_000;

thread_local! {
    static HINTS: RefCell<HashMap<TenantKey, String>> = RefCell::new(HashMap::new());
}

/// The tenant id this isolate last saw `key` name.
pub fn hint(key: &TenantKey) -> Option<String> {
    HINTS.with(|hints| hints.borrow().get(key).cloned())
}

/// Remembers that `key` names `tenant_id`.
pub fn remember(key: &TenantKey, tenant_id: &str) {
    HINTS.with(|hints| {
        let mut hints = hints.borrow_mut();
        if hints.len() >= MAX_HINTS {
            hints.clear();
        }
        hints.insert(key.clone(), tenant_id.to_owned());
    });
}

/// Forgets what `key` named.
pub fn forget(key: &TenantKey) {
    HINTS.with(|hints| {
        hints.borrow_mut().remove(key);
    });
}
