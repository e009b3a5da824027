//! After every change of the replica: the certificates tenants uploaded are opened (with
//! the relay's `seal_key`) and served by SNI, their expiry is kept for the metrics, and
//! Dovecot's accounts and certificates are written when `dovecot.dir` is set.

use crate::dovecot::{self, OpenedCertificate};
use crate::relay::Relay;
use std::collections::HashMap;
use tenantry_core::mail::certificate::sealed_field;
use tracing::warn;

/// Applies the replica to everything outside the SMTP sessions that depends on it.
pub fn refresh(relay: &Relay) {
    let directory = relay.directory();
    let mut opened = Vec::new();
    for entry in directory
        .domains()
        .filter_map(|d| directory.certificate(&d.domain))
    {
        let key = relay.keyring.open(
            &entry.tenant_id,
            &sealed_field(&entry.id),
            &entry.sealed_key,
            &format!("the certificate of {}", entry.domain),
        );
        match key {
            Ok(key_pkcs8) => opened.push(OpenedCertificate {
                domain: entry.domain.clone(),
                id: entry.id.clone(),
                names: entry.names.clone(),
                chain_pem: entry.chain_pem.clone(),
                key_pkcs8,
            }),
            // Closed: the domain keeps the default certificate.
            Err(error) => warn!(error = format!("{error:#}"), "certificate not served"),
        }
    }
    let mut expiry: Vec<(String, i64)> = Vec::new();
    if let Some(resolver) = &relay.certificates {
        let mut by_name = HashMap::new();
        for certificate in &opened {
            match crate::tls::uploaded_pair(&certificate.chain_pem, certificate.key_pkcs8.clone()) {
                Ok(pair) => {
                    for name in &certificate.names {
                        by_name.insert(name.clone(), pair.clone());
                    }
                    if let Some(entry) = directory.certificate(&certificate.domain) {
                        expiry.push((certificate.domain.clone(), entry.not_after));
                    }
                }
                Err(error) => {
                    warn!(domain = %certificate.domain, error = format!("{error:#}"), "certificate not served")
                }
            }
        }
        resolver.set_uploaded(by_name);
        for (name, pair) in resolver.files() {
            if !expiry.iter().any(|(domain, _)| domain == name)
                && let Some((_, not_after)) = pair
                    .cert
                    .first()
                    .and_then(|c| tenantry_core::mail::certificate::subject_and_expiry(c))
            {
                expiry.push((name.to_string(), not_after));
            }
        }
    }
    relay.set_certificate_expiry(expiry);
    if let Some(dir) = &relay.config.dovecot.dir {
        if let Err(error) = dovecot::write_accounts(dir, &directory, &relay.maildir) {
            warn!(error = format!("{error:#}"), "Dovecot accounts not written");
        }
        if let Err(error) =
            dovecot::write_certificates(dir, &opened, &relay.config.dovecot.reload_command)
        {
            warn!(
                error = format!("{error:#}"),
                "Dovecot certificates not written"
            );
        }
    }
}
