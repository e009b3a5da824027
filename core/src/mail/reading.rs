//! Reading mail (IMAP): who may sign in to read, with which app passwords, and the quota
//! the IMAP server enforces. The same rule as submission's sign-in: an active mailbox of
//! an active domain of its own tenant, with at least one app password.

use super::directory::Directory;
use super::submission::sign_in;
use crate::limits::Limit;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A mailbox that may sign in to read its mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingAccount<'a> {
    /// The mailbox, lowercase.
    pub address: &'a str,
    /// Its quota.
    pub quota_mb: Limit,
    /// Its app passwords' PHC strings.
    pub hashes: Vec<&'a str>,
}

/// Every account that may sign in, by domain (a domain without one is absent).
pub fn accounts_by_domain(directory: &Directory) -> BTreeMap<&str, Vec<ReadingAccount<'_>>> {
    let mut accounts: BTreeMap<&str, Vec<ReadingAccount<'_>>> = BTreeMap::new();
    for mailbox in directory.mailboxes() {
        let Ok(signed_in) = sign_in(directory, &mailbox.address) else {
            continue;
        };
        let domain = mailbox.address.rsplit_once('@').map_or("", |(_, d)| d);
        accounts.entry(domain).or_default().push(ReadingAccount {
            address: &mailbox.address,
            quota_mb: mailbox.quota_mb,
            hashes: signed_in
                .credentials
                .iter()
                .map(|c| c.hash.as_str())
                .collect(),
        });
    }
    accounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::directory::tests::{domain, mailbox};
    use crate::mail::{CredentialEntry, DirectoryDelta, DomainStatus, MailboxStatus};
    use alloc::string::ToString;
    use alloc::vec;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn credential(id: &str, mailbox: &str) -> CredentialEntry {
        CredentialEntry {
            tenant_id: "t_paris".into(),
            id: id.into(),
            mailbox: mailbox.into(),
            hash: alloc::format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${id}"),
            version: 1,
            deleted: false,
        }
    }

    #[test]
    fn only_active_mailboxes_of_active_domains_with_a_password_read() {
        let mut directory = Directory::default();
        let mut suspended = domain("closed.example", 1);
        suspended.status = DomainStatus::Suspended;
        let mut lapsed = domain("lapsed.example", 1);
        lapsed.status = DomainStatus::Lapsed;
        let mut disabled = mailbox("off@a.example", 1);
        disabled.status = MailboxStatus::Disabled;
        let mut foreign = domain("b.example", 1);
        foreign.tenant_id = "t_lyon".into();
        directory
            .apply(DirectoryDelta {
                version: 1,
                full: true,
                domains: vec![domain("a.example", 1), suspended, foreign, lapsed],
                mailboxes: vec![
                    mailbox("ana@a.example", 1),
                    mailbox("nopass@a.example", 1),
                    disabled,
                    mailbox("zoe@closed.example", 1),
                    mailbox("bob@b.example", 1),
                    mailbox("lea@lapsed.example", 1),
                ],
                credentials: vec![
                    credential("c1", "ana@a.example"),
                    credential("c2", "ana@a.example"),
                    credential("c3", "off@a.example"),
                    credential("c4", "zoe@closed.example"),
                    credential("c5", "bob@b.example"),
                    credential("c6", "lea@lapsed.example"),
                ],
                ..DirectoryDelta::default()
            })
            .unwrap();
        let accounts = accounts_by_domain(&directory);
        assert_eq!(
            accounts.keys().map(|d| d.to_string()).collect::<Vec<_>>(),
            ["a.example"]
        );
        let a = &accounts["a.example"];
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].address, "ana@a.example");
        assert_eq!(a[0].hashes.len(), 2);
    }
}
