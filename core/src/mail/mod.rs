//! The mail path's decisions: addresses, the mail directory and the recipient policy.
//!
//! The relay keeps a replica of the [`Directory`] fed by [`DirectoryDelta`]s from the
//! gateway and asks [`RecipientPolicy::decide`] about every `RCPT TO`.

mod address;
pub mod authentication;
pub mod certificate;
mod data;
mod directory;
pub mod dkim;
mod dsn;
pub mod health;
pub mod mta_sts;
pub mod peers;
mod policy;
pub mod proof;
pub mod reading;
pub mod records;
pub mod relay_fields;
mod retry;
pub mod spam;
pub mod submission;
pub mod tls_report;

pub use address::{Address, AddressError, MAX_ADDRESS_LEN, MAX_DOMAIN_LEN, MAX_LOCAL_LEN};
pub use data::{DataDecoder, DataLine, DataOutcome};
pub use directory::{
    AliasEntry, ApplySummary, CredentialEntry, Directory, DirectoryDelta, DirectoryError,
    DomainEntry, DomainStatus, MailboxEntry, MailboxKind, MailboxStatus, SendingLimits,
};
pub use dsn::{FailedRecipient, FailureReport, header_block};
pub use policy::{RcptContext, RcptDecision, RecipientPolicy, Reply, StorageUsage, replies};
pub use retry::{AttemptOutcome, NextAttempt, RetrySchedule};
