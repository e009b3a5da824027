//! The rules request fields follow, the same in every shell: names, capacities, expiry
//! times, time ranges and days. Each failure names its field and becomes a 400
//! `invalid_request` with `field`.

use crate::calendar::{civil_from_days, days_from_civil};
use crate::limits::Limit;
use crate::problem::{ErrorCode, Problem};
use alloc::format;
use alloc::string::{String, ToString};

/// A field that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct Invalid {
    /// The field, as the client named it (`name`, `items[3].day`, ...).
    pub field: String,
    /// What it must be.
    pub why: String,
}

impl Invalid {
    /// `field` breaks a rule stated by `why`.
    pub fn new(field: &str, why: impl ToString) -> Self {
        Invalid {
            field: field.to_string(),
            why: why.to_string(),
        }
    }
}

impl From<Invalid> for Problem {
    fn from(error: Invalid) -> Self {
        Problem::new(ErrorCode::InvalidRequest, error.to_string()).with("field", error.field)
    }
}

/// A display name or label: 1 to `max` bytes, not only spaces.
pub fn name(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.trim().is_empty() || value.len() > max {
        return Err(Invalid::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

/// A capacity (mailboxes, storage, a quota): positive, or -1 for unlimited.
pub fn capacity(field: &str, value: i64) -> Result<Limit, Invalid> {
    if value < -1 || value == 0 {
        return Err(Invalid::new(field, "must be positive, or -1 for unlimited"));
    }
    Ok(Limit::from_i64(value))
}

/// An expiry time (seconds since the epoch), when given, after `now`.
pub fn expiry(field: &str, at: Option<i64>, now: i64) -> Result<(), Invalid> {
    if at.is_some_and(|at| at <= now) {
        return Err(Invalid::new(field, "must be in the future"));
    }
    Ok(())
}

/// A time range: `ends_at` after `starts_at`.
pub fn time_range(starts_at: i64, ends_at: i64) -> Result<(), Invalid> {
    if ends_at <= starts_at {
        return Err(Invalid::new("ends_at", "must be after starts_at"));
    }
    Ok(())
}

/// A calendar day written `YYYY-MM-DD` that exists (no 2026-02-30).
pub fn day(field: &str, value: &str) -> Result<(), Invalid> {
    let bad = || Invalid::new(field, "must be a date, YYYY-MM-DD");
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return Err(bad());
    }
    let number = |range: core::ops::Range<usize>| value[range].parse::<u32>().map_err(|_| bad());
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // A day that does not exist normalises to another one.
    let normalised = civil_from_days(days_from_civil(i64::from(year), month, day));
    if normalised != (i64::from(year), month, day) {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn names() {
        assert!(name("name", "Clinique", 200).is_ok());
        assert_eq!(
            name("name", "  ", 200).unwrap_err().to_string(),
            "name: must be 1 to 200 characters"
        );
        assert!(name("name", &"x".repeat(101), 100).is_err());
        assert!(name("name", &"x".repeat(100), 100).is_ok());
    }

    #[test]
    fn capacities() {
        assert_eq!(capacity("q", -1), Ok(Limit::Unlimited));
        assert_eq!(capacity("q", 5), Ok(Limit::Max(5)));
        assert!(capacity("q", 0).is_err());
        assert!(capacity("q", -2).is_err());
    }

    #[test]
    fn expiry_and_ranges() {
        assert!(expiry("expires_at", None, 100).is_ok());
        assert!(expiry("expires_at", Some(101), 100).is_ok());
        assert!(expiry("expires_at", Some(100), 100).is_err());
        assert!(time_range(1, 2).is_ok());
        assert_eq!(time_range(2, 2).unwrap_err().field, "ends_at");
    }

    #[test]
    fn days() {
        for good in ["2026-11-23", "2024-02-29", "2000-02-29", "1970-01-01"] {
            assert!(day("day", good).is_ok(), "{good}");
        }
        for bad in [
            "2026-02-29",
            "2100-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026-1-01",
            "2026/11/23",
            "",
            "20261123xx",
            "2026-11-2x",
        ] {
            assert!(day("day", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_problem_names_the_field() {
        let problem = Problem::from(Invalid::new("items[2].day", "must be a date"));
        assert_eq!(problem.code, ErrorCode::InvalidRequest);
        assert!(
            problem
                .extensions
                .iter()
                .any(|(k, v)| k == "field" && v == "items[2].day")
        );
    }
}
