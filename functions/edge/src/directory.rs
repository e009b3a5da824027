//! Versions of the mail directory the relay replicates: every change takes the next
//! version in the batch that makes it and stamps its rows with it, so the relay's
//! `since=` listing sees it.

use crate::Outcome;
use crate::db::{PlatformDb, int, text};
use worker::{D1Database, D1PreparedStatement};

/// The version the batch's [`next_version`] took, for the rows it stamps.
pub const CURRENT_VERSION: &str = "(SELECT MAX(version) FROM directory_versions)";

/// The newest directory version: what an up-to-date relay holds (0 before any change).
pub async fn current_version(db: &D1Database) -> Outcome<u64> {
    #[derive(serde::Deserialize)]
    struct Version {
        v: Option<f64>,
    }
    Ok(PlatformDb(db)
        .first::<Version>("SELECT MAX(version) AS v FROM directory_versions", &[])
        .await?
        .and_then(|v| v.v)
        .unwrap_or(0.0) as u64)
}

/// The statement that takes the next directory version; put it first in the batch.
pub fn next_version(db: &D1Database, now: i64) -> Outcome<D1PreparedStatement> {
    PlatformDb(db).statement(
        "INSERT INTO directory_versions (created_at) VALUES (?1)",
        &[int(now)],
    )
}

/// Statements that stamp a tenant's mail domains with a new version, so the relay
/// receives what the domain rows carry from elsewhere (the tenant's sending limits,
/// from its plan and overrides) after a change of those.
pub fn restamp_domains(
    db: &D1Database,
    tenant_id: &str,
    now: i64,
) -> Outcome<Vec<D1PreparedStatement>> {
    Ok(vec![
        next_version(db, now)?,
        PlatformDb(db).statement(
            &format!("UPDATE mail_domains SET version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND deleted = 0"),
            &[text(tenant_id)],
        )?,
    ])
}
