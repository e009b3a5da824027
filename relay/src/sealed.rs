//! Secrets the gateway seals for relays (DKIM keys, certificate keys), opened in memory
//! with the relay's `seal_key`. Closed on failure: no key configured, or a value that
//! does not open, is an error, never an empty key.

use tenantry_core::mail::dkim::RELAY_SEAL_KEY_ID;
use tenantry_core::seal::{Keyring, MasterKey};

/// The relay's keyring, if `seal_key` is configured.
pub struct RelayKeyring(Option<Keyring>);

impl RelayKeyring {
    /// From `seal_key` (64 hex characters).
    pub fn new(seal_key: Option<&str>) -> anyhow::Result<Self> {
        let keyring = seal_key
            .map(|hex| {
                MasterKey::from_hex(RELAY_SEAL_KEY_ID, hex)
                    .map(|key| Keyring::new(key, Vec::new()))
                    .map_err(|_| anyhow::anyhow!("seal_key must be 64 hex characters"))
            })
            .transpose()?;
        Ok(RelayKeyring(keyring))
    }

    /// Opens `what` (for the error), sealed for `tenant_id` under `field`.
    pub fn open(
        &self,
        tenant_id: &str,
        field: &str,
        sealed: &str,
        what: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let keyring = self.0.as_ref().ok_or_else(|| {
            anyhow::anyhow!("seal_key is not configured: {what} cannot be opened")
        })?;
        if sealed.is_empty() {
            anyhow::bail!("{what} arrived without its key (the gateway could not seal it)");
        }
        keyring
            .open(tenant_id, field, sealed)
            .map_err(|e| anyhow::anyhow!("{what} cannot be opened: {e}"))
    }
}
