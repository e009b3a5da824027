//! What a relay reports of itself, so the platform's operator sees every relay's state
//! (the last directory sync, the outbound queue, the certificates it serves) without
//! scraping each one's metrics port. The relay writes a [`RelayReport`]; the gateway
//! checks it with [`RelayReport::check`] before storing it as sent.

use crate::tenant::Hostname;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Most certificates one report lists (a relay serving more reports the soonest to
/// expire, which are the ones an operator must act on).
pub const MAX_REPORTED_CERTIFICATES: usize = 200;

/// The largest integer a report may hold: what a JavaScript number (D1's, the console's)
/// holds exactly.
const MAX_EXACT: i64 = (1 << 53) - 1;

/// One relay's state at `reported_at` (its own clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayReport {
    /// The relay's hostname (its `hostname` setting): relays sharing a key report apart.
    pub hostname: String,
    /// When its replica last matched the gateway's directory; `None` before the first sync.
    pub synced_at: Option<i64>,
    /// The directory version it holds.
    pub directory_version: u64,
    /// Messages in its outbound queue.
    pub queue_depth: u64,
    /// When the oldest of them was queued.
    pub oldest_queued_at: Option<i64>,
    /// The certificates it serves by SNI, soonest expiry first.
    pub certificates: Vec<CertificateExpiry>,
}

/// A served certificate's name and end of validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateExpiry {
    /// The domain (or, for the relay's own certificates, the file's name).
    pub domain: String,
    /// Its `notAfter`, in seconds since the epoch.
    pub not_after: i64,
}

impl RelayReport {
    /// The report with its certificates ordered soonest first and cut to what one
    /// report carries.
    pub fn new(
        hostname: String,
        synced_at: Option<i64>,
        directory_version: u64,
        queue: (u64, Option<i64>),
        mut certificates: Vec<CertificateExpiry>,
    ) -> Self {
        certificates.sort_by(|a, b| (a.not_after, &a.domain).cmp(&(b.not_after, &b.domain)));
        certificates.truncate(MAX_REPORTED_CERTIFICATES);
        RelayReport {
            hostname,
            synced_at,
            directory_version,
            queue_depth: queue.0,
            oldest_queued_at: queue.1,
            certificates,
        }
    }

    /// Refuses a report the operator's pages could not show as sent: names that are no
    /// host names, times before the epoch, more certificates than one report carries.
    pub fn check(&self) -> Result<(), ReportError> {
        // The hostname rule of `Host` headers and custom hostnames, in its normal form (what
        // the page shows is what was checked).
        if Hostname::parse(&self.hostname).map_or(true, |h| h.as_str() != self.hostname) {
            return Err(ReportError::Hostname);
        }
        for (field, time) in [
            ("synced_at", self.synced_at),
            ("oldest_queued_at", self.oldest_queued_at),
        ] {
            if time.is_some_and(|t| !(0..=MAX_EXACT).contains(&t)) {
                return Err(ReportError::Time(field));
            }
        }
        for (field, count) in [
            ("directory_version", self.directory_version),
            ("queue_depth", self.queue_depth),
        ] {
            if count > MAX_EXACT as u64 {
                return Err(ReportError::Count(field));
            }
        }
        if self.queue_depth == 0 && self.oldest_queued_at.is_some() {
            return Err(ReportError::Time("oldest_queued_at"));
        }
        if self.certificates.len() > MAX_REPORTED_CERTIFICATES {
            return Err(ReportError::TooManyCertificates);
        }
        if let Some(index) = self.certificates.iter().position(|c| {
            c.domain.is_empty() || c.domain.len() > 253 || !(0..=MAX_EXACT).contains(&c.not_after)
        }) {
            return Err(ReportError::Certificate(index));
        }
        Ok(())
    }
}

/// Why a report was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The hostname is not a host name.
    #[error("hostname: must be a lowercase host name (no port, no trailing dot)")]
    Hostname,
    /// A time is negative, or given for an empty queue.
    #[error("{0}: must be seconds since the epoch (and none for an empty queue)")]
    Time(&'static str),
    /// A count past what the platform's numbers hold exactly.
    #[error("{0}: at most 2^53 - 1")]
    Count(&'static str),
    /// More certificates than one report carries.
    #[error("certificates: at most 200 per report (the soonest to expire)")]
    TooManyCertificates,
    /// A certificate's domain or expiry is malformed.
    #[error("certificates[{0}]: a domain of 1 to 253 characters and a not_after in seconds")]
    Certificate(usize),
}

impl ReportError {
    /// The request field at fault.
    pub fn field(&self) -> String {
        match self {
            ReportError::Hostname => "hostname".into(),
            ReportError::Time(field) | ReportError::Count(field) => (*field).into(),
            ReportError::TooManyCertificates => "certificates".into(),
            ReportError::Certificate(index) => alloc::format!("certificates[{index}]"),
        }
    }
}

impl From<ReportError> for crate::Problem {
    fn from(error: ReportError) -> Self {
        crate::Problem::new(
            crate::ErrorCode::InvalidRequest,
            alloc::string::ToString::to_string(&error),
        )
        .with("field", error.field())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn expiry(domain: &str, not_after: i64) -> CertificateExpiry {
        CertificateExpiry {
            domain: domain.into(),
            not_after,
        }
    }

    fn report() -> RelayReport {
        RelayReport::new(
            "mx1.platform.example".into(),
            Some(1_000),
            7,
            (2, Some(900)),
            vec![expiry("b.example", 5_000), expiry("a.example", 4_000)],
        )
    }

    #[test]
    fn a_report_lists_the_soonest_expiry_first_and_is_bounded() {
        let made = report();
        assert_eq!(made.certificates[0].domain, "a.example");
        assert_eq!(made.check(), Ok(()));
        let many = (0..300).map(|i| expiry("x.example", i)).collect();
        let cut = RelayReport::new("mx".into(), None, 0, (0, None), many);
        assert_eq!(cut.certificates.len(), MAX_REPORTED_CERTIFICATES);
        assert_eq!(cut.certificates[0].not_after, 0);
    }

    #[test]
    fn malformed_reports_name_their_field() {
        type Spoil = fn(&mut RelayReport);
        let cases: [(Spoil, &str); 8] = [
            (|r| r.queue_depth = 1 << 60, "queue_depth"),
            (|r| r.hostname = "mx 1".into(), "hostname"),
            (|r| r.hostname = String::new(), "hostname"),
            (|r| r.hostname = "MX1.platform.example".into(), "hostname"),
            (|r| r.synced_at = Some(-1), "synced_at"),
            (
                |r| {
                    r.queue_depth = 0;
                },
                "oldest_queued_at",
            ),
            (
                |r| r.certificates[1].domain = String::new(),
                "certificates[1]",
            ),
            (
                |r| r.certificates = vec![expiry("a.example", 1); 201],
                "certificates",
            ),
        ];
        for (spoil, field) in cases {
            let mut spoiled = report();
            spoil(&mut spoiled);
            let error = spoiled.check().unwrap_err();
            assert_eq!(error.field(), field, "{error}");
            let problem = crate::Problem::from(error);
            assert_eq!(problem.code, crate::ErrorCode::InvalidRequest);
        }
    }
}
