//! After every change of the replica: the certificates tenants uploaded are opened (with
//! the relay's `seal_key`) and served by SNI for the names the core assigns them, their
//! expiry is kept for the metrics, and Dovecot's accounts and certificates are written when
//! `dovecot.dir` is set.

use crate::dovecot::{self, OpenedCertificate};
use crate::relay::Relay;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use tenantry_core::mail::certificate::{sealed_field, sni_assignments};
use tracing::warn;

/// Applies the replica to everything outside the SMTP sessions that depends on it.
pub fn refresh(relay: &Relay) {
    let directory = relay.directory();
    // The operator's names are never served with a tenant's upload.
    let mut reserved: Vec<&str> = vec![relay.config.hostname.as_str()];
    if let Some(resolver) = &relay.certificates {
        reserved.extend(resolver.files().map(|(name, _)| name));
    }
    let mut names_of: Vec<(
        &tenantry_core::mail::certificate::CertificateEntry,
        Vec<String>,
    )> = Vec::new();
    for (name, entry) in sni_assignments(&directory, &reserved) {
        match names_of.iter_mut().find(|(e, _)| e.id == entry.id) {
            Some((_, names)) => names.push(name),
            None => names_of.push((entry, vec![name])),
        }
    }
    let mut opened = Vec::new();
    for (entry, names) in names_of {
        let key = relay.keyring.open(
            &entry.tenant_id,
            &sealed_field(&entry.id),
            &entry.sealed_key,
            &format!("the certificate of {}", entry.domain),
        );
        match key {
            Ok(key_pkcs8) => opened.push((
                OpenedCertificate {
                    domain: entry.domain.clone(),
                    id: entry.id.clone(),
                    names,
                    chain_pem: entry.chain_pem.clone(),
                    key_pkcs8,
                },
                entry.not_after,
            )),
            // Closed: the domain keeps the default certificate.
            Err(error) => warn!(error = format!("{error:#}"), "certificate not served"),
        }
    }
    let mut expiry: Vec<(String, i64)> = Vec::new();
    let mut served = Vec::new();
    if let Some(resolver) = &relay.certificates {
        let mut by_name = HashMap::new();
        for (certificate, not_after) in opened {
            match crate::tls::uploaded_pair(&certificate.chain_pem, certificate.key_pkcs8.clone()) {
                Ok(pair) => {
                    for name in &certificate.names {
                        by_name.insert(name.clone(), pair.clone());
                    }
                    expiry.push((certificate.domain.clone(), not_after));
                    served.push(certificate);
                }
                Err(error) => {
                    warn!(domain = %certificate.domain, error = format!("{error:#}"), "certificate not served");
                }
            }
        }
        resolver.set_uploaded(by_name);
        for (name, pair) in resolver.files() {
            let not_after = pair
                .cert
                .first()
                .and_then(|c| tenantry_core::mail::certificate::subject_and_expiry(c));
            if let Some((_, not_after)) = not_after {
                expiry.push((name.to_string(), not_after));
            }
        }
    }
    relay.set_certificate_expiry(expiry);
    if let Some(dir) = &relay.config.dovecot.dir {
        if let Err(error) = dovecot::write_accounts(dir, &directory, &relay.maildir) {
            warn!(error = format!("{error:#}"), "Dovecot accounts not written");
        }
        let reloaded =
            dovecot::write_certificates(dir, &served, &relay.config.dovecot.reload_command)
                .unwrap_or_else(|error| {
                    warn!(
                        error = format!("{error:#}"),
                        "Dovecot certificates not written"
                    );
                    false
                });
        relay
            .dovecot_refresh_pending
            .store(!reloaded, Ordering::Relaxed);
    }
}
