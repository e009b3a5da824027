//! The DNS records a hosted domain publishes for its mail to be delivered and trusted
//! (MX, SPF, DMARC, MTA-STS and TLS-RPT; its DKIM records come with its keys), and the
//! MTA-STS policy its `mta-sts.` host serves: all derived from the platform's relay
//! hostnames, so that every tenant's records say the same thing of the same relays.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How long senders may cache the policy (a week, RFC 8461's suggested order).
pub const POLICY_MAX_AGE: u64 = 604_800;

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// What it is for: `mx`, `spf`, `dmarc`, `mta-sts`, `tls-rpt`.
    pub purpose: &'static str,
    /// `MX` or `TXT`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The owner name.
    pub name: String,
    /// The record's data (for MX: preference and host).
    pub value: String,
}

/// Where the platform wants reports (`mailto:` addresses), each optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportAddresses<'a> {
    /// DMARC aggregate reports (`rua` of the DMARC record).
    pub dmarc: Option<&'a str>,
    /// SMTP TLS reports (`rua` of the `_smtp._tls` record).
    pub tls: Option<&'a str>,
}

/// The MTA-STS policy of every hosted domain: enforce, the relays as its MX hosts.
pub fn mta_sts_policy(relay_hostnames: &[&str]) -> String {
    let mut policy = String::from("version: STSv1\nmode: enforce\n");
    for host in relay_hostnames {
        policy.push_str(&format!("mx: {host}\n"));
    }
    policy.push_str(&format!("max_age: {POLICY_MAX_AGE}\n"));
    policy
}

/// The `id=` of the `_mta-sts` record: changes exactly when the policy does, so senders
/// fetch it again then (RFC 8461 section 3.1: 1 to 32 letters and digits).
pub fn mta_sts_id(policy: &str) -> String {
    crate::encoding::hex_encode(&Sha256::digest(policy.as_bytes())[..10])
}

/// The records `domain` publishes, in the order an operator adds them.
pub fn for_domain(domain: &str, relay_hostnames: &[&str], reports: ReportAddresses) -> Vec<Record> {
    let record = |purpose, kind, name: String, value: String| Record {
        purpose,
        kind,
        name,
        value,
    };
    let mut records: Vec<Record> = relay_hostnames
        .iter()
        .map(|host| record("mx", "MX", String::from(domain), format!("10 {host}.")))
        .collect();
    records.push(record(
        "spf",
        "TXT",
        String::from(domain),
        String::from("v=spf1 mx -all"),
    ));
    let mut dmarc = String::from("v=DMARC1; p=quarantine; adkim=r; aspf=r");
    if let Some(to) = reports.dmarc {
        dmarc.push_str(&format!("; rua=mailto:{to}"));
    }
    records.push(record("dmarc", "TXT", format!("_dmarc.{domain}"), dmarc));
    records.push(record(
        "mta-sts",
        "TXT",
        format!("_mta-sts.{domain}"),
        format!(
            "v=STSv1; id={}",
            mta_sts_id(&mta_sts_policy(relay_hostnames))
        ),
    ));
    if let Some(to) = reports.tls {
        records.push(record(
            "tls-rpt",
            "TXT",
            format!("_smtp._tls.{domain}"),
            format!("v=TLSRPTv1; rua=mailto:{to}"),
        ));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::mta_sts::{Mode, Policy};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const RELAYS: &[&str] = &["mx1.tenantry.example", "mx2.tenantry.example"];

    #[test]
    fn the_policy_enforces_the_relays_and_parses_as_senders_read_it() {
        let policy = mta_sts_policy(RELAYS);
        let parsed = Policy::parse(policy.as_bytes()).unwrap();
        assert_eq!(parsed.mode, Mode::Enforce);
        assert_eq!(parsed.max_age, POLICY_MAX_AGE);
        assert!(
            parsed.allows_mx("mx1.tenantry.example") && parsed.allows_mx("mx2.tenantry.example")
        );
        assert!(!parsed.allows_mx("mx3.tenantry.example"));
        let id = mta_sts_id(&policy);
        assert_eq!(id.len(), 20);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(
            id,
            mta_sts_id(&mta_sts_policy(&RELAYS[..1])),
            "a new relay list is a new id"
        );
    }

    #[test]
    fn every_record_of_a_domain() {
        let records = for_domain(
            "hopital.example",
            RELAYS,
            ReportAddresses {
                dmarc: Some("dmarc@tenantry.example"),
                tls: Some("tls@tenantry.example"),
            },
        );
        let shown: Vec<(&str, &str, &str, &str)> = records
            .iter()
            .map(|r| (r.purpose, r.kind, r.name.as_str(), r.value.as_str()))
            .collect();
        let id = mta_sts_id(&mta_sts_policy(RELAYS));
        let sts = format!("v=STSv1; id={id}");
        assert_eq!(
            shown,
            [
                ("mx", "MX", "hopital.example", "10 mx1.tenantry.example."),
                ("mx", "MX", "hopital.example", "10 mx2.tenantry.example."),
                ("spf", "TXT", "hopital.example", "v=spf1 mx -all"),
                (
                    "dmarc",
                    "TXT",
                    "_dmarc.hopital.example",
                    "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc@tenantry.example"
                ),
                ("mta-sts", "TXT", "_mta-sts.hopital.example", sts.as_str()),
                (
                    "tls-rpt",
                    "TXT",
                    "_smtp._tls.hopital.example",
                    "v=TLSRPTv1; rua=mailto:tls@tenantry.example"
                ),
            ]
        );
        let plain = for_domain("a.example", RELAYS, ReportAddresses::default());
        assert!(plain.iter().all(|r| r.purpose != "tls-rpt"));
        assert_eq!(
            plain.iter().find(|r| r.purpose == "dmarc").unwrap().value,
            "v=DMARC1; p=quarantine; adkim=r; aspf=r"
        );
    }
}
