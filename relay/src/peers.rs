//! Verified peers: a client certificate is requested at STARTTLS, accepted by the
//! handshake whatever its issuer (a peer with an unknown certificate may still send mail
//! no rule requires a certificate for), then verified against `tls.client_ca` and the
//! CRLs after the handshake. The verified subject goes into `Received:`; senders listed
//! in `tls.require_client_cert_from` need one (the core's `PeerRequirement`). CRLs are
//! read again when their files change.

use anyhow::Context;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tenantry_core::mail::peers::PeerRequirement;

use crate::config::PeerTls;

/// What a client's certificate turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PeerCertificate {
    /// No certificate (or no TLS).
    #[default]
    None,
    /// Verified against the bundle and CRLs: its subject.
    Verified(String),
    /// Presented, not verified: why.
    Unverified(String),
}

impl PeerCertificate {
    /// Whether a verified certificate was presented.
    pub fn verified(&self) -> bool {
        matches!(self, PeerCertificate::Verified(_))
    }
}

/// The verifier the handshake uses: it asks for a certificate (naming the bundle's
/// authorities) and checks that the client holds its key; the chain is judged after.
#[derive(Debug)]
struct RequestClientCertificate {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The CRL files as last read, and the verifier built from them.
struct Loaded {
    stamps: Vec<Stamp>,
    verifier: Arc<dyn ClientCertVerifier>,
}

/// Client certificate verification for the relay's listeners.
pub struct Peers {
    roots: Arc<RootCertStore>,
    crl_files: Vec<PathBuf>,
    provider: Arc<CryptoProvider>,
    loaded: RwLock<Loaded>,
    /// Who must present a verified certificate.
    pub requirement: PeerRequirement,
}

/// What identifies a version of a file: its inode, size and modification time (a CRL
/// renamed into place, or rewritten within the same second, still counts as a change).
type Stamp = Option<(u64, u64, SystemTime)>;

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.ino(), m.len(), m.modified().ok()?))
        })
        .collect()
}

fn read_crls(files: &[PathBuf]) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    let mut crls = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let pem: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing {}", file.display()))?;
        if pem.is_empty() {
            crls.push(CertificateRevocationListDer::from(bytes));
        } else {
            crls.extend(pem);
        }
    }
    Ok(crls)
}

impl Peers {
    /// From the configuration; `None` without `tls.client_ca`.
    pub fn load(config: &PeerTls) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(bundle) = &config.client_ca else {
            return Ok(None);
        };
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(bundle)
            .with_context(|| format!("reading {}", bundle.display()))?
        {
            let certificate =
                certificate.with_context(|| format!("parsing {}", bundle.display()))?;
            roots
                .add(certificate)
                .with_context(|| format!("{}: an authority rustls cannot use", bundle.display()))?;
        }
        if roots.is_empty() {
            anyhow::bail!("{} holds no certificate", bundle.display());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let verifier = Self::build(&roots, &provider, &config.crl)?;
        Ok(Some(Arc::new(Peers {
            loaded: RwLock::new(Loaded {
                stamps: stamps(&config.crl),
                verifier,
            }),
            roots,
            crl_files: config.crl.clone(),
            provider,
            requirement: PeerRequirement::new(&config.require_client_cert_from),
        })))
    }

    fn build(
        roots: &Arc<RootCertStore>,
        provider: &Arc<CryptoProvider>,
        crl_files: &[PathBuf],
    ) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .with_crls(read_crls(crl_files)?)
            // An expired CRL proves nothing: certificates are then refused until a fresh
            // one is published.
            .enforce_revocation_expiration()
            .allow_unauthenticated()
            .build()
            .context("building the client certificate verifier")
    }

    /// The verifier the TLS handshake uses.
    pub fn handshake_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::new(RequestClientCertificate {
            hints: self.roots.subjects(),
            algorithms: self.provider.signature_verification_algorithms,
        })
    }

    /// Reads the CRLs again if a file changed; a CRL that no longer parses keeps the
    /// previous ones (and says so).
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = stamps(&self.crl_files);
        if self.loaded.read().expect("peers lock").stamps == now {
            return Ok(false);
        }
        let verifier = Self::build(&self.roots, &self.provider, &self.crl_files)?;
        *self.loaded.write().expect("peers lock") = Loaded {
            stamps: now,
            verifier,
        };
        Ok(true)
    }

    /// Judges the certificates a client presented (end entity first).
    pub fn verify(&self, presented: Option<&[CertificateDer<'_>]>) -> PeerCertificate {
        let Some((end_entity, intermediates)) = presented.and_then(|c| c.split_first()) else {
            return PeerCertificate::None;
        };
        let verifier = self.loaded.read().expect("peers lock").verifier.clone();
        match verifier.verify_client_cert(end_entity, intermediates, UnixTime::now()) {
            Ok(_) => PeerCertificate::Verified(
                tenantry_core::mail::certificate::subject_and_expiry(end_entity)
                    .map_or_else(|| "(unreadable subject)".into(), |(subject, _)| subject),
            ),
            Err(error) => PeerCertificate::Unverified(error.to_string()),
        }
    }
}
