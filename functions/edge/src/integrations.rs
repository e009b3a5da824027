//! A tenant's third-party credentials (CRM, WhatsApp): stored as plain config plus a
//! JSON object of values sealed with `tenantry-core::seal`, each under the context
//! `{kind}.{name}` so a sealed value cannot be moved to another field or tenant.

use crate::Outcome;
use crate::db::{TenantDb, text};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tenantry_core::seal::Keyring;
use tenantry_core::{ErrorCode, Problem};

/// One integration as stored.
#[derive(Deserialize)]
pub struct Stored {
    /// `crm` or `whatsapp`.
    pub kind: String,
    /// The settings that are not secret, as JSON.
    pub config: String,
    /// Name → sealed value, as JSON.
    pub sealed: String,
    /// Last change, seconds.
    pub updated_at: i64,
}

/// An integration with its secrets opened.
pub struct Opened {
    /// The tenant it belongs to (for the log line of a secret that cannot be opened).
    pub tenant_id: String,
    /// `crm` or `whatsapp`.
    pub kind: String,
    /// The settings that are not secret.
    pub config: Value,
    /// Name → secret; `None` for a value the configured keys cannot open.
    pub secrets: BTreeMap<String, Option<String>>,
}

impl Opened {
    /// A stored secret: `None` when the integration has none of that name, 500
    /// `misconfigured` when one is stored but the configured keys cannot open it (a
    /// master-key rotation without `SEAL_RETIRED_KEYS`, say). It fails closed: a value
    /// that cannot be opened is never used as an empty secret. The log names the tenant
    /// and the field, never a value.
    pub fn secret(&self, name: &str) -> Outcome<Option<&str>> {
        match self.secrets.get(name) {
            None => Ok(None),
            Some(Some(secret)) if !secret.is_empty() => Ok(Some(secret)),
            Some(_) => {
                worker::console_error!(
                    "misconfigured: tenant {} integration {} field {} cannot be opened with the configured seal keys",
                    self.tenant_id,
                    self.kind,
                    name
                );
                Err(Problem::new(
                    ErrorCode::Misconfigured,
                    format!(
                        "the {} integration's {name} cannot be opened with the configured keys",
                        self.kind
                    ),
                )
                .with("field", format!("{}.{name}", self.kind)))
            }
        }
    }

    /// A non-secret setting.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.config.get(name).and_then(Value::as_str)
    }
}

/// Every integration of the tenant, sealed.
pub async fn stored(db: &TenantDb<'_>) -> Outcome<Vec<Stored>> {
    db.all(
        "SELECT kind, config, sealed, updated_at FROM integrations WHERE tenant_id = ?1 ORDER BY kind",
        &[],
    )
    .await
}

/// Opens a stored integration's secrets.
pub fn open(keyring: &Keyring, tenant_id: &str, row: &Stored) -> Opened {
    let sealed: Map<String, Value> = serde_json::from_str(&row.sealed).unwrap_or_default();
    let secrets = sealed
        .into_iter()
        .map(|(name, value)| {
            let opened = keyring
                .open(
                    tenant_id,
                    &format!("{}.{name}", row.kind),
                    value.as_str().unwrap_or_default(),
                )
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            (name, opened)
        })
        .collect();
    Opened {
        tenant_id: tenant_id.to_string(),
        kind: row.kind.clone(),
        config: serde_json::from_str(&row.config).unwrap_or(Value::Null),
        secrets,
    }
}

/// The tenant's integration of `kind`, opened, if it has one.
pub async fn load(db: &TenantDb<'_>, keyring: &Keyring, kind: &str) -> Outcome<Option<Opened>> {
    let row: Option<Stored> = db
        .first(
            "SELECT kind, config, sealed, updated_at FROM integrations WHERE tenant_id = ?1 AND kind = ?2",
            &[text(kind)],
        )
        .await?;
    Ok(row.map(|row| open(keyring, db.tenant_id(), &row)))
}
