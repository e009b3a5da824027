//! The relay's wall clock; dates are formatted by `tenantry_core::calendar`.

use std::time::{SystemTime, UNIX_EPOCH};

pub use tenantry_core::calendar::{day_key as utc_day, rfc5322};

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
