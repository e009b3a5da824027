//! The mail directory: hosted domains, mailboxes and aliases, replicated as versioned
//! deltas.
//!
//! The gateway stamps every directory change with a deployment-wide increasing version
//! and serves the rows changed after a given version, with removed rows as tombstones
//! (`deleted: true`). A full snapshot (`since=0`) replaces the replica. A replica never
//! moves backwards: a delta older than what it holds is refused.

use super::authentication::DmarcHandling;
use super::certificate::CertificateEntry;
use super::dkim::{DkimEntry, DkimState};
use super::spam::SpamThresholds;
use crate::limits::Limit;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Whether a domain receives mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    /// Receives mail.
    Active,
    /// Refuses mail with `550 5.7.1` (set by the platform superadmin).
    Suspended,
    /// Its proof has been missing beyond the grace period: mail is deferred (`451 4.7.0`),
    /// nothing is signed or served for it, nobody signs in, until the proof is back.
    Lapsed,
}

impl DomainStatus {
    /// Whether the domain is proven now: only a proven domain signs with its DKIM key and
    /// is served with its certificate.
    pub const fn is_proven(self) -> bool {
        !matches!(self, DomainStatus::Lapsed)
    }
}

/// What a mailbox is for (health-mail operators distinguish them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxKind {
    /// A person's mailbox.
    Personal,
    /// A service's mailbox (reception, laboratory, ...).
    Organizational,
}

/// Whether a mailbox receives mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxStatus {
    /// Receives mail.
    #[default]
    Active,
    /// Refuses mail with `550 5.2.1`.
    Disabled,
}

/// A hosted domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEntry {
    /// Owning tenant.
    pub tenant_id: String,
    /// The domain, lowercase.
    pub domain: String,
    /// Status.
    pub status: DomainStatus,
    /// Mailboxes the domain may have.
    pub max_mailboxes: Limit,
    /// Storage of all its mailboxes together, in MB.
    pub max_storage_mb: Limit,
    /// What the owning tenant's plan and overrides allow it to send (the same for every
    /// domain of the tenant).
    #[serde(default)]
    pub sending: SendingLimits,
    /// What the MX does with mail that fails DMARC (set by the tenant).
    #[serde(default)]
    pub dmarc_handling: DmarcHandling,
    /// The owning tenant's spam thresholds (the same for every domain of the tenant).
    #[serde(default)]
    pub spam: SpamThresholds,
    /// Version of the last change.
    pub version: u64,
    /// A tombstone.
    #[serde(default)]
    pub deleted: bool,
}

/// A tenant's sending limits, from the plan catalog and its overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendingLimits {
    /// Messages per UTC day, over all the tenant's mailboxes.
    pub messages_per_day: Limit,
    /// Messages per minute, over all the tenant's mailboxes.
    pub messages_per_minute: Limit,
    /// Recipients of one message.
    pub recipients_per_message: Limit,
}

impl Default for SendingLimits {
    /// The most restrictive plan's: a domain whose limits are unknown sends little.
    fn default() -> Self {
        crate::limits::Plan::Free.limits().sending()
    }
}

/// An app password of a mailbox, as the relay needs it: only the slow hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialEntry {
    /// Owning tenant.
    pub tenant_id: String,
    /// The password's id (`ap_...`).
    pub id: String,
    /// The mailbox it signs in to.
    pub mailbox: String,
    /// The PHC string (`$argon2id$...`); empty in a tombstone.
    #[serde(default)]
    pub hash: String,
    /// Version of the last change.
    pub version: u64,
    /// A tombstone (revoked).
    #[serde(default)]
    pub deleted: bool,
}

/// A mailbox of a hosted domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxEntry {
    /// Owning tenant.
    pub tenant_id: String,
    /// `local@domain`, lowercase.
    pub address: String,
    /// Kind.
    pub kind: MailboxKind,
    /// Status.
    #[serde(default)]
    pub status: MailboxStatus,
    /// Storage quota in MB; unlimited means only the domain's quota applies.
    pub quota_mb: Limit,
    /// Version of the last change.
    pub version: u64,
    /// A tombstone.
    #[serde(default)]
    pub deleted: bool,
}

/// An alias: an address of a hosted domain that delivers to mailboxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasEntry {
    /// Owning tenant.
    pub tenant_id: String,
    /// `local@domain`, lowercase.
    pub address: String,
    /// Mailbox addresses it delivers to.
    pub targets: Vec<String>,
    /// Version of the last change.
    pub version: u64,
    /// A tombstone.
    #[serde(default)]
    pub deleted: bool,
}

/// What `GET /v1/relay/directory?since=` returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectoryDelta {
    /// The directory version this delta brings the replica to.
    pub version: u64,
    /// Whether this is a full snapshot that replaces the replica.
    pub full: bool,
    /// Changed domains.
    #[serde(default)]
    pub domains: Vec<DomainEntry>,
    /// Changed mailboxes.
    #[serde(default)]
    pub mailboxes: Vec<MailboxEntry>,
    /// Changed aliases.
    #[serde(default)]
    pub aliases: Vec<AliasEntry>,
    /// Changed app passwords.
    #[serde(default)]
    pub credentials: Vec<CredentialEntry>,
    /// Changed DKIM keys.
    #[serde(default)]
    pub dkim: Vec<DkimEntry>,
    /// Changed domain certificates.
    #[serde(default)]
    pub certificates: Vec<CertificateEntry>,
}

impl DirectoryDelta {
    /// Appends the next page of the same listing (`GET /v1/relay/directory` pages a
    /// large snapshot or delta); a page of another version or kind is refused.
    pub fn merge_page(&mut self, page: DirectoryDelta) -> Result<(), DirectoryError> {
        if page.version != self.version || page.full != self.full {
            return Err(DirectoryError::PageMismatch);
        }
        self.domains.extend(page.domains);
        self.mailboxes.extend(page.mailboxes);
        self.aliases.extend(page.aliases);
        self.credentials.extend(page.credentials);
        self.dkim.extend(page.dkim);
        self.certificates.extend(page.certificates);
        Ok(())
    }
}

/// Why a delta was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The delta's version is older than the replica's.
    #[error("delta version {delta} is older than the replica's {replica}")]
    Stale {
        /// The delta's version.
        delta: u64,
        /// The replica's version.
        replica: u64,
    },
    /// A row newer than the delta's own version: the delta is inconsistent.
    #[error("a row has version {row}, newer than the delta's {delta}")]
    RowNewerThanDelta {
        /// The row's version.
        row: u64,
        /// The delta's version.
        delta: u64,
    },
    /// A page of another listing (another version, or a snapshot among deltas).
    #[error("a directory page belongs to another listing")]
    PageMismatch,
}

/// What applying a delta changed, for the relay's log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplySummary {
    /// Rows inserted or replaced.
    pub upserted: usize,
    /// Rows removed by tombstones.
    pub removed: usize,
    /// Whether the replica was replaced by a snapshot.
    pub full: bool,
}

/// The replica of the mail directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    version: u64,
    domains: BTreeMap<String, DomainEntry>,
    mailboxes: BTreeMap<String, MailboxEntry>,
    aliases: BTreeMap<String, AliasEntry>,
    credentials: BTreeMap<String, CredentialEntry>,
    dkim: BTreeMap<String, DkimEntry>,
    certificates: BTreeMap<String, CertificateEntry>,
}

fn merge<T>(
    map: &mut BTreeMap<String, T>,
    rows: Vec<T>,
    key: impl Fn(&T) -> &str,
    deleted: impl Fn(&T) -> bool,
    summary: &mut ApplySummary,
) {
    for row in rows {
        if deleted(&row) {
            summary.removed += usize::from(map.remove(key(&row)).is_some());
        } else {
            map.insert(String::from(key(&row)), row);
            summary.upserted += 1;
        }
    }
}

impl Directory {
    /// The version the replica holds (0 when empty).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Applies a delta or snapshot; on error the replica is unchanged.
    pub fn apply(&mut self, delta: DirectoryDelta) -> Result<ApplySummary, DirectoryError> {
        if !delta.full && delta.version < self.version {
            return Err(DirectoryError::Stale {
                delta: delta.version,
                replica: self.version,
            });
        }
        let newest_row = delta
            .domains
            .iter()
            .map(|d| d.version)
            .chain(delta.mailboxes.iter().map(|m| m.version))
            .chain(delta.aliases.iter().map(|a| a.version))
            .chain(delta.credentials.iter().map(|c| c.version))
            .chain(delta.dkim.iter().map(|k| k.version))
            .chain(delta.certificates.iter().map(|c| c.version))
            .max()
            .unwrap_or(0);
        if newest_row > delta.version {
            return Err(DirectoryError::RowNewerThanDelta {
                row: newest_row,
                delta: delta.version,
            });
        }
        let mut summary = ApplySummary {
            full: delta.full,
            ..ApplySummary::default()
        };
        if delta.full {
            *self = Directory::default();
        }
        merge(
            &mut self.domains,
            delta.domains,
            |d| &d.domain,
            |d| d.deleted,
            &mut summary,
        );
        merge(
            &mut self.mailboxes,
            delta.mailboxes,
            |m| &m.address,
            |m| m.deleted,
            &mut summary,
        );
        merge(
            &mut self.aliases,
            delta.aliases,
            |a| &a.address,
            |a| a.deleted,
            &mut summary,
        );
        merge(
            &mut self.credentials,
            delta.credentials,
            |c| &c.id,
            |c| c.deleted,
            &mut summary,
        );
        merge(
            &mut self.dkim,
            delta.dkim,
            |k| &k.id,
            |k| k.deleted || k.state == DkimState::Retired,
            &mut summary,
        );
        merge(
            &mut self.certificates,
            delta.certificates,
            |c| &c.domain,
            |c| c.deleted,
            &mut summary,
        );
        self.version = delta.version;
        Ok(summary)
    }

    /// A hosted domain.
    pub fn domain(&self, domain: &str) -> Option<&DomainEntry> {
        self.domains.get(domain)
    }

    /// A mailbox by lowercase address.
    pub fn mailbox(&self, address: &str) -> Option<&MailboxEntry> {
        self.mailboxes.get(address)
    }

    /// An alias by lowercase address.
    pub fn alias(&self, address: &str) -> Option<&AliasEntry> {
        self.aliases.get(address)
    }

    /// Every domain.
    pub fn domains(&self) -> impl Iterator<Item = &DomainEntry> {
        self.domains.values()
    }

    /// Every mailbox.
    pub fn mailboxes(&self) -> impl Iterator<Item = &MailboxEntry> {
        self.mailboxes.values()
    }

    /// Every alias.
    pub fn aliases(&self) -> impl Iterator<Item = &AliasEntry> {
        self.aliases.values()
    }

    /// The app passwords of a mailbox.
    pub fn credentials_of<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> impl Iterator<Item = &'a CredentialEntry> + 'a {
        self.credentials
            .values()
            .filter(move |c| c.mailbox == mailbox)
    }

    /// The key that signs mail from `domain`: its active key, of the domain's own tenant.
    pub fn dkim_signing_key(&self, domain: &str) -> Option<&DkimEntry> {
        let owner = &self
            .domains
            .get(domain)
            .filter(|d| d.status.is_proven())?
            .tenant_id;
        self.dkim
            .values()
            .find(|k| k.domain == domain && k.state == DkimState::Active && &k.tenant_id == owner)
    }

    /// Every DKIM key.
    pub fn dkim_keys(&self) -> impl Iterator<Item = &DkimEntry> {
        self.dkim.values()
    }

    /// The certificate a domain serves by SNI, if its own tenant uploaded one.
    pub fn certificate(&self, domain: &str) -> Option<&CertificateEntry> {
        let owner = &self.domains.get(domain)?.tenant_id;
        self.certificates
            .get(domain)
            .filter(|c| &c.tenant_id == owner)
    }

    /// Every domain certificate.
    pub fn certificates(&self) -> impl Iterator<Item = &CertificateEntry> {
        self.certificates.values()
    }

    /// Every app password.
    pub fn credentials(&self) -> impl Iterator<Item = &CredentialEntry> {
        self.credentials.values()
    }

    /// The whole replica as a snapshot, for persisting it.
    pub fn snapshot(&self) -> DirectoryDelta {
        DirectoryDelta {
            version: self.version,
            full: true,
            domains: self.domains.values().cloned().collect(),
            mailboxes: self.mailboxes.values().cloned().collect(),
            aliases: self.aliases.values().cloned().collect(),
            credentials: self.credentials.values().cloned().collect(),
            dkim: self.dkim.values().cloned().collect(),
            certificates: self.certificates.values().cloned().collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    pub(crate) fn domain(name: &str, version: u64) -> DomainEntry {
        DomainEntry {
            tenant_id: "t_paris".into(),
            domain: name.into(),
            status: DomainStatus::Active,
            max_mailboxes: Limit::Max(10),
            max_storage_mb: Limit::Max(1),
            sending: SendingLimits::default(),
            dmarc_handling: DmarcHandling::Policy,
            spam: SpamThresholds::default(),
            version,
            deleted: false,
        }
    }

    pub(crate) fn mailbox(address: &str, version: u64) -> MailboxEntry {
        MailboxEntry {
            tenant_id: "t_paris".into(),
            address: address.into(),
            kind: MailboxKind::Personal,
            status: MailboxStatus::Active,
            quota_mb: Limit::Unlimited,
            version,
            deleted: false,
        }
    }

    #[test]
    fn snapshot_then_deltas_with_tombstones() {
        let mut dir = Directory::default();
        let summary = dir
            .apply(DirectoryDelta {
                version: 3,
                full: true,
                domains: alloc::vec![domain("a.example", 1)],
                mailboxes: alloc::vec![mailbox("x@a.example", 2), mailbox("y@a.example", 3)],
                aliases: alloc::vec![],
                credentials: alloc::vec![],
                dkim: alloc::vec![],
                certificates: alloc::vec![],
            })
            .unwrap();
        assert_eq!(
            summary,
            ApplySummary {
                upserted: 3,
                removed: 0,
                full: true
            }
        );
        let mut gone = mailbox("x@a.example", 4);
        gone.deleted = true;
        let summary = dir
            .apply(DirectoryDelta {
                version: 4,
                mailboxes: alloc::vec![gone],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(summary.removed, 1);
        assert!(dir.mailbox("x@a.example").is_none());
        assert!(dir.mailbox("y@a.example").is_some());
        assert_eq!(dir.version(), 4);
    }

    #[test]
    fn stale_and_inconsistent_deltas_change_nothing() {
        let mut dir = Directory::default();
        dir.apply(DirectoryDelta {
            version: 5,
            full: true,
            domains: alloc::vec![domain("a.example", 5)],
            ..Default::default()
        })
        .unwrap();
        let before = dir.clone();
        assert_eq!(
            dir.apply(DirectoryDelta {
                version: 4,
                domains: alloc::vec![domain("b.example", 4)],
                ..Default::default()
            }),
            Err(DirectoryError::Stale {
                delta: 4,
                replica: 5
            })
        );
        assert_eq!(
            dir.apply(DirectoryDelta {
                version: 6,
                domains: alloc::vec![domain("b.example", 7)],
                ..Default::default()
            }),
            Err(DirectoryError::RowNewerThanDelta { row: 7, delta: 6 })
        );
        assert_eq!(dir, before);
    }

    #[test]
    fn full_snapshot_replaces_everything_and_round_trips_as_json() {
        let mut dir = Directory::default();
        dir.apply(DirectoryDelta {
            version: 2,
            full: true,
            domains: alloc::vec![domain("old.example", 1)],
            ..Default::default()
        })
        .unwrap();
        let snapshot = DirectoryDelta {
            version: 9,
            full: true,
            domains: alloc::vec![domain("new.example", 9)],
            ..Default::default()
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        dir.apply(serde_json::from_str(&json).unwrap()).unwrap();
        assert!(dir.domain("old.example").is_none());
        assert!(dir.domain("new.example").is_some());
        let mut copy = Directory::default();
        copy.apply(dir.snapshot()).unwrap();
        assert_eq!(copy, dir);
    }

    #[test]
    fn pages_of_one_listing_merge_and_others_are_refused() {
        let mut first = DirectoryDelta {
            version: 7,
            full: true,
            ..Default::default()
        };
        let second = DirectoryDelta {
            version: 7,
            full: true,
            aliases: alloc::vec![AliasEntry {
                tenant_id: "t".into(),
                address: "a@x.example".into(),
                targets: alloc::vec![],
                version: 7,
                deleted: false,
            }],
            ..Default::default()
        };
        first.merge_page(second).unwrap();
        assert_eq!(first.aliases.len(), 1);
        let other = DirectoryDelta {
            version: 8,
            full: true,
            ..Default::default()
        };
        assert_eq!(first.merge_page(other), Err(DirectoryError::PageMismatch));
    }

    proptest! {
        /// Applying deltas one by one gives the same replica as one snapshot of the end state.
        #[test]
        fn deltas_converge_to_the_snapshot(ops in proptest::collection::vec((0u8..6, any::<bool>()), 1..40)) {
            let mut replica = Directory::default();
            let mut truth: BTreeMap<String, MailboxEntry> = BTreeMap::new();
            for (version, (which, delete)) in (1u64..).zip(ops) {
                let address = alloc::format!("m{which}@a.example");
                let mut row = mailbox(&address, version);
                row.deleted = delete;
                if delete { truth.remove(&address); } else { truth.insert(address, row.clone()); }
                replica.apply(DirectoryDelta { version, mailboxes: alloc::vec![row], ..Default::default() }).unwrap();
            }
            let expected: Vec<_> = truth.values().cloned().collect();
            let got: Vec<_> = replica.mailboxes().cloned().collect();
            prop_assert_eq!(got, expected);
        }
    }
}
