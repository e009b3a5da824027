//! SMTP TLS reports (RFC 8460) of deliveries under MTA-STS policies: sessions are
//! counted in the core's [`Ledger`] as they happen; every `outbound.tls_reports.
//! interval_secs` each policy domain whose `_smtp._tls` record names `mailto:` addresses
//! gets one aggregate report (JSON, gzipped, in a multipart/report message written by
//! `mail-auth`), queued as the platform's own mail, signed with the platform key.

use crate::clock;
use crate::relay::Relay;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::mta_sts::{ReportUri, TlsRpt};
use mail_auth::report::tlsrpt::{
    DateRange, FailureDetails, Policy as ReportPolicy, PolicyDetails, PolicyType, ResultType,
    Summary, TlsReport,
};
use mail_parser::DateTime;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenantry_core::mail::Address;
use tenantry_core::mail::mta_sts::Policy;
use tenantry_core::mail::tls_report::{self, Ledger, Tally};
use tracing::{info, warn};

/// The period's counts.
pub struct TlsReports {
    ledger: Mutex<Ledger>,
    started_at: Mutex<i64>,
}

impl Default for TlsReports {
    fn default() -> Self {
        TlsReports {
            ledger: Mutex::default(),
            started_at: Mutex::new(clock::now_secs()),
        }
    }
}

impl TlsReports {
    /// A session to `domain` that met its policy.
    pub fn success(&self, domain: &str, policy: &Policy) {
        self.ledger.lock().expect("ledger").success(domain, policy);
    }

    /// A session, or an attempt, that did not.
    pub fn failure(
        &self,
        domain: &str,
        policy: Option<&Policy>,
        kind: tls_report::ResultType,
        mx: &str,
    ) {
        self.ledger
            .lock()
            .expect("ledger")
            .failure(domain, policy, kind, mx);
    }

    fn take(&self, now: i64) -> (i64, std::collections::BTreeMap<String, Tally>) {
        let mut started = self.started_at.lock().expect("period");
        let since = std::mem::replace(&mut *started, now);
        (since, self.ledger.lock().expect("ledger").take())
    }
}

/// What a failed TLS handshake under an enforced policy was, in RFC 8460's words.
pub fn classify(error: &mail_send::Error) -> tls_report::ResultType {
    use rustls::{CertificateError, Error as Tls};
    use tls_report::ResultType as Kind;
    let tls = match error {
        mail_send::Error::Tls(tls) => Some(tls.as_ref()),
        mail_send::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<Tls>()),
        _ => None,
    };
    match tls {
        Some(Tls::InvalidCertificate(CertificateError::NotValidForName))
        | Some(Tls::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
            Kind::CertificateHostMismatch
        }
        Some(Tls::InvalidCertificate(CertificateError::Expired))
        | Some(Tls::InvalidCertificate(CertificateError::ExpiredContext { .. })) => {
            Kind::CertificateExpired
        }
        Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            Kind::CertificateNotTrusted
        }
        _ => Kind::ValidationFailure,
    }
}

fn result_type(kind: tls_report::ResultType) -> ResultType {
    use tls_report::ResultType as Kind;
    match kind {
        Kind::StartTlsNotSupported => ResultType::StartTlsNotSupported,
        Kind::CertificateHostMismatch => ResultType::CertificateHostMismatch,
        Kind::CertificateExpired => ResultType::CertificateExpired,
        Kind::CertificateNotTrusted => ResultType::CertificateNotTrusted,
        Kind::ValidationFailure => ResultType::ValidationFailure,
        Kind::StsPolicyFetchError => ResultType::StsPolicyFetchError,
    }
}

/// The report of one domain's period.
fn report(
    relay: &Relay,
    domain: &str,
    tally: &Tally,
    since: i64,
    until: i64,
    organization: &str,
) -> TlsReport {
    let policy = match &tally.policy {
        Some(policy) => PolicyDetails {
            policy_type: PolicyType::Sts,
            policy_string: tls_report::policy_lines(policy),
            policy_domain: domain.to_string(),
            mx_host: policy.mx.clone(),
        },
        // A policy that could not be fetched was still announced by its record.
        None if tally
            .details
            .keys()
            .any(|(kind, _)| *kind == tls_report::ResultType::StsPolicyFetchError) =>
        {
            PolicyDetails::new(PolicyType::Sts, domain)
        }
        None => PolicyDetails::new(PolicyType::NoPolicyFound, domain),
    };
    let failure_details = tally
        .details
        .iter()
        .map(|((kind, mx), count)| FailureDetails {
            result_type: result_type(*kind),
            receiving_mx_hostname: (!mx.is_empty()).then(|| mx.clone()),
            failed_session_count: *count,
            ..FailureDetails::default()
        })
        .collect();
    TlsReport {
        organization_name: Some(organization.to_string()),
        date_range: DateRange {
            start_datetime: DateTime::from_timestamp(since),
            end_datetime: DateTime::from_timestamp(until),
        },
        contact_info: relay.config.outbound.tls_reports.from.clone(),
        report_id: format!(
            "{since}.{}@{}",
            crate::ids::random_id(),
            relay.config.hostname
        ),
        policies: vec![ReportPolicy {
            policy,
            summary: Summary {
                total_success: tally.successes,
                total_failure: tally.failures,
            },
            failure_details,
        }],
    }
}

/// Where `domain` asks for its reports: the `mailto:` addresses of its `_smtp._tls`.
async fn recipients(relay: &Relay, domain: &str) -> Vec<String> {
    let Ok(records) = relay.router.txt(&format!("_smtp._tls.{domain}")).await else {
        return Vec::new();
    };
    let uris: Vec<String> = records
        .iter()
        .filter(|r| r.starts_with("v=TLSRPTv1"))
        .filter_map(|r| TlsRpt::parse(r.as_bytes()).ok())
        .flat_map(|record| record.rua)
        .filter_map(|uri| match uri {
            ReportUri::Mail(address) => Some(format!("mailto:{address}")),
            ReportUri::Http(_) => None,
        })
        .collect();
    tls_report::report_addresses(uris.iter().map(String::as_str))
}

/// Sends the reports of the period that ends now; the number queued.
pub async fn send_once(relay: &Arc<Relay>) -> anyhow::Result<usize> {
    let settings = &relay.config.outbound.tls_reports;
    let Some(from) = settings.from.as_deref() else {
        return Ok(0);
    };
    let from = Address::parse(from)
        .map_err(|_| anyhow::anyhow!("outbound.tls_reports.from is not a mail address"))?;
    let now = clock::now_secs();
    let (since, period) = relay.tls_reports.take(now);
    let mut queued = 0;
    for (domain, tally) in &period {
        let to = recipients(relay, domain).await;
        if to.is_empty() {
            continue;
        }
        let report = report(relay, domain, tally, since, now, &settings.organization);
        let message = report.to_rfc5322(
            domain,
            &relay.config.hostname,
            (settings.organization.as_str(), from.as_str()),
            to.iter().map(String::as_str),
        )?;
        for address in &to {
            let Ok(recipient) = Address::parse(address) else {
                continue;
            };
            match crate::outbox::queue_platform_mail(
                relay,
                &report.report_id,
                &recipient,
                message.as_bytes(),
                now,
            )
            .await
            {
                Ok(id) => {
                    queued += 1;
                    info!(%domain, %id, recipient = %address, report_id = %report.report_id, "TLS report queued");
                }
                Err(error) => {
                    warn!(%domain, recipient = %address, %error, "TLS report not queued")
                }
            }
        }
    }
    Ok(queued)
}

/// Sends the period's reports every `outbound.tls_reports.interval_secs`.
pub fn spawn(relay: Arc<Relay>) {
    if relay.config.outbound.tls_reports.from.is_none() {
        return;
    }
    let every = Duration::from_secs(relay.config.outbound.tls_reports.interval_secs.max(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(error) = send_once(&relay).await {
                warn!(error = format!("{error:#}"), "TLS reports not sent");
            }
        }
    });
}
