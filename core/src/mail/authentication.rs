//! What the MX does with a message once its sender is authenticated: the verdicts of
//! SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489), as the relay's `mail-auth`
//! found them, become a disposition (inbox, Junk, refused, deferred) under the
//! receiving domain's own handling of DMARC failures, and the relay's
//! `Authentication-Results` field (RFC 8601) says what was found, written here from
//! typed results so that no value a sender chose can shape it.
//!
//! | DMARC of the `From:` domain | handling `policy` (default) | `reject` | `quarantine` | `tag` |
//! |---|---|---|---|---|
//! | pass, none, permerror | inbox | inbox | inbox | inbox |
//! | fail, `p=reject` | `550 5.7.1` | `550 5.7.1` | Junk | inbox |
//! | fail, `p=quarantine` | Junk | `550 5.7.1` | Junk | inbox |
//! | fail, `p=none` | inbox | `550 5.7.1` | Junk | inbox |
//! | temperror, or fail while a check it rests on had a temperror | `451 4.7.0` | `451 4.7.0` | `451 4.7.0` | inbox |

use super::policy::Reply;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The outcome of one SPF or DKIM check, in RFC 8601's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Authenticated.
    Pass,
    /// Not authenticated: the domain says so.
    Fail,
    /// SPF `~all`.
    SoftFail,
    /// SPF `?all`, or a DKIM signature that could not be checked for a policy reason.
    Neutral,
    /// Nothing to check (no record, no signature).
    None,
    /// DNS failed for now: the answer may differ later.
    TempError,
    /// The record or signature is broken.
    PermError,
}

/// The policy a `From:` domain publishes for mail that fails DMARC (`p=` or `sp=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcPolicy {
    /// `p=none`: monitor only.
    None,
    /// `p=quarantine`: treat as suspicious.
    Quarantine,
    /// `p=reject`: refuse.
    Reject,
}

/// DMARC's verdict on the `From:` domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dmarc {
    /// An aligned SPF or DKIM pass.
    Pass,
    /// A record, and no aligned pass.
    Fail(DmarcPolicy),
    /// No record (or no single `From:` domain to look one up for).
    None,
    /// The record could not be looked up for now.
    TempError,
    /// The record does not parse.
    PermError,
}

impl Dmarc {
    /// The RFC 8601 result name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dmarc::Pass => "pass",
            Dmarc::Fail(_) => "fail",
            Dmarc::None => "none",
            Dmarc::TempError => "temperror",
            Dmarc::PermError => "permerror",
        }
    }
}

impl DmarcPolicy {
    /// The `p=` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

impl Check {
    /// The RFC 8601 result name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Check::Pass => "pass",
            Check::Fail => "fail",
            Check::SoftFail => "softfail",
            Check::Neutral => "neutral",
            Check::None => "none",
            Check::TempError => "temperror",
            Check::PermError => "permerror",
        }
    }
}

/// One DKIM signature's outcome as the field reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureResult {
    /// Its check.
    pub check: Check,
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// The first characters of `b=` (base64), telling signatures of one domain apart.
    pub b_prefix: String,
}

/// Everything the relay's `Authentication-Results` field says of a message from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results<'a> {
    /// The relay's hostname.
    pub authserv_id: &'a str,
    /// The client's address.
    pub remote_ip: &'a str,
    /// The EHLO name and its SPF check.
    pub helo: (&'a str, Check),
    /// MAIL FROM (empty for a bounce) and its SPF check.
    pub mail_from: (&'a str, Check),
    /// Every DKIM signature.
    pub dkim: &'a [SignatureResult],
    /// The ARC chain.
    pub arc: Check,
    /// DMARC and the `From:` domain it was evaluated for.
    pub dmarc: (Dmarc, &'a str),
}

/// A value a sender chose, written into a trace field (this one, `Received:`): only what
/// a domain, an address or an address literal is made of, so that nothing (an EHLO name,
/// a DKIM tag, an address) can end the field, start another method's result or fold a
/// line.
pub fn pvalue(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".-_@+[]:".contains(*c))
        .take(255)
        .collect()
}

impl Results<'_> {
    /// `Authentication-Results: ...\r\n` (RFC 8601), one method per folded line.
    pub fn field(&self) -> String {
        let mut field = format!("Authentication-Results: {}", pvalue(self.authserv_id));
        let mut method = |text: String| {
            field.push_str(";\r\n\t");
            field.push_str(&text);
        };
        let helo = pvalue(self.helo.0);
        method(format!("spf={} smtp.helo={helo}", self.helo.1.as_str()));
        let mail_from = match self.mail_from.0 {
            "" => String::from("<>"),
            address => pvalue(address),
        };
        method(format!(
            "spf={} smtp.mailfrom={mail_from}",
            self.mail_from.1.as_str()
        ));
        if self.dkim.is_empty() {
            method(String::from("dkim=none"));
        }
        for signature in self.dkim {
            method(format!(
                "dkim={} header.d={} header.s={} header.b={}",
                signature.check.as_str(),
                pvalue(&signature.domain),
                pvalue(&signature.selector),
                pvalue(&signature.b_prefix),
            ));
        }
        method(format!(
            "arc={} smtp.remote-ip={}",
            self.arc.as_str(),
            pvalue(self.remote_ip)
        ));
        let (dmarc, from_domain) = self.dmarc;
        let mut clause = format!("dmarc={}", dmarc.as_str());
        let domain = pvalue(from_domain);
        if !domain.is_empty() {
            clause.push_str(&format!(" header.from={domain}"));
        }
        if let Dmarc::Fail(policy) = dmarc {
            clause.push_str(&format!(" policy.dmarc={}", policy.as_str()));
        }
        method(clause);
        field.push_str("\r\n");
        field
    }
}

/// Why a message from outside is refused before its checks: it could read one way to
/// DMARC and another to its reader.
pub fn single_author_domain(from_domains: &[&str]) -> Result<(), Reply> {
    let first = from_domains.first().map(|d| d.to_ascii_lowercase());
    if from_domains
        .iter()
        .any(|d| Some(d.to_ascii_lowercase()) != first)
    {
        return Err(replies::SEVERAL_AUTHOR_DOMAINS);
    }
    Ok(())
}

/// The `Authentication-Results` field of submitted mail: the relay signed the mailbox in
/// itself, so it needs no DNS to vouch for it.
pub fn submitted_results(authserv_id: &str, mailbox: &str) -> String {
    format!("Authentication-Results: {authserv_id};\r\n\tauth=pass smtp.auth={mailbox}\r\n")
}

/// How a hosted domain treats mail that fails DMARC: as the sender's domain asks
/// (`policy`), or always one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DmarcHandling {
    /// The `From:` domain's `p=` decides.
    #[default]
    Policy,
    /// Every DMARC failure is refused.
    Reject,
    /// Every DMARC failure goes to Junk, even under `p=reject`.
    Quarantine,
    /// Delivered to the inbox, the verdict only in `Authentication-Results`.
    Tag,
}

impl DmarcHandling {
    /// Parses the API's name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "policy" => Some(DmarcHandling::Policy),
            "reject" => Some(DmarcHandling::Reject),
            "quarantine" => Some(DmarcHandling::Quarantine),
            "tag" => Some(DmarcHandling::Tag),
            _ => None,
        }
    }

    /// The API's and the registry's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DmarcHandling::Policy => "policy",
            DmarcHandling::Reject => "reject",
            DmarcHandling::Quarantine => "quarantine",
            DmarcHandling::Tag => "tag",
        }
    }
}

/// What the checks of one message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// SPF of the `MAIL FROM` identity (or of the HELO name for a null sender).
    pub spf: Check,
    /// Every DKIM signature's result, in header order.
    pub dkim: Vec<Check>,
    /// DMARC of the `From:` domain.
    pub dmarc: Dmarc,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The mailbox's inbox.
    Inbox,
    /// The mailbox's `Junk` folder.
    Junk,
    /// Refused at the end of DATA.
    Refuse(Reply),
    /// Deferred at the end of DATA: the sender retries.
    Defer(Reply),
}

impl Disposition {
    /// How strict it is: inbox, Junk, refused, deferred (a retry may change the verdict,
    /// so it outranks a refusal).
    const fn rank(self) -> u8 {
        match self {
            Disposition::Inbox => 0,
            Disposition::Junk => 1,
            Disposition::Refuse(_) => 2,
            Disposition::Defer(_) => 3,
        }
    }

    /// The stricter of two decisions on one copy (DMARC's and the spam score's).
    pub fn stricter(self, other: Disposition) -> Disposition {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// The replies of inbound authentication.
pub mod replies {
    use super::Reply;

    /// A DMARC failure the policy refuses.
    pub const DMARC_REJECTED: Reply = Reply::new(
        550,
        "5.7.1",
        "Refused: the message fails the DMARC policy of its From: domain",
    );
    /// `From:` names addresses of more than one domain (DMARC cannot be evaluated).
    pub const SEVERAL_AUTHOR_DOMAINS: Reply = Reply::new(
        550,
        "5.7.1",
        "Refused: the From: field names addresses of more than one domain",
    );
    /// DNS failed for a check the verdict rests on.
    pub const AUTHENTICATION_UNAVAILABLE: Reply = Reply::new(
        451,
        "4.7.0",
        "Cannot authenticate the sender now (DNS), try again later",
    );
}

impl Verdict {
    /// Whether a check the DMARC verdict rests on failed for now: a pass might have
    /// been found with DNS answering.
    fn rests_on_temporary_error(&self) -> bool {
        self.spf == Check::TempError || self.dkim.contains(&Check::TempError)
    }

    /// Where the message goes for a domain with `handling`.
    pub fn disposition(&self, handling: DmarcHandling) -> Disposition {
        if handling == DmarcHandling::Tag {
            return Disposition::Inbox;
        }
        let policy = match self.dmarc {
            Dmarc::Pass | Dmarc::None | Dmarc::PermError => return Disposition::Inbox,
            Dmarc::TempError => {
                return Disposition::Defer(replies::AUTHENTICATION_UNAVAILABLE);
            }
            Dmarc::Fail(policy) => policy,
        };
        let failure = match (handling, policy) {
            (DmarcHandling::Reject, _) | (DmarcHandling::Policy, DmarcPolicy::Reject) => {
                Disposition::Refuse(replies::DMARC_REJECTED)
            }
            (DmarcHandling::Quarantine, _) | (DmarcHandling::Policy, DmarcPolicy::Quarantine) => {
                Disposition::Junk
            }
            (DmarcHandling::Policy, DmarcPolicy::None) => return Disposition::Inbox,
            (DmarcHandling::Tag, _) => return Disposition::Inbox,
        };
        if self.rests_on_temporary_error() {
            return Disposition::Defer(replies::AUTHENTICATION_UNAVAILABLE);
        }
        failure
    }
}

/// One reply for a message whose recipients' domains decided differently: deferred if
/// any defers (the sender retries for all), refused only if every one refuses, and
/// otherwise delivered, to Junk where a domain would have refused it.
pub fn settle(dispositions: &[Disposition]) -> Option<Disposition> {
    if let Some(defer) = dispositions
        .iter()
        .find(|d| matches!(d, Disposition::Defer(_)))
    {
        return Some(*defer);
    }
    let first = dispositions.first()?;
    if dispositions
        .iter()
        .all(|d| matches!(d, Disposition::Refuse(_)))
    {
        return Some(*first);
    }
    None
}

/// Where one recipient's copy goes once [`settle`] let the message in.
pub fn folder(disposition: Disposition) -> Disposition {
    match disposition {
        Disposition::Refuse(_) | Disposition::Junk => Disposition::Junk,
        other => other,
    }
}

#[cfg(test)]
mod tests;
