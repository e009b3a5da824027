//! MTA-STS (RFC 8461) for outbound mail: the destination's `_mta-sts` TXT record (parsed
//! by `mail-auth`), its policy fetched over HTTPS with a verified certificate and no
//! redirects, cached per domain while its `max_age` and `id` allow (the core's
//! `mail::mta_sts` decides), and the verifying TLS client an enforced policy requires of
//! the MX connection.

use crate::clock;
use crate::config::Outbound;
use crate::outbound::Router;
use crate::relay::Relay;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::mta_sts::MtaSts as StsRecord;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenantry_core::mail::mta_sts::{Fetched, MAX_POLICY_BYTES, Policy, Refresh, refresh};
use tenantry_core::mail::tls_report::ResultType;
use tracing::{info, warn};

/// How long fetching a policy may take (RFC 8461 section 3.3 suggests about a minute).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Policies by destination domain, and how to fetch and honour them.
pub struct MtaSts {
    enabled: bool,
    port: u16,
    extra_roots: Vec<reqwest::Certificate>,
    cache: Mutex<HashMap<String, Fetched>>,
    /// The TLS client of an enforced policy: certificates verified against the web's
    /// roots (and `outbound.tls_ca_file`) for the MX host's name.
    pub verified_tls: tokio_rustls::TlsConnector,
}

impl MtaSts {
    /// From the outbound configuration (`mta_sts`, `mta_sts_port`, `tls_ca_file`).
    pub fn new(config: &Outbound) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut extra_roots = Vec::new();
        if let Some(path) = &config.tls_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            for certificate in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let certificate = certificate
                    .map_err(|e| anyhow::anyhow!("a certificate of {}: {e}", path.display()))?;
                roots.add(certificate.clone())?;
                extra_roots.push(reqwest::Certificate::from_der(&certificate)?);
            }
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MtaSts {
            enabled: config.mta_sts,
            port: config.mta_sts_port,
            extra_roots,
            cache: Mutex::default(),
            verified_tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        })
    }

    /// The policy `domain` has now, if any (fetched when its record's id changed or the
    /// cached one expired; a failed fetch keeps a cached policy that is still valid).
    pub async fn policy(&self, relay: &Relay, domain: &str) -> Option<Policy> {
        if !self.enabled {
            return None;
        }
        let router = &relay.router;
        let published = published_id(router, domain).await;
        let now = clock::now_secs();
        let cached = self.cache.lock().expect("cache lock").get(domain).cloned();
        match refresh(cached.as_ref(), published.as_deref(), now) {
            Refresh::UseCached => cached.map(|c| c.policy),
            Refresh::NoPolicy => None,
            Refresh::Fetch => match self.fetch(router, domain).await {
                Ok(policy) => {
                    info!(%domain, mode = ?policy.mode, max_age = policy.max_age, "MTA-STS policy fetched");
                    let fetched = Fetched {
                        id: published.unwrap_or_default(),
                        policy: policy.clone(),
                        fetched_at: now,
                    };
                    self.cache
                        .lock()
                        .expect("cache lock")
                        .insert(domain.to_string(), fetched);
                    Some(policy)
                }
                Err(error) => {
                    warn!(%domain, %error, "MTA-STS policy not fetched");
                    let still = cached.filter(|c| c.valid(now)).map(|c| c.policy);
                    if still.is_none() {
                        relay.tls_reports.failure(
                            domain,
                            None,
                            ResultType::StsPolicyFetchError,
                            "",
                        );
                    }
                    still
                }
            },
        }
    }

    async fn fetch(&self, router: &Router, domain: &str) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let addresses = router.addresses(&host, self.port).await?;
        let mut client = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve_to_addrs(&host, &addresses);
        for root in &self.extra_roots {
            client = client.add_root_certificate(root.clone());
        }
        let client = client.build().map_err(|e| e.to_string())?;
        let url = format!("https://{host}:{}/.well-known/mta-sts.txt", self.port);
        let mut response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_POLICY_BYTES {
                return Err(format!("GET {url}: over {MAX_POLICY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Policy::parse(&body).map_err(|e| format!("{url}: {e}"))
    }
}

/// The `id=` of the domain's `v=STSv1` record; `None` without one (or if DNS failed:
/// a cached policy then stands until it expires).
async fn published_id(router: &Router, domain: &str) -> Option<String> {
    let records = router.txt(&format!("_mta-sts.{domain}")).await.ok()?;
    let mut sts = records
        .iter()
        .filter(|r| r.starts_with("v=STSv1"))
        .filter_map(|r| StsRecord::parse(r.as_bytes()).ok());
    let first = sts.next()?;
    // RFC 8461 section 3.1: more than one record is as none.
    sts.next().is_none().then_some(first.id)
}
