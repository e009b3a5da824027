//! UTC calendar arithmetic on Unix seconds: the days, months and dates the quotas,
//! usage counters and mail headers are keyed by, with no clock and no dependency.

use alloc::format;
use alloc::string::String;

const SECS_PER_DAY: i64 = 86_400;

/// (year, month 1-12, day 1-31) of a day number since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a Unix time.
pub fn date_of(secs: i64) -> (i64, u32, u32) {
    civil_from_days(secs.div_euclid(SECS_PER_DAY))
}

/// `YYYY-MM`: the period of monthly quotas and usage counters.
pub fn month_key(secs: i64) -> String {
    let (y, m, _) = date_of(secs);
    format!("{y:04}-{m:02}")
}

/// `YYYY-MM-DD`: the period of daily mail usage.
pub fn day_key(secs: i64) -> String {
    let (y, m, d) = date_of(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Unix time of 00:00 UTC on the first day of the month of `secs`.
pub fn month_start(secs: i64) -> i64 {
    let (y, m, _) = date_of(secs);
    days_from_civil(y, m, 1) * SECS_PER_DAY
}

/// An RFC 5322 date in UTC, e.g. `Mon, 23 Nov 2026 01:29:52 +0000`.
pub fn rfc5322(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(SECS_PER_DAY);
    let rest = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn known_dates() {
        assert_eq!(day_key(0), "1970-01-01");
        assert_eq!(rfc5322(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322(1_795_397_392), "Mon, 23 Nov 2026 01:29:52 +0000");
        assert_eq!(day_key(951_782_400), "2000-02-29");
        assert_eq!(day_key(4_107_542_400), "2100-03-01");
        assert_eq!(month_key(1_795_397_392), "2026-11");
        assert_eq!(month_start(1_795_397_392), 1_793_491_200);
        assert_eq!(month_start(951_782_400), 949_363_200);
        assert_eq!(day_key(-1), "1969-12-31");
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn a_month_starts_at_or_before_any_of_its_times(secs in -4_000_000_000i64..8_000_000_000) {
            let start = month_start(secs);
            prop_assert!(start <= secs);
            prop_assert_eq!(month_key(start), month_key(secs));
            prop_assert_ne!(month_key(start - 1), month_key(secs));
        }
    }
}
