//! Verified peers: mail from some sending domains is accepted only from a client that
//! presented a certificate the relay verified (health-mail operators exchange mail over
//! TLS with certificates from a sector authority).

use super::address::Address;
use super::policy::Reply;
use alloc::string::String;
use alloc::vec::Vec;

/// Mail from a required peer without a verified client certificate.
pub const CLIENT_CERTIFICATE_REQUIRED: Reply = Reply {
    code: 530,
    enhanced: "5.7.0",
    text: "A verified TLS client certificate is required for this sender",
};

/// The sending domains that must present a verified client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRequirement {
    domains: Vec<String>,
    everyone: bool,
}

impl PeerRequirement {
    /// From the configured list: lowercase domains, or `*` for every sender.
    pub fn new(list: &[String]) -> Self {
        PeerRequirement {
            everyone: list.iter().any(|d| d == "*"),
            domains: list.iter().filter(|d| *d != "*").cloned().collect(),
        }
    }

    /// Whether mail with this `MAIL FROM` is accepted from a client whose certificate
    /// was (`verified`) or was not verified. The null sender matches only `*`.
    pub fn check(&self, from: &str, verified: bool) -> Result<(), Reply> {
        if verified || !self.requires(from) {
            return Ok(());
        }
        Err(CLIENT_CERTIFICATE_REQUIRED)
    }

    /// As [`PeerRequirement::check`], for every address of the message's `From:` fields:
    /// the domain DMARC aligns on, which a peer's impostor could set apart from the
    /// envelope.
    pub fn check_header_from(&self, from: &[&str], verified: bool) -> Result<(), Reply> {
        from.iter()
            .try_for_each(|address| self.check(address, verified))
    }

    fn requires(&self, from: &str) -> bool {
        if self.everyone {
            return true;
        }
        match Address::parse(from) {
            // A subdomain aligns with its domain under relaxed DMARC: it is required too.
            Ok(address) => self.domains.iter().any(|d| {
                address
                    .domain()
                    .strip_suffix(d.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
            }),
            // An address that does not parse is refused elsewhere; it is nobody's peer.
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn listed_domains_need_a_verified_certificate() {
        let required = PeerRequirement::new(&["chu-lyon.example".to_string()]);
        assert_eq!(
            required.check("dr@chu-lyon.example", false),
            Err(CLIENT_CERTIFICATE_REQUIRED)
        );
        assert_eq!(
            required.check("DR@CHU-LYON.EXAMPLE", false),
            Err(CLIENT_CERTIFICATE_REQUIRED)
        );
        assert_eq!(required.check("dr@chu-lyon.example", true), Ok(()));
        assert_eq!(required.check("someone@elsewhere.example", false), Ok(()));
        assert_eq!(
            required.check("dr@mail.chu-lyon.example", false),
            Err(CLIENT_CERTIFICATE_REQUIRED),
            "a subdomain aligns with its domain"
        );
        assert_eq!(required.check("dr@notchu-lyon.example", false), Ok(()));
        assert_eq!(
            required.check_header_from(&["a@elsewhere.example", "dr@chu-lyon.example"], false),
            Err(CLIENT_CERTIFICATE_REQUIRED)
        );
        assert_eq!(
            required.check_header_from(&["dr@chu-lyon.example"], true),
            Ok(())
        );
        assert_eq!(required.check_header_from(&[], false), Ok(()));
        assert_eq!(
            required.check("", false),
            Ok(()),
            "bounces from unlisted peers"
        );
        let everyone = PeerRequirement::new(&["*".to_string()]);
        assert!(everyone.check("", false).is_err());
        assert!(everyone.check("a@b.example", false).is_err());
        assert!(
            PeerRequirement::default()
                .check("a@b.example", false)
                .is_ok()
        );
    }
}
