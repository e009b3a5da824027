//! Server certificates, chosen by SNI: the ones tenants upload (from the directory
//! replica, replaced at each sync without a restart), then the operator's files
//! (`{cert_dir}/{name}/cert.pem` + `key.pem`), then `{cert_dir}/default/` for clients
//! that send no SNI or an unknown name.

use anyhow::{Context, bail};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Chooses the certificate by SNI.
#[derive(Debug)]
pub struct SniResolver {
    files: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    uploaded: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
) -> anyhow::Result<Arc<CertifiedKey>> {
    if chain.is_empty() {
        bail!("no certificate");
    }
    let signing_key = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|_| anyhow::anyhow!("not a supported private key"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

/// A certificate chain (PEM) with its PKCS#8 key (DER), as uploaded through the API.
pub fn uploaded_pair(chain_pem: &str, key_pkcs8: Vec<u8>) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the chain")?;
    certified_key(
        chain,
        &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8)),
    )
}

fn load_pair(dir: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .with_context(|| format!("reading {}/cert.pem", dir.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}/cert.pem", dir.display()))?;
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem"))
        .with_context(|| format!("reading {}/key.pem", dir.display()))?;
    certified_key(chain, &key).with_context(|| format!("{}", dir.display()))
}

impl SniResolver {
    /// Loads every `{cert_dir}/{name}/` that holds a `cert.pem`.
    pub fn load(cert_dir: &Path) -> anyhow::Result<Self> {
        let mut files = HashMap::new();
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
                files.insert(name, pair);
            }
        }
        if files.is_empty() && default.is_none() {
            bail!("{} holds no {{name}}/cert.pem", cert_dir.display());
        }
        Ok(SniResolver {
            files,
            default,
            uploaded: RwLock::new(HashMap::new()),
        })
    }

    /// Names with a certificate file of their own, and the certificates (for metrics).
    pub fn files(&self) -> impl Iterator<Item = (&str, &CertifiedKey)> {
        self.files
            .iter()
            .map(|(name, key)| (name.as_str(), key.as_ref()))
    }

    /// Replaces the uploaded certificates (name → certificate).
    pub fn set_uploaded(&self, by_name: HashMap<String, Arc<CertifiedKey>>) {
        *self.uploaded.write().expect("certificates lock") = by_name;
    }

    /// The rustls configuration: SNI certificates, and client certificates requested
    /// when `client_auth` is given.
    pub fn server_config(
        self: &Arc<Self>,
        client_auth: Option<Arc<dyn ClientCertVerifier>>,
    ) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?;
        let builder = match client_auth {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(builder.with_cert_resolver(self.clone())))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        if let Some(name) = &name {
            if let Some(key) = self.uploaded.read().expect("certificates lock").get(name) {
                return Some(key.clone());
            }
            if let Some(key) = self.files.get(name) {
                return Some(key.clone());
            }
        }
        self.default.clone()
    }
}
