//! Submission: who may sign in to send, as which addresses, and how much.
//!
//! | case | reply |
//! |---|---|
//! | AUTH before TLS | `538 5.7.11` |
//! | MAIL before AUTH | `530 5.7.0` |
//! | unknown mailbox, wrong or revoked password, suspended domain, disabled mailbox | `535 5.7.8` |
//! | too many failed AUTH | `454 4.7.0`, then the connection is closed |
//! | MAIL FROM, `From:` or `Sender:` not the mailbox or an alias of it | `553 5.7.1` |
//! | no `From:`, several, or several `Sender:` | `554 5.6.0` |
//! | more recipients than the plan allows per message | `452 4.5.3` |
//! | the tenant's messages per minute or per day spent | `451 4.7.1` |

use super::address::Address;
use super::directory::{CredentialEntry, Directory, DomainStatus, MailboxStatus, SendingLimits};
use super::policy::Reply;
use alloc::string::String;
use alloc::vec::Vec;

/// Every reply of submission, named so the relay and tests share them.
pub mod replies {
    use super::Reply;

    const fn reply(code: u16, enhanced: &'static str, text: &'static str) -> Reply {
        Reply {
            code,
            enhanced,
            text,
        }
    }

    /// AUTH succeeded.
    pub const AUTHENTICATED: Reply = reply(235, "2.7.0", "Authentication succeeded");
    /// AUTH offered on a connection without TLS.
    pub const ENCRYPTION_REQUIRED: Reply = reply(
        538,
        "5.7.11",
        "Encryption required for requested authentication mechanism",
    );
    /// A transaction before AUTH.
    pub const AUTH_REQUIRED: Reply = reply(530, "5.7.0", "Authentication required");
    /// Wrong credentials, or an account that may not send.
    pub const AUTH_FAILED: Reply = reply(535, "5.7.8", "Authentication credentials invalid");
    /// Too many failures from this client or for this account.
    pub const AUTH_THROTTLED: Reply = reply(
        454,
        "4.7.0",
        "Too many failed authentications, try again later",
    );
    /// An AUTH exchange the client cancelled or garbled.
    pub const AUTH_MALFORMED: Reply = reply(501, "5.5.2", "Malformed authentication exchange");
    /// A mechanism other than PLAIN or LOGIN.
    pub const AUTH_MECHANISM: Reply = reply(504, "5.5.4", "Unrecognized authentication type");
    /// AUTH twice.
    pub const ALREADY_AUTHENTICATED: Reply = reply(503, "5.5.1", "Already authenticated");
    /// MAIL FROM not owned by the signed-in mailbox.
    pub const SENDER_NOT_OWNED: Reply = reply(
        553,
        "5.7.1",
        "Sender address not owned by the authenticated mailbox",
    );
    /// The `From:` header not owned by the signed-in mailbox (or missing).
    pub const HEADER_FROM_NOT_OWNED: Reply = reply(
        553,
        "5.7.1",
        "From: header address not owned by the authenticated mailbox",
    );
    /// No `From:`, several, or several `Sender:` fields.
    pub const ORIGINATOR_FIELDS: Reply = reply(
        554,
        "5.6.0",
        "Exactly one From: header field (and at most one Sender:) is required",
    );
    /// The signed-in mailbox may no longer send (suspended or revoked meanwhile).
    pub const NO_LONGER_ALLOWED: Reply =
        reply(554, "5.7.1", "The authenticated mailbox may no longer send");
    /// More recipients than the plan allows in one message.
    pub const PLAN_RECIPIENTS: Reply = reply(
        452,
        "4.5.3",
        "Too many recipients for the plan (recipients per message)",
    );
    /// The tenant's messages per minute spent.
    pub const PLAN_PER_MINUTE: Reply = reply(
        451,
        "4.7.1",
        "Sending rate limit reached (messages per minute), try again later",
    );
    /// The tenant's messages per day spent.
    pub const PLAN_PER_DAY: Reply = reply(
        451,
        "4.7.1",
        "Daily sending limit reached (messages per day), try again tomorrow",
    );
}

/// A mailbox that may sign in, with the app passwords to check the given one against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn<'a> {
    /// The mailbox, lowercase.
    pub mailbox: String,
    /// The owning tenant.
    pub tenant_id: &'a str,
    /// Its app passwords (PHC strings to verify against).
    pub credentials: Vec<&'a CredentialEntry>,
}

/// Who signs in with `username`: an active mailbox of an active domain with at least one
/// app password. Every refusal is the same `535 5.7.8`, so a client learns nothing
/// about which part was wrong.
pub fn sign_in<'a>(directory: &'a Directory, username: &str) -> Result<SignIn<'a>, Reply> {
    let address = Address::parse(username).map_err(|_| replies::AUTH_FAILED)?;
    let mailbox = directory
        .mailbox(address.as_str())
        .filter(|m| m.status == MailboxStatus::Active)
        .ok_or(replies::AUTH_FAILED)?;
    directory
        .domain(address.domain())
        .filter(|d| d.status == DomainStatus::Active && d.tenant_id == mailbox.tenant_id)
        .ok_or(replies::AUTH_FAILED)?;
    let credentials: Vec<_> = directory
        .credentials_of(&mailbox.address)
        .filter(|c| c.tenant_id == mailbox.tenant_id)
        .collect();
    if credentials.is_empty() {
        return Err(replies::AUTH_FAILED);
    }
    Ok(SignIn {
        mailbox: String::from(address.as_str()),
        tenant_id: &mailbox.tenant_id,
        credentials,
    })
}

/// Whether a signed-in mailbox may be still: its domain and itself still active (the
/// replica may have changed since AUTH).
pub fn still_allowed(directory: &Directory, mailbox: &str) -> bool {
    sign_in(directory, mailbox).is_ok()
}

/// Whether `mailbox` may send as `address`: the mailbox itself, a subaddress of it
/// (`user+tag@`), or an alias of the same tenant that delivers to it.
pub fn may_send_as(directory: &Directory, mailbox: &str, address: &str) -> bool {
    let Ok(address) = Address::parse(address) else {
        return false;
    };
    let Some(owner) = directory.mailbox(mailbox) else {
        return false;
    };
    let owns = |candidate: &Address| {
        candidate.as_str() == mailbox
            || directory.alias(candidate.as_str()).is_some_and(|alias| {
                alias.tenant_id == owner.tenant_id && alias.targets.iter().any(|t| t == mailbox)
            })
    };
    owns(&address) || address.without_subaddress().is_some_and(|base| owns(&base))
}

/// Checks `MAIL FROM:<path>` of a signed-in mailbox; the null sender is refused (a
/// person's client never sends bounces).
pub fn check_sender(directory: &Directory, mailbox: &str, path: &str) -> Result<(), Reply> {
    let address = path.trim_start_matches('<').trim_end_matches('>');
    if may_send_as(directory, mailbox, address) {
        Ok(())
    } else {
        Err(replies::SENDER_NOT_OWNED)
    }
}

/// The originator fields of a message, as a MIME parser found them: the addresses of
/// each `From:` field and of each `Sender:` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Originators<'a> {
    /// One entry per `From:` field.
    pub from: Vec<Vec<&'a str>>,
    /// One entry per `Sender:` field.
    pub sender: Vec<Vec<&'a str>>,
}

/// Checks the originator fields: exactly one `From:` and at most one `Sender:` (RFC 5322
/// 3.6; readers disagree about which of several they show), at least one address, and
/// every address owned by the signed-in mailbox.
pub fn check_originators(
    directory: &Directory,
    mailbox: &str,
    fields: &Originators<'_>,
) -> Result<(), Reply> {
    if fields.from.len() != 1 || fields.sender.len() > 1 {
        return Err(replies::ORIGINATOR_FIELDS);
    }
    let addresses: Vec<&str> = fields
        .from
        .iter()
        .chain(&fields.sender)
        .flatten()
        .copied()
        .collect();
    if fields.from[0].is_empty() || !addresses.iter().all(|a| may_send_as(directory, mailbox, a)) {
        return Err(replies::HEADER_FROM_NOT_OWNED);
    }
    Ok(())
}

/// Letters and digits an app password is made of: 32 of them, none that reads like
/// another (no `l`, `1`, `o`, `0`), so each random byte gives 5 unbiased bits.
const APP_PASSWORD_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Maximum app passwords of one mailbox (a device or client each).
pub const MAX_APP_PASSWORDS: u64 = 20;

/// An app password from 24 random bytes: 120 bits in six groups of four, easy to type
/// into a mail client (`abcd-efgh-...`).
pub fn app_password(random: &[u8; 24]) -> String {
    let mut out = String::with_capacity(29);
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(APP_PASSWORD_ALPHABET[usize::from(byte % 32)]));
    }
    out
}

/// What a tenant has sent, as the relay counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Messages this UTC day.
    pub today: u64,
    /// Messages in the current minute.
    pub this_minute: u64,
}

impl SendingLimits {
    /// Whether one more message may start (checked at `MAIL FROM` and again before `250`).
    pub fn check_message(&self, sent: Sent) -> Result<(), Reply> {
        if !self.messages_per_day.allows(sent.today, 1) {
            Err(replies::PLAN_PER_DAY)
        } else if !self.messages_per_minute.allows(sent.this_minute, 1) {
            Err(replies::PLAN_PER_MINUTE)
        } else {
            Ok(())
        }
    }

    /// Whether one more recipient fits in a message that has `accepted` already.
    pub fn check_recipient(&self, accepted: usize) -> Result<(), Reply> {
        if self
            .recipients_per_message
            .allows(u64::try_from(accepted).unwrap_or(u64::MAX), 1)
        {
            Ok(())
        } else {
            Err(replies::PLAN_RECIPIENTS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::directory::tests::{domain, mailbox};
    use super::super::directory::{AliasEntry, DirectoryDelta};
    use super::*;
    use crate::limits::Limit;
    use alloc::vec;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn credential(id: &str, mailbox: &str, tenant: &str) -> CredentialEntry {
        CredentialEntry {
            tenant_id: tenant.into(),
            id: id.into(),
            mailbox: mailbox.into(),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$ZGlnZXN0".into(),
            version: 1,
            deleted: false,
        }
    }

    fn directory() -> Directory {
        let mut other = domain("lyon.test", 1);
        other.tenant_id = "t_lyon".into();
        let mut lyon_box = mailbox("eve@lyon.test", 1);
        lyon_box.tenant_id = "t_lyon".into();
        let mut disabled = mailbox("off@paris.test", 1);
        disabled.status = MailboxStatus::Disabled;
        let mut d = Directory::default();
        d.apply(DirectoryDelta {
            version: 1,
            full: true,
            domains: vec![domain("paris.test", 1), other],
            mailboxes: vec![
                mailbox("ann@paris.test", 1),
                mailbox("bob@paris.test", 1),
                disabled,
                lyon_box,
            ],
            aliases: vec![
                AliasEntry {
                    tenant_id: "t_paris".into(),
                    address: "desk@paris.test".into(),
                    targets: vec!["ann@paris.test".into()],
                    version: 1,
                    deleted: false,
                },
                AliasEntry {
                    tenant_id: "t_lyon".into(),
                    address: "steal@lyon.test".into(),
                    targets: vec!["ann@paris.test".into()],
                    version: 1,
                    deleted: false,
                },
            ],
            credentials: vec![
                credential("ap_1", "ann@paris.test", "t_paris"),
                credential("ap_2", "off@paris.test", "t_paris"),
                credential("ap_3", "eve@lyon.test", "t_lyon"),
            ],
            dkim: vec![],
            certificates: alloc::vec![],
        })
        .unwrap();
        d
    }

    #[test]
    fn sign_in_needs_an_active_mailbox_with_a_password() {
        let d = directory();
        let ann = sign_in(&d, "Ann@Paris.test").unwrap();
        assert_eq!(ann.mailbox, "ann@paris.test");
        assert_eq!(ann.tenant_id, "t_paris");
        assert_eq!(ann.credentials.len(), 1);
        for refused in [
            "bob@paris.test",
            "off@paris.test",
            "nobody@paris.test",
            "x",
            "",
        ] {
            assert_eq!(sign_in(&d, refused), Err(replies::AUTH_FAILED), "{refused}");
        }
    }

    #[test]
    fn a_suspended_domain_cannot_sign_in() {
        let mut d = directory();
        let mut suspended = domain("paris.test", 2);
        suspended.status = DomainStatus::Suspended;
        d.apply(DirectoryDelta {
            version: 2,
            domains: vec![suspended],
            ..DirectoryDelta::default()
        })
        .unwrap();
        assert_eq!(sign_in(&d, "ann@paris.test"), Err(replies::AUTH_FAILED));
        assert!(!still_allowed(&d, "ann@paris.test"));
    }

    #[test]
    fn a_revoked_password_is_gone() {
        let mut d = directory();
        let mut revoked = credential("ap_1", "ann@paris.test", "t_paris");
        revoked.version = 2;
        revoked.deleted = true;
        d.apply(DirectoryDelta {
            version: 2,
            credentials: vec![revoked],
            ..DirectoryDelta::default()
        })
        .unwrap();
        assert_eq!(sign_in(&d, "ann@paris.test"), Err(replies::AUTH_FAILED));
    }

    #[test]
    fn sender_rights() {
        let d = directory();
        for owned in [
            "ann@paris.test",
            "ANN@paris.test",
            "desk@paris.test",
            "ann+x@paris.test",
        ] {
            assert!(may_send_as(&d, "ann@paris.test", owned), "{owned}");
        }
        // Another mailbox, another tenant's alias pointing at ann, another tenant's box.
        for foreign in [
            "bob@paris.test",
            "steal@lyon.test",
            "eve@lyon.test",
            "",
            "<>",
        ] {
            assert!(!may_send_as(&d, "ann@paris.test", foreign), "{foreign}");
        }
        assert_eq!(
            check_sender(&d, "ann@paris.test", "<desk@paris.test>"),
            Ok(())
        );
        assert_eq!(
            check_sender(&d, "ann@paris.test", "<>"),
            Err(replies::SENDER_NOT_OWNED)
        );
        let fields = |from: Vec<Vec<&'static str>>, sender: Vec<Vec<&'static str>>| Originators {
            from,
            sender,
        };
        let check = |f: Originators<'_>| check_originators(&d, "ann@paris.test", &f);
        assert_eq!(check(fields(vec![vec!["ann@paris.test"]], vec![])), Ok(()));
        assert_eq!(
            check(fields(
                vec![vec!["desk@paris.test"]],
                vec![vec!["ann@paris.test"]]
            )),
            Ok(())
        );
        assert_eq!(
            check(fields(
                vec![vec!["ann@paris.test", "bob@paris.test"]],
                vec![]
            )),
            Err(replies::HEADER_FROM_NOT_OWNED)
        );
        assert_eq!(
            check(fields(
                vec![vec!["ann@paris.test"]],
                vec![vec!["eve@lyon.test"]]
            )),
            Err(replies::HEADER_FROM_NOT_OWNED)
        );
        assert_eq!(
            check(fields(vec![vec![]], vec![])),
            Err(replies::HEADER_FROM_NOT_OWNED)
        );
        // Several From: fields (a reader may show the one that is not checked), or none.
        assert_eq!(
            check(fields(
                vec![vec!["eve@lyon.test"], vec!["ann@paris.test"]],
                vec![]
            )),
            Err(replies::ORIGINATOR_FIELDS)
        );
        assert_eq!(
            check(fields(vec![], vec![])),
            Err(replies::ORIGINATOR_FIELDS)
        );
        assert_eq!(
            check(fields(
                vec![vec!["ann@paris.test"]],
                vec![vec!["ann@paris.test"], vec!["ann@paris.test"]]
            )),
            Err(replies::ORIGINATOR_FIELDS)
        );
    }

    #[test]
    fn app_passwords_are_six_groups_of_four() {
        let a = app_password(&[0; 24]);
        assert_eq!(a, "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa");
        let b = app_password(&core::array::from_fn(|i| i as u8 * 7));
        assert_eq!(b.len(), 29);
        assert_ne!(a, b);
        assert!(
            b.chars()
                .all(|c| c == '-' || APP_PASSWORD_ALPHABET.contains(&(c as u8)))
        );
    }

    #[test]
    fn sending_limits() {
        let limits = SendingLimits {
            messages_per_day: Limit::Max(3),
            messages_per_minute: Limit::Max(2),
            recipients_per_message: Limit::Max(2),
        };
        assert_eq!(
            limits.check_message(Sent {
                today: 0,
                this_minute: 0
            }),
            Ok(())
        );
        assert_eq!(
            limits.check_message(Sent {
                today: 2,
                this_minute: 2
            }),
            Err(replies::PLAN_PER_MINUTE)
        );
        assert_eq!(
            limits.check_message(Sent {
                today: 3,
                this_minute: 0
            }),
            Err(replies::PLAN_PER_DAY)
        );
        assert_eq!(limits.check_recipient(1), Ok(()));
        assert_eq!(limits.check_recipient(2), Err(replies::PLAN_RECIPIENTS));
        let free = crate::limits::Plan::Free.limits().sending();
        assert_eq!(SendingLimits::default(), free);
    }
}
