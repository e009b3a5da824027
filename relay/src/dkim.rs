//! DKIM signatures with Stalwart's `mail-auth`: a tenant domain's active key arrives
//! sealed in the directory and is opened here with the relay's `seal_key` (kept opened
//! in memory only); the platform's key is a PKCS#8 file on the relay's host. A key that
//! cannot be opened is an error for the message, never an unsigned send.

use crate::config::PlatformDkim;
use crate::sealed::RelayKeyring;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tenantry_core::mail::Directory;
use tenantry_core::mail::dkim::{DkimAlgorithm, DkimEntry, SIGNED_HEADERS, sealed_field};

/// A key ready to sign for its domain and selector.
enum Key {
    Ed25519(DkimSigner<Ed25519Key, Done>),
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
}

impl Key {
    fn new(
        algorithm: DkimAlgorithm,
        der: &[u8],
        domain: &str,
        selector: &str,
    ) -> anyhow::Result<Self> {
        Ok(match algorithm {
            // WebCrypto exports Ed25519 as PKCS#8 v1 (no public key inside).
            DkimAlgorithm::Ed25519 => Key::Ed25519(
                DkimSigner::from_key(
                    Ed25519Key::from_pkcs8_maybe_unchecked_der(der)
                        .map_err(|e| anyhow::anyhow!("Ed25519 key: {e}"))?,
                )
                .domain(domain)
                .selector(selector)
                .headers(SIGNED_HEADERS),
            ),
            DkimAlgorithm::Rsa => Key::Rsa(
                DkimSigner::from_key(
                    RsaKey::<Sha256>::from_pkcs8_der(der)
                        .map_err(|e| anyhow::anyhow!("RSA key: {e}"))?,
                )
                .domain(domain)
                .selector(selector)
                .headers(SIGNED_HEADERS),
            ),
        })
    }

    fn sign(&self, message: &[u8]) -> anyhow::Result<String> {
        let signature = match self {
            Key::Ed25519(signer) => signer.sign(message),
            Key::Rsa(signer) => signer.sign(message),
        }
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
        Ok(signature.to_header())
    }
}

/// Opens keys and signs.
pub struct Signer {
    keyring: Arc<RelayKeyring>,
    platform: Option<Key>,
    /// Opened tenant keys by key id and sealed value (a new sealing replaces the entry).
    opened: Mutex<HashMap<String, (String, Arc<Key>)>>,
}

impl Signer {
    /// From the relay's `seal_key` (64 hex) and the platform key file; either may be
    /// absent (no tenant signing, or no platform signing), neither may be unreadable.
    pub fn new(
        keyring: Arc<RelayKeyring>,
        platform: Option<&PlatformDkim>,
    ) -> anyhow::Result<Self> {
        let platform = platform
            .map(|p| -> anyhow::Result<Key> {
                let pem = std::fs::read_to_string(&p.private_key_file).map_err(|e| {
                    anyhow::anyhow!("reading {}: {e}", p.private_key_file.display())
                })?;
                let der = pem_to_der(&pem)?;
                Key::new(DkimAlgorithm::Ed25519, &der, &p.domain, &p.selector)
                    .or_else(|_| Key::new(DkimAlgorithm::Rsa, &der, &p.domain, &p.selector))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "{} is not an Ed25519 or RSA PKCS#8 private key",
                            p.private_key_file.display()
                        )
                    })
            })
            .transpose()?;
        Ok(Signer {
            keyring,
            platform,
            opened: Mutex::new(HashMap::new()),
        })
    }

    fn open(&self, entry: &DkimEntry) -> anyhow::Result<Arc<Key>> {
        if let Some((sealed, key)) = self.opened.lock().expect("dkim lock").get(&entry.id)
            && sealed == &entry.sealed_key
        {
            return Ok(key.clone());
        }
        let der = self.keyring.open(
            &entry.tenant_id,
            &sealed_field(&entry.id),
            &entry.sealed_key,
            &format!("DKIM key {}", entry.id),
        )?;
        let key = Arc::new(Key::new(
            entry.algorithm,
            &der,
            &entry.domain,
            &entry.selector,
        )?);
        self.opened
            .lock()
            .expect("dkim lock")
            .insert(entry.id.clone(), (entry.sealed_key.clone(), key.clone()));
        Ok(key)
    }

    /// The `DKIM-Signature:` header for mail from `domain`, or `None` when the domain has
    /// no active key.
    pub fn sign_tenant(
        &self,
        directory: &Directory,
        domain: &str,
        message: &[u8],
    ) -> anyhow::Result<Option<String>> {
        let Some(entry) = directory.dkim_signing_key(domain) else {
            return Ok(None);
        };
        let key = self.open(entry)?;
        key.sign(message).map(Some)
    }

    /// The platform's signature, when a platform key is configured.
    pub fn sign_platform(&self, message: &[u8]) -> anyhow::Result<Option<String>> {
        match &self.platform {
            Some(key) => key.sign(message).map(Some),
            None => Ok(None),
        }
    }
}

fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| anyhow::anyhow!("not a PEM private key"))
}
