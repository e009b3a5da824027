//! SMTP TLS reporting (RFC 8460) of the relay's deliveries under MTA-STS policies: the
//! sessions counted per policy domain in one reporting period, the failures by their
//! result type and MX host, and who may receive a report (only the `mailto:` addresses
//! the domain's own `_smtp._tls` record names, a few at most: a report never goes where
//! the destination did not ask).

use super::mta_sts::{Mode, Policy};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Report addresses used of one record, at most.
pub const MAX_REPORT_ADDRESSES: usize = 3;
/// Distinct failures kept per domain and period (the rest are counted, not detailed).
pub const MAX_FAILURE_DETAILS: usize = 100;

/// RFC 8460 section 4.3's result types the relay can observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResultType {
    /// The MX offered no STARTTLS.
    StartTlsNotSupported,
    /// Its certificate does not name it.
    CertificateHostMismatch,
    /// Its certificate has expired.
    CertificateExpired,
    /// Its certificate is not from a trusted authority.
    CertificateNotTrusted,
    /// Any other failure to set up TLS, or an MX the policy does not list.
    ValidationFailure,
    /// The policy could not be fetched.
    StsPolicyFetchError,
}

impl ResultType {
    /// The report's name for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResultType::StartTlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
        }
    }
}

/// One domain's sessions in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// The policy the sessions were under (the last one seen).
    pub policy: Option<Policy>,
    /// Sessions that met the policy.
    pub successes: u32,
    /// Sessions that did not, in all.
    pub failures: u32,
    /// Failures by result type and MX host.
    pub details: BTreeMap<(ResultType, String), u32>,
}

/// The period's tallies by policy domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    domains: BTreeMap<String, Tally>,
}

impl Ledger {
    fn tally(&mut self, domain: &str, policy: Option<&Policy>) -> &mut Tally {
        let tally = self.domains.entry(domain.to_ascii_lowercase()).or_default();
        if let Some(policy) = policy {
            tally.policy = Some(policy.clone());
        }
        tally
    }

    /// A session to `domain` that met its policy.
    pub fn success(&mut self, domain: &str, policy: &Policy) {
        self.tally(domain, Some(policy)).successes += 1;
    }

    /// A session (or an attempt that could not have one) that failed the policy.
    pub fn failure(&mut self, domain: &str, policy: Option<&Policy>, kind: ResultType, mx: &str) {
        let tally = self.tally(domain, policy);
        tally.failures += 1;
        let key = (kind, mx.to_ascii_lowercase());
        if tally.details.contains_key(&key) || tally.details.len() < MAX_FAILURE_DETAILS {
            *tally.details.entry(key).or_default() += 1;
        }
    }

    /// The tallies so far, leaving the ledger empty for the next period.
    pub fn take(&mut self) -> BTreeMap<String, Tally> {
        core::mem::take(&mut self.domains)
    }

    /// Whether anything was counted.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// The policy as the report quotes it (`policy-string`, one entry per line).
pub fn policy_lines(policy: &Policy) -> Vec<String> {
    let mode = match policy.mode {
        Mode::Enforce => "enforce",
        Mode::Testing => "testing",
        Mode::None => "none",
    };
    let mut lines = alloc::vec![String::from("version: STSv1"), format!("mode: {mode}")];
    lines.extend(policy.mx.iter().map(|mx| format!("mx: {mx}")));
    lines.push(format!("max_age: {}", policy.max_age));
    lines
}

/// The addresses a report may go to, from the `rua` URIs of the domain's `_smtp._tls`
/// record: `mailto:` only (the relay posts to no URL), deduplicated, a few at most.
pub fn report_addresses<'a>(rua: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut addresses: Vec<String> = Vec::new();
    for uri in rua {
        let Some(address) = uri.strip_prefix("mailto:") else {
            continue;
        };
        // A size limit may follow the address (`!10m`); it is not ours to honour.
        let address = address.split('!').next().unwrap_or_default();
        let Ok(address) = super::Address::parse(address) else {
            continue;
        };
        let address = String::from(address.as_str());
        if !addresses.contains(&address) && addresses.len() < MAX_REPORT_ADDRESSES {
            addresses.push(address);
        }
    }
    addresses
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn policy() -> Policy {
        Policy::parse(b"version: STSv1\nmode: enforce\nmx: mx.strict.example\nmax_age: 86400\n")
            .unwrap()
    }

    #[test]
    fn sessions_are_counted_per_domain_and_taken_per_period() {
        let mut ledger = Ledger::default();
        ledger.success("Strict.Example", &policy());
        ledger.success("strict.example", &policy());
        ledger.failure(
            "strict.example",
            Some(&policy()),
            ResultType::CertificateHostMismatch,
            "MX.strict.example",
        );
        ledger.failure(
            "strict.example",
            Some(&policy()),
            ResultType::CertificateHostMismatch,
            "mx.strict.example",
        );
        ledger.failure("gone.example", None, ResultType::StsPolicyFetchError, "");
        let period = ledger.take();
        assert!(ledger.is_empty(), "the next period starts empty");
        let strict = &period["strict.example"];
        assert_eq!((strict.successes, strict.failures), (2, 2));
        assert_eq!(
            strict.details,
            BTreeMap::from([(
                (
                    ResultType::CertificateHostMismatch,
                    String::from("mx.strict.example")
                ),
                2
            )])
        );
        assert_eq!(strict.policy, Some(policy()));
        assert_eq!(period["gone.example"].policy, None);
    }

    #[test]
    fn failure_details_are_bounded_but_every_failure_counts() {
        let mut ledger = Ledger::default();
        for i in 0..(MAX_FAILURE_DETAILS + 20) {
            ledger.failure(
                "a.example",
                None,
                ResultType::ValidationFailure,
                &format!("mx{i}.a.example"),
            );
        }
        let period = ledger.take();
        assert_eq!(
            period["a.example"].failures as usize,
            MAX_FAILURE_DETAILS + 20
        );
        assert_eq!(period["a.example"].details.len(), MAX_FAILURE_DETAILS);
    }

    #[test]
    fn reports_go_only_to_a_few_mail_addresses_the_record_names() {
        let rua = [
            "mailto:tls@reports.example",
            "https://reports.example/tlsrpt",
            "mailto:tls@reports.example",
            "mailto:other@reports.example!10m",
            "mailto:not an address",
            "mailto:third@reports.example",
            "mailto:fourth@reports.example",
        ];
        assert_eq!(
            report_addresses(rua),
            vec![
                "tls@reports.example",
                "other@reports.example",
                "third@reports.example"
            ]
        );
    }

    #[test]
    fn the_policy_is_quoted_line_by_line() {
        assert_eq!(
            policy_lines(&policy()),
            vec![
                "version: STSv1",
                "mode: enforce",
                "mx: mx.strict.example",
                "max_age: 86400"
            ]
        );
        assert_eq!(
            ResultType::StsPolicyFetchError.as_str(),
            "sts-policy-fetch-error"
        );
    }
}
