//! The MX's checks of a message from outside: SPF of the HELO name and of `MAIL FROM`,
//! every DKIM signature, the ARC chain and DMARC of the `From:` domain, by Stalwart's
//! `mail-auth` over the relay's resolver. The verdict goes to the core, which decides
//! where the message goes and writes the relay's one `Authentication-Results`.

use crate::outbound::{answered_no_record, no_such_record};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hickory_resolver::TokioResolver;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcOutput, DmarcResult, MessageAuthenticator, SpfResult,
};
use std::net::IpAddr;
use tenantry_core::mail::Reply;
use tenantry_core::mail::authentication::{
    Check, Dmarc, DmarcPolicy, Results, SignatureResult, Verdict, single_author_domain,
};
use tenantry_core::mail::relay_fields::well_formed_header;

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
        // An address literal or a name no DNS could hold is not looked up: no outage of
        // it can be told.
        let name = name.to_ascii_lowercase();
        if tenantry_core::tenant::Hostname::parse(name.trim_start_matches("_dmarc.")).is_err() {
            return false;
        }
        match self.checks.resolver().txt_lookup(format!("{name}.")).await {
            Ok(_) => false,
            Err(error) => !answered_no_record(&error),
        }
    }

    /// Runs every check on `message` as it arrived in `envelope`; or the reply that
    /// refuses a message whose header would read one way to DMARC and another to its
    /// reader (a line that is no field, two `From:` fields, several author domains).
    pub async fn check(&self, envelope: &Envelope<'_>, message: &[u8]) -> Result<Checked, Reply> {
        well_formed_header(message)?;
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
        let envelope_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let parsed = AuthenticatedMessage::parse(message);
        let (dkim, arc, dmarc) = match &parsed {
            Some(parsed) => {
                let domains: Vec<&str> = parsed
                    .from
                    .iter()
                    .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d))
                    .collect();
                single_author_domain(&domains)?;
                let dkim = self.checks.verify_dkim(parsed).await;
                let arc = self.checks.verify_arc(parsed).await;
                let dmarc = self
                    .checks
                    .verify_dmarc(
                        DmarcParameters::new(parsed, &dkim, envelope_domain, &spf)
                            .with_domain_suffix_fn(organizational_domain),
                    )
                    .await;
                let arc = check_of_dkim(arc.result());
                (dkim, arc, Some(dmarc))
            }
            None => (Vec::new(), Check::None, None),
        };
        let mut verdict = Verdict {
            spf: check_of_spf(spf.result()),
            dkim: dkim.iter().map(|d| check_of_dkim(d.result())).collect(),
            dmarc: dmarc.as_ref().map_or(Dmarc::None, dmarc_of),
        };
        let from_domain = dmarc.as_ref().map_or("", |d| d.domain());
        if verdict.spf == Check::None && self.unavailable(envelope_domain).await {
            verdict.spf = Check::TempError;
        }
        if verdict.dmarc == Dmarc::None && !from_domain.is_empty() {
            let organizational = organizational_domain(from_domain);
            if self.unavailable(&format!("_dmarc.{from_domain}")).await
                || (organizational != from_domain
                    && self.unavailable(&format!("_dmarc.{organizational}")).await)
            {
                verdict.dmarc = Dmarc::TempError;
            }
        }
        let signatures: Vec<SignatureResult> = dkim
            .iter()
            .zip(&verdict.dkim)
            .map(|(output, check)| {
                let signature = output.signature();
                SignatureResult {
                    check: *check,
                    domain: signature.map(|s| s.d.clone()).unwrap_or_default(),
                    selector: signature.map(|s| s.s.clone()).unwrap_or_default(),
                    b_prefix: signature
                        .map(|s| BASE64.encode(&s.b[..s.b.len().min(6)]))
                        .unwrap_or_default(),
                }
            })
            .collect();
        let remote_ip = ip.to_string();
        let header = Results {
            authserv_id: host,
            remote_ip: &remote_ip,
            helo: (helo, check_of_spf(spf_helo.result())),
            mail_from: (mail_from, verdict.spf),
            dkim: &signatures,
            arc,
            dmarc: (verdict.dmarc, from_domain),
        }
        .field();
        Ok(Checked { verdict, header })
    }
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
