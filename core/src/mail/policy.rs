//! The recipient policy: what the relay answers to each `RCPT TO`.
//!
//! | case | reply |
//! |---|---|
//! | too many recipients | `452 4.5.3` |
//! | malformed address | `501 5.1.3` |
//! | replica too old or absent | `451 4.3.0` |
//! | domain not hosted (never an open relay) | `550 5.7.1` |
//! | domain suspended | `550 5.7.1` |
//! | domain lapsed (its proof is missing) | `451 4.7.0` |
//! | mailbox unknown | `550 5.1.1` |
//! | mailbox disabled | `550 5.2.1` |
//! | domain or mailbox over quota | `452 4.2.2` |
//! | message over SIZE | `552 5.3.4` |

use super::address::Address;
use super::directory::{Directory, DomainStatus, MailboxStatus};
use crate::limits::Limit;
use alloc::string::String;
use alloc::vec::Vec;

/// An SMTP reply with its RFC 3463 enhanced status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Basic code (RFC 5321).
    pub code: u16,
    /// Enhanced status code (RFC 3463), e.g. `5.7.1`.
    pub enhanced: &'static str,
    /// Human-readable text.
    pub text: &'static str,
}

impl Reply {
    /// A reply with its code, enhanced code and text.
    pub const fn new(code: u16, enhanced: &'static str, text: &'static str) -> Self {
        Reply {
            code,
            enhanced,
            text,
        }
    }

    /// Whether it is a permanent (5xx) reply.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

impl core::fmt::Display for Reply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}

/// Every reply of the policy, named so the relay and tests share them.
pub mod replies {
    use super::Reply;

    const fn reply(code: u16, enhanced: &'static str, text: &'static str) -> Reply {
        Reply {
            code,
            enhanced,
            text,
        }
    }

    /// Recipient accepted.
    pub const ACCEPTED: Reply = reply(250, "2.1.5", "Recipient OK");
    /// Too many recipients in this transaction.
    pub const TOO_MANY_RECIPIENTS: Reply = reply(452, "4.5.3", "Too many recipients");
    /// The address does not parse.
    pub const BAD_ADDRESS: Reply = reply(501, "5.1.3", "Bad recipient address syntax");
    /// The replica is too old or missing.
    pub const DIRECTORY_UNAVAILABLE: Reply = reply(
        451,
        "4.3.0",
        "Directory temporarily unavailable, try again later",
    );
    /// Not a hosted domain.
    pub const RELAY_DENIED: Reply = reply(550, "5.7.1", "Relaying denied");
    /// Hosted, suspended.
    pub const DOMAIN_SUSPENDED: Reply = reply(550, "5.7.1", "Domain suspended");
    /// Hosted, but its proof lapsed: kept until the proof is back, never delivered
    /// elsewhere.
    pub const DOMAIN_UNPROVEN: Reply = reply(
        451,
        "4.7.0",
        "Domain ownership not confirmed, try again later",
    );
    /// No such mailbox.
    pub const UNKNOWN_MAILBOX: Reply = reply(550, "5.1.1", "Mailbox unknown");
    /// Mailbox disabled.
    pub const MAILBOX_DISABLED: Reply = reply(550, "5.2.1", "Mailbox disabled");
    /// Over a storage quota.
    pub const OVER_QUOTA: Reply = reply(452, "4.2.2", "Mailbox or domain over quota");
    /// Message larger than SIZE.
    pub const MESSAGE_TOO_BIG: Reply = reply(552, "5.3.4", "Message size exceeds fixed maximum");
    /// A DATA line ended in a bare LF.
    pub const BARE_LF: Reply = reply(554, "5.6.0", "Message contains bare LF line endings");
}

/// The answer to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptDecision {
    /// Accepted: deliver to these mailboxes (several for an alias).
    Accept {
        /// The recipient as given, normalised.
        recipient: String,
        /// The owning tenant.
        tenant_id: String,
        /// Mailbox addresses to deliver into.
        mailboxes: Vec<String>,
    },
    /// Refused for now (4xx).
    Defer(Reply),
    /// Refused (5xx).
    Reject(Reply),
}

impl RcptDecision {
    /// The SMTP reply to send.
    pub fn reply(&self) -> Reply {
        match self {
            RcptDecision::Accept { .. } => replies::ACCEPTED,
            RcptDecision::Defer(reply) | RcptDecision::Reject(reply) => *reply,
        }
    }

    fn refuse(reply: Reply) -> Self {
        if reply.is_permanent() {
            RcptDecision::Reject(reply)
        } else {
            RcptDecision::Defer(reply)
        }
    }
}

/// Storage already used, as the relay counts it.
pub trait StorageUsage {
    /// Bytes stored in all mailboxes of a domain.
    fn domain_bytes(&self, domain: &str) -> u64;
    /// Bytes stored in one mailbox.
    fn mailbox_bytes(&self, address: &str) -> u64;
}

/// The facts about the transaction a recipient arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RcptContext {
    /// Recipients already accepted in this transaction.
    pub accepted: usize,
    /// Age of the replica in seconds; `None` when there is none.
    pub replica_age_secs: Option<u64>,
    /// The size announced with `MAIL FROM ... SIZE=`, or 0.
    pub declared_size: u64,
}

/// The relay's recipient policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientPolicy {
    /// Recipients per transaction (RFC 5321 requires accepting at least 100).
    pub max_recipients: usize,
    /// How old the replica may be before recipients are deferred.
    pub max_replica_age_secs: u64,
    /// The SIZE advertised in EHLO.
    pub max_message_bytes: u64,
}

impl Default for RecipientPolicy {
    fn default() -> Self {
        RecipientPolicy {
            max_recipients: 100,
            max_replica_age_secs: 3_600,
            max_message_bytes: 25 * 1024 * 1024,
        }
    }
}

const MB: u64 = 1024 * 1024;

fn fits(limit: Limit, used: u64, adding: u64) -> bool {
    match limit {
        Limit::Unlimited => true,
        Limit::Max(mb) => used
            .checked_add(adding)
            .is_some_and(|total| total <= mb.saturating_mul(MB)),
    }
}

impl RecipientPolicy {
    /// Checks a message size (declared or actual) against SIZE.
    pub fn check_size(&self, bytes: u64) -> Result<(), Reply> {
        if bytes > self.max_message_bytes {
            Err(replies::MESSAGE_TOO_BIG)
        } else {
            Ok(())
        }
    }

    /// Decides one `RCPT TO` path.
    pub fn decide(
        &self,
        directory: &Directory,
        path: &str,
        context: RcptContext,
        usage: &impl StorageUsage,
    ) -> RcptDecision {
        if context.accepted >= self.max_recipients {
            return RcptDecision::refuse(replies::TOO_MANY_RECIPIENTS);
        }
        let Ok(recipient) = Address::parse_path(path) else {
            return RcptDecision::refuse(replies::BAD_ADDRESS);
        };
        match context.replica_age_secs {
            Some(age) if age <= self.max_replica_age_secs => {}
            _ => return RcptDecision::refuse(replies::DIRECTORY_UNAVAILABLE),
        }
        let Some(domain) = directory.domain(recipient.domain()) else {
            return RcptDecision::refuse(replies::RELAY_DENIED);
        };
        match domain.status {
            DomainStatus::Active => {}
            DomainStatus::Suspended => return RcptDecision::refuse(replies::DOMAIN_SUSPENDED),
            DomainStatus::Lapsed => return RcptDecision::refuse(replies::DOMAIN_UNPROVEN),
        }
        let targets: Vec<String> = if directory.mailbox(recipient.as_str()).is_some() {
            alloc::vec![String::from(recipient.as_str())]
        } else if let Some(alias) = directory.alias(recipient.as_str()) {
            alias.targets.clone()
        } else if let Some(base) = recipient
            .without_subaddress()
            .filter(|base| directory.mailbox(base.as_str()).is_some())
        {
            alloc::vec![String::from(base.as_str())]
        } else {
            return RcptDecision::refuse(replies::UNKNOWN_MAILBOX);
        };
        let size = context.declared_size;
        for target in &targets {
            // An alias may point at a removed mailbox: that is an unknown mailbox too.
            let Some(mailbox) = directory.mailbox(target) else {
                return RcptDecision::refuse(replies::UNKNOWN_MAILBOX);
            };
            if mailbox.status == MailboxStatus::Disabled {
                return RcptDecision::refuse(replies::MAILBOX_DISABLED);
            }
            let target_domain = target.rsplit_once('@').map_or("", |(_, d)| d);
            let domain_limit = directory
                .domain(target_domain)
                .map_or(Limit::Max(0), |d| d.max_storage_mb);
            if !fits(mailbox.quota_mb, usage.mailbox_bytes(target), size)
                || !fits(domain_limit, usage.domain_bytes(target_domain), size)
            {
                return RcptDecision::refuse(replies::OVER_QUOTA);
            }
        }
        RcptDecision::Accept {
            recipient: String::from(recipient.as_str()),
            tenant_id: domain.tenant_id.clone(),
            mailboxes: targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::directory::tests::{domain, mailbox};
    use super::super::directory::{AliasEntry, DirectoryDelta};
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Default)]
    struct Usage(BTreeMap<String, u64>);

    impl StorageUsage for Usage {
        fn domain_bytes(&self, domain: &str) -> u64 {
            self.0.get(domain).copied().unwrap_or(0)
        }
        fn mailbox_bytes(&self, address: &str) -> u64 {
            self.0.get(address).copied().unwrap_or(0)
        }
    }

    fn directory() -> Directory {
        let mut suspended = domain("clinique-lyon.example", 1);
        suspended.status = DomainStatus::Suspended;
        suspended.tenant_id = "t_lyon".into();
        let mut lapsed = domain("lapsed.example", 1);
        lapsed.status = DomainStatus::Lapsed;
        let mut disabled = mailbox("former@hopital-paris.example", 1);
        disabled.status = MailboxStatus::Disabled;
        let mut small = mailbox("small@hopital-paris.example", 1);
        small.quota_mb = Limit::Max(1);
        let mut dir = Directory::default();
        dir.apply(DirectoryDelta {
            version: 1,
            full: true,
            domains: alloc::vec![domain("hopital-paris.example", 1), suspended, lapsed],
            mailboxes: alloc::vec![
                mailbox("dr.martin@hopital-paris.example", 1),
                mailbox("accueil@hopital-paris.example", 1),
                mailbox("x@clinique-lyon.example", 1),
                mailbox("kept@lapsed.example", 1),
                disabled,
                small,
            ],
            aliases: alloc::vec![
                AliasEntry {
                    tenant_id: "t_paris".into(),
                    address: "urgences@hopital-paris.example".into(),
                    targets: alloc::vec![
                        "dr.martin@hopital-paris.example".into(),
                        "accueil@hopital-paris.example".into()
                    ],
                    version: 1,
                    deleted: false,
                },
                AliasEntry {
                    tenant_id: "t_paris".into(),
                    address: "dangling@hopital-paris.example".into(),
                    targets: alloc::vec!["removed@hopital-paris.example".into()],
                    version: 1,
                    deleted: false,
                },
            ],
            credentials: alloc::vec![],
            dkim: alloc::vec![],
            certificates: alloc::vec![],
        })
        .unwrap();
        dir
    }

    const FRESH: RcptContext = RcptContext {
        accepted: 0,
        replica_age_secs: Some(5),
        declared_size: 0,
    };

    fn reply_for(path: &str, context: RcptContext, usage: &Usage) -> Reply {
        RecipientPolicy::default()
            .decide(&directory(), path, context, usage)
            .reply()
    }

    #[test]
    fn smtp_table_of_the_api_contract() {
        let none = Usage::default();
        let table: &[(&str, RcptContext, (u16, &str))] = &[
            ("<Dr.Martin@Hopital-Paris.example>", FRESH, (250, "2.1.5")),
            (
                "<dr.martin+labo@hopital-paris.example>",
                FRESH,
                (250, "2.1.5"),
            ),
            ("<urgences@hopital-paris.example>", FRESH, (250, "2.1.5")),
            ("<someone@gmail.example>", FRESH, (550, "5.7.1")),
            ("<x@clinique-lyon.example>", FRESH, (550, "5.7.1")),
            // A lapsed domain's mail waits for the proof: deferred, never refused or
            // delivered.
            ("<kept@lapsed.example>", FRESH, (451, "4.7.0")),
            ("<nobody@lapsed.example>", FRESH, (451, "4.7.0")),
            ("<nobody@hopital-paris.example>", FRESH, (550, "5.1.1")),
            ("<dangling@hopital-paris.example>", FRESH, (550, "5.1.1")),
            ("<former@hopital-paris.example>", FRESH, (550, "5.2.1")),
            ("<not an address>", FRESH, (501, "5.1.3")),
            (
                "<dr.martin@hopital-paris.example>",
                RcptContext {
                    replica_age_secs: Some(3_601),
                    ..FRESH
                },
                (451, "4.3.0"),
            ),
            (
                "<dr.martin@hopital-paris.example>",
                RcptContext {
                    replica_age_secs: None,
                    ..FRESH
                },
                (451, "4.3.0"),
            ),
            (
                "<someone@gmail.example>",
                RcptContext {
                    replica_age_secs: None,
                    ..FRESH
                },
                (451, "4.3.0"),
            ),
            (
                "<dr.martin@hopital-paris.example>",
                RcptContext {
                    accepted: 100,
                    ..FRESH
                },
                (452, "4.5.3"),
            ),
            (
                "<small@hopital-paris.example>",
                RcptContext {
                    declared_size: 2 * MB,
                    ..FRESH
                },
                (452, "4.2.2"),
            ),
        ];
        for (path, context, (code, enhanced)) in table {
            let reply = reply_for(path, *context, &none);
            assert_eq!(
                (reply.code, reply.enhanced),
                (*code, *enhanced),
                "{path} {context:?}"
            );
        }
    }

    #[test]
    fn domain_quota_counts_stored_bytes() {
        let mut usage = Usage::default();
        usage.0.insert("hopital-paris.example".into(), MB);
        let reply = reply_for(
            "<accueil@hopital-paris.example>",
            RcptContext {
                declared_size: 1,
                ..FRESH
            },
            &usage,
        );
        assert_eq!(reply, replies::OVER_QUOTA);
        assert_eq!(
            reply_for("<accueil@hopital-paris.example>", FRESH, &usage),
            replies::ACCEPTED
        );
    }

    #[test]
    fn alias_expands_and_names_the_tenant() {
        let decision = RecipientPolicy::default().decide(
            &directory(),
            "<urgences@hopital-paris.example>",
            FRESH,
            &Usage::default(),
        );
        let RcptDecision::Accept {
            tenant_id,
            mailboxes,
            ..
        } = decision
        else {
            panic!("{decision:?}")
        };
        assert_eq!(tenant_id, "t_paris");
        assert_eq!(mailboxes.len(), 2);
    }

    #[test]
    fn size_check() {
        let policy = RecipientPolicy {
            max_message_bytes: 1000,
            ..Default::default()
        };
        assert_eq!(policy.check_size(1000), Ok(()));
        assert_eq!(policy.check_size(1001), Err(replies::MESSAGE_TOO_BIG));
        assert_eq!(
            replies::MESSAGE_TOO_BIG.to_string(),
            "552 5.3.4 Message size exceeds fixed maximum"
        );
    }

    proptest! {
        /// Whatever the recipient, a domain that is not hosted is never accepted.
        #[test]
        fn never_an_open_relay(local in "[a-z0-9.+-]{1,20}", domain in "[a-z0-9-]{1,20}\\.[a-z]{2,8}") {
            prop_assume!(!["hopital-paris.example", "clinique-lyon.example", "lapsed.example"].contains(&domain.as_str()));
            let path = alloc::format!("<{local}@{domain}>");
            let decision = RecipientPolicy::default().decide(&directory(), &path, FRESH, &Usage::default());
            let accepted = matches!(decision, RcptDecision::Accept { .. });
            prop_assert!(!accepted, "accepted {}", path);
        }

        #[test]
        fn decide_never_panics(path in "\\PC{0,80}") {
            let _ = RecipientPolicy::default().decide(&directory(), &path, FRESH, &Usage::default());
        }
    }
}
