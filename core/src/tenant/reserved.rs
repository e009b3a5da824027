//! Names no tenant may ever hold, proven or not: the platform's own domain and everything
//! under it, the domain the platform sends its mail from, every relay hostname, and the
//! operator's own list. One rule for mail domains and for custom web hostnames, so that a
//! tenant can neither receive the platform's mail (a password reset of its superadmin) nor
//! answer for the platform's names.

use super::names::Hostname;
use alloc::string::String;
use alloc::vec::Vec;

/// The names the platform keeps for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedNames {
    roots: Vec<(Hostname, Reason)>,
}

/// Why a name is reserved (said in the refusal, never more than the operator configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The platform's domain (`PLATFORM_DOMAIN`) or a name under it.
    #[error("is the platform's domain or under it")]
    PlatformDomain,
    /// The domain of the platform's sender address (`MAIL_FROM`) or under it.
    #[error("is the domain the platform sends its mail from, or under it")]
    PlatformMail,
    /// A relay's hostname (`RELAY_HOSTNAMES`) or under it.
    #[error("is a mail relay's hostname, or under it")]
    RelayHostname,
    /// On the operator's list (`RESERVED_DOMAINS`) or under a name on it.
    #[error("is reserved by the platform operator")]
    Operator,
}

/// A name refused because the platform keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}; no tenant may claim it")]
pub struct Reserved(pub Reason);

impl Reserved {
    /// The problem's code: a request naming a reserved name is invalid.
    pub const fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::InvalidRequest
    }
}

crate::problem::problem_from!(Reserved);

impl ReservedNames {
    /// Adds a root: it and every name under it are reserved. Text that is no hostname
    /// (an empty list entry, a typo) is returned as an error for the shell to report as
    /// misconfiguration, never ignored.
    pub fn add(&mut self, name: &str, reason: Reason) -> Result<(), String> {
        let host = Hostname::parse(name).map_err(|_| String::from(name))?;
        if !self.roots.iter().any(|(h, _)| *h == host) {
            self.roots.push((host, reason));
        }
        Ok(())
    }

    /// Builder form of [`ReservedNames::add`].
    pub fn with(mut self, name: &str, reason: Reason) -> Result<Self, String> {
        self.add(name, reason)?;
        Ok(self)
    }

    /// Refuses `name` when it is a reserved root or lies under one.
    pub fn check(&self, name: &Hostname) -> Result<(), Reserved> {
        for (root, reason) in &self.roots {
            if covers(root.as_str(), name.as_str()) {
                return Err(Reserved(*reason));
            }
        }
        Ok(())
    }
}

/// `name` is `root` or a name under it (label-wise: `xapp.example` is not under
/// `app.example`).
fn covers(root: &str, name: &str) -> bool {
    name == root
        || name
            .strip_suffix(root)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn reserved() -> ReservedNames {
        ReservedNames::default()
            .with("tenantry.localhost", Reason::PlatformDomain)
            .and_then(|r| r.with("mail.tenantry.example", Reason::PlatformMail))
            .and_then(|r| r.with("MX1.Relay.example.", Reason::RelayHostname))
            .and_then(|r| r.with("gmail.example", Reason::Operator))
            .unwrap()
    }

    #[test]
    fn the_platform_names_and_everything_under_them_are_refused() {
        let table: &[(&str, Option<Reason>)] = &[
            ("tenantry.localhost", Some(Reason::PlatformDomain)),
            ("TENANTRY.localhost.", Some(Reason::PlatformDomain)),
            ("paris.tenantry.localhost", Some(Reason::PlatformDomain)),
            ("a.b.tenantry.localhost", Some(Reason::PlatformDomain)),
            ("mail.tenantry.example", Some(Reason::PlatformMail)),
            ("x.mail.tenantry.example", Some(Reason::PlatformMail)),
            ("mx1.relay.example", Some(Reason::RelayHostname)),
            ("gmail.example", Some(Reason::Operator)),
            ("eu.gmail.example", Some(Reason::Operator)),
            // Label-wise: a name that only ends with the same letters is someone else's.
            ("xtenantry.localhost", None),
            ("notgmail.example", None),
            // A parent or a sibling is not reserved.
            ("tenantry.example", None),
            ("relay.example", None),
            ("hopital-paris.example", None),
        ];
        let names = reserved();
        for (name, expected) in table {
            let host = Hostname::parse(name).unwrap();
            assert_eq!(names.check(&host).err().map(|r| r.0), *expected, "{name}");
        }
    }

    #[test]
    fn a_misconfigured_entry_is_an_error_not_a_hole() {
        assert_eq!(
            ReservedNames::default().add("not a host", Reason::Operator),
            Err("not a host".into())
        );
        let problem = crate::Problem::from(Reserved(Reason::PlatformDomain));
        assert_eq!(problem.code, crate::ErrorCode::InvalidRequest);
        assert!(problem.detail.contains("no tenant may claim it"));
    }
}
