//! The MX's checks of a message from outside: SPF of the HELO name and of `MAIL FROM`,
//! every DKIM signature, the ARC chain and DMARC of the `From:` domain, by Stalwart's
//! `mail-auth` over the relay's resolver. The verdict goes to the core, which decides
//! where the message goes; the results go into the relay's one `Authentication-Results`.

use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{ResolveError, ResolveErrorKind, TokioResolver};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, SpfResult,
};
use std::net::IpAddr;
use tenantry_core::mail::authentication::{Check, Dmarc, DmarcPolicy, Verdict, dmarc_clause};

/// What the checks found, and the header field that says so.
pub struct Checked {
    /// For the core's decision.
    pub verdict: Verdict,
    /// `Authentication-Results: ...\r\n`, the relay's hostname as authserv-id.
    pub header: String,
}

/// The SMTP envelope of the message checked.
pub struct Envelope<'a> {
    /// The client's address.
    pub ip: IpAddr,
    /// Its EHLO name.
    pub helo: &'a str,
    /// `MAIL FROM`, empty for a bounce.
    pub mail_from: &'a str,
}

/// Checks messages with the relay's resolver (and so its cache).
pub struct SenderChecks {
    checks: MessageAuthenticator,
    hostname: String,
}

impl SenderChecks {
    /// Over `resolver`, writing results as `hostname`.
    pub fn new(resolver: TokioResolver, hostname: &str) -> Self {
        SenderChecks {
            checks: MessageAuthenticator(resolver),
            hostname: hostname.to_string(),
        }
    }

    /// Whether DNS failed for `name`'s TXT records (SERVFAIL, REFUSED, no answer in
    /// time). `mail-auth` reads an error response code as "no record", which would let
    /// a DNS outage pass as "no SPF" or "no DMARC policy"; asked only when it found none,
    /// and answered from the resolver's cache when it can.
    async fn unavailable(&self, name: &str) -> bool {
        match self.checks.resolver().txt_lookup(format!("{name}.")).await {
            Ok(_) => false,
            Err(error) => !answered_no_record(&error),
        }
    }

    /// Runs every check on `message` as it arrived in `envelope`.
    pub async fn check(&self, envelope: &Envelope<'_>, message: &[u8]) -> Checked {
        let Envelope {
            ip,
            helo,
            mail_from,
        } = *envelope;
        let host = self.hostname.as_str();
        let spf_helo = self
            .checks
            .verify_spf(SpfParameters::verify_ehlo(ip, helo, host))
            .await;
        // A bounce has no sender: its HELO name stands for it (RFC 7208 section 2.4).
        let spf = if mail_from.is_empty() {
            spf_helo.clone()
        } else {
            self.checks
                .verify_spf(SpfParameters::verify_mail_from(ip, helo, host, mail_from))
                .await
        };
        let results = AuthenticationResults::new(host)
            .with_spf_ehlo_result(&spf_helo, ip, helo)
            .with_spf_mailfrom_result(&spf, ip, mail_from, helo);
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            let verdict = Verdict {
                spf: check_of_spf(spf.result()),
                dkim: Vec::new(),
                dmarc: Dmarc::None,
            };
            let header = finish(results.to_header(), verdict.dmarc, "");
            return Checked { verdict, header };
        };
        let dkim = self.checks.verify_dkim(&parsed).await;
        let arc = self.checks.verify_arc(&parsed).await;
        let from = parsed.from.first().map(String::as_str).unwrap_or_default();
        let envelope_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let dmarc = self
            .checks
            .verify_dmarc(
                DmarcParameters::new(&parsed, &dkim, envelope_domain, &spf)
                    .with_domain_suffix_fn(organizational_domain),
            )
            .await;
        let mut verdict = Verdict {
            spf: check_of_spf(spf.result()),
            dkim: dkim.iter().map(|d| check_of_dkim(d.result())).collect(),
            dmarc: dmarc_of(&dmarc),
        };
        if verdict.spf == Check::None && self.unavailable(envelope_domain).await {
            verdict.spf = Check::TempError;
        }
        if verdict.dmarc == Dmarc::None && !dmarc.domain().is_empty() {
            let from_domain = dmarc.domain();
            let organizational = organizational_domain(from_domain);
            if self.unavailable(&format!("_dmarc.{from_domain}")).await
                || (organizational != from_domain
                    && self.unavailable(&format!("_dmarc.{organizational}")).await)
            {
                verdict.dmarc = Dmarc::TempError;
            }
        }
        let results = results
            .with_dkim_results(&dkim, from)
            .with_arc_result(&arc, ip);
        let header = finish(results.to_header(), verdict.dmarc, dmarc.domain());
        Checked { verdict, header }
    }
}

/// `mail-auth`'s header with the DMARC clause the core writes: its own writes
/// `dmarc=none` for a failure where nothing aligned passed, which is the forgery case.
fn finish(header: String, dmarc: Dmarc, from_domain: &str) -> String {
    let mut header = header.trim_end_matches("\r\n").to_string();
    header.push_str(&dmarc_clause(dmarc, from_domain));
    header.push_str("\r\n");
    header
}

/// The registrable domain (public suffix plus one label), for relaxed alignment.
fn organizational_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

fn check_of_spf(result: SpfResult) -> Check {
    match result {
        SpfResult::Pass => Check::Pass,
        SpfResult::Fail => Check::Fail,
        SpfResult::SoftFail => Check::SoftFail,
        SpfResult::Neutral => Check::Neutral,
        SpfResult::None => Check::None,
        SpfResult::TempError => Check::TempError,
        SpfResult::PermError => Check::PermError,
    }
}

/// Whether a failed lookup was the server saying the name or record does not exist.
fn answered_no_record(error: &ResolveError) -> bool {
    match error.kind() {
        ResolveErrorKind::Proto(proto) => match proto.kind() {
            ProtoErrorKind::NoRecordsFound { response_code, .. } => no_such_record(*response_code),
            _ => false,
        },
        _ => false,
    }
}

fn no_such_record(code: ResponseCode) -> bool {
    matches!(code, ResponseCode::NXDomain | ResponseCode::NoError)
}

fn check_of_dkim(result: &DkimResult) -> Check {
    match result {
        // A key whose lookup the server failed is not a broken key.
        DkimResult::PermError(mail_auth::Error::DnsRecordNotFound(code))
            if !no_such_record(*code) =>
        {
            Check::TempError
        }
        DkimResult::Pass => Check::Pass,
        DkimResult::Neutral(_) => Check::Neutral,
        DkimResult::Fail(_) => Check::Fail,
        DkimResult::PermError(_) => Check::PermError,
        DkimResult::TempError(_) => Check::TempError,
        DkimResult::None => Check::None,
    }
}

/// DMARC as the core sees it: `mail-auth` reports a record that could not be fetched
/// through both identifiers' results, and a failure as "no aligned pass" beside a record.
fn dmarc_of(output: &DmarcOutput) -> Dmarc {
    let results = [output.spf_result(), output.dkim_result()];
    if results.contains(&&DmarcResult::Pass) {
        return Dmarc::Pass;
    }
    if output.dmarc_record().is_none() {
        return if results
            .iter()
            .any(|r| matches!(r, DmarcResult::TempError(_)))
        {
            Dmarc::TempError
        } else if results
            .iter()
            .any(|r| matches!(r, DmarcResult::PermError(_)))
        {
            Dmarc::PermError
        } else {
            Dmarc::None
        };
    }
    Dmarc::Fail(match output.policy() {
        Policy::Reject => DmarcPolicy::Reject,
        Policy::Quarantine => DmarcPolicy::Quarantine,
        Policy::None | Policy::Unspecified => DmarcPolicy::None,
    })
}
