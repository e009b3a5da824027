//! STARTTLS certificates: one per hosted domain, chosen by SNI, with a default.
//!
//! `{cert_dir}/{name}/cert.pem` (chain) and `key.pem` (PKCS#8, PKCS#1 or SEC1). The
//! directory `default` serves clients that send no SNI or an unknown name.

use anyhow::{Context, bail};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Chooses the certificate by SNI.
#[derive(Debug)]
pub struct SniResolver {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

fn load_pair(dir: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .with_context(|| format!("reading {}/cert.pem", dir.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}/cert.pem", dir.display()))?;
    if chain.is_empty() {
        bail!("{}/cert.pem holds no certificate", dir.display());
    }
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem"))
        .with_context(|| format!("reading {}/key.pem", dir.display()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .with_context(|| format!("{}/key.pem is not a supported key", dir.display()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

impl SniResolver {
    /// Loads every `{cert_dir}/{name}/` that holds a `cert.pem`.
    pub fn load(cert_dir: &Path) -> anyhow::Result<Self> {
        let mut by_name = HashMap::new();
        let mut default = None;
        let entries = std::fs::read_dir(cert_dir)
            .with_context(|| format!("reading {}", cert_dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.join("cert.pem").is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
            let pair = load_pair(&path)?;
            if name == "default" {
                default = Some(pair);
            } else {
                by_name.insert(name, pair);
            }
        }
        if by_name.is_empty() && default.is_none() {
            bail!("{} holds no {{name}}/cert.pem", cert_dir.display());
        }
        Ok(SniResolver { by_name, default })
    }

    /// Names with a certificate of their own.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The rustls configuration for STARTTLS.
    pub fn into_server_config(self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self));
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.by_name.get(&name.to_ascii_lowercase()))
            .or(self.default.as_ref())
            .cloned()
    }
}
