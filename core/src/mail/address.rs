//! Mail addresses within RFC 5321 limits.
//!
//! Local parts are dot-atoms (RFC 5321 4.1.2); quoted local parts and address literals
//! are refused because no hosted mailbox can have one. Comparison is case-insensitive
//! on the whole address, which is what mailbox owners expect.

use crate::tenant::Hostname;
use alloc::string::String;
use core::fmt;

/// RFC 5321 4.5.3.1.1.
pub const MAX_LOCAL_LEN: usize = 64;
/// RFC 5321 4.5.3.1.2.
pub const MAX_DOMAIN_LEN: usize = 255;
/// RFC 5321 4.5.3.1.3 allows a 256-octet path including `<` and `>`.
pub const MAX_ADDRESS_LEN: usize = 254;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or nothing before or after it.
    #[error("an address is local@domain")]
    MissingAt,
    /// Over 64 octets before `@`, or over 254 in all.
    #[error("the address is longer than RFC 5321 allows")]
    TooLong,
    /// Not a dot-atom: an empty atom, a leading or trailing dot, or a character that
    /// needs quoting.
    #[error("the local part is not a dot-atom")]
    InvalidLocalPart,
    /// A quoted local part.
    #[error("quoted local parts are not supported")]
    QuotedLocalPart,
    /// The domain is not a hostname (address literals included).
    #[error("the domain is not a valid hostname")]
    InvalidDomain,
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// A mail address, normalised to lowercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    text: String,
    at: usize,
}

impl Address {
    /// Parses `local@domain` (without angle brackets).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = text.rsplit_once('@').ok_or(AddressError::MissingAt)?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::MissingAt);
        }
        if local.starts_with('"') {
            return Err(AddressError::QuotedLocalPart);
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(AddressError::TooLong);
        }
        if !local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(is_atext))
        {
            return Err(AddressError::InvalidLocalPart);
        }
        // `Hostname::parse` would accept a port, which no address may carry.
        if domain.contains(':') || domain.ends_with('.') {
            return Err(AddressError::InvalidDomain);
        }
        let domain = Hostname::parse(domain).map_err(|_| AddressError::InvalidDomain)?;
        let mut normal = local.to_ascii_lowercase();
        normal.push('@');
        let at = local.len();
        normal.push_str(domain.as_str());
        Ok(Address { text: normal, at })
    }

    /// Parses an SMTP path as `RCPT TO:` carries it: `<local@domain>` or bare.
    pub fn parse_path(path: &str) -> Result<Self, AddressError> {
        let path = path.trim();
        let inner = path
            .strip_prefix('<')
            .and_then(|p| p.strip_suffix('>'))
            .unwrap_or(path);
        Address::parse(inner)
    }

    /// `local@domain`, lowercase.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local part, lowercase.
    pub fn local(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain, lowercase.
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// `local@domain` without a `+tag` sub-address, when there is one.
    pub fn without_subaddress(&self) -> Option<Address> {
        let (base, _) = self.local().split_once('+')?;
        if base.is_empty() {
            return None;
        }
        let mut text = String::from(base);
        text.push('@');
        text.push_str(self.domain());
        Some(Address {
            at: base.len(),
            text,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn address_table() {
        let cases: &[(&str, Result<&str, AddressError>)] = &[
            (
                "Alice@Hopital-Paris.example",
                Ok("alice@hopital-paris.example"),
            ),
            (
                "dr.martin+urgent@clinique-lyon.example",
                Ok("dr.martin+urgent@clinique-lyon.example"),
            ),
            ("o'brien@x.example", Ok("o'brien@x.example")),
            ("no-at-sign", Err(AddressError::MissingAt)),
            ("@x.example", Err(AddressError::MissingAt)),
            ("a@", Err(AddressError::MissingAt)),
            (".a@x.example", Err(AddressError::InvalidLocalPart)),
            ("a.@x.example", Err(AddressError::InvalidLocalPart)),
            ("a..b@x.example", Err(AddressError::InvalidLocalPart)),
            ("a b@x.example", Err(AddressError::InvalidLocalPart)),
            ("a(b)@x.example", Err(AddressError::InvalidLocalPart)),
            ("\"a b\"@x.example", Err(AddressError::QuotedLocalPart)),
            ("a@[127.0.0.1]", Err(AddressError::InvalidDomain)),
            ("a@127.0.0.1", Err(AddressError::InvalidDomain)),
            ("a@x.example:25", Err(AddressError::InvalidDomain)),
            ("a@x.example.", Err(AddressError::InvalidDomain)),
            ("a@x..example", Err(AddressError::InvalidDomain)),
            ("é@x.example", Err(AddressError::InvalidLocalPart)),
        ];
        for (input, expected) in cases {
            let got = Address::parse(input).map(|a| a.as_str().to_owned());
            assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{input:?}");
        }
        let local64 = "a".repeat(64);
        assert!(Address::parse(&alloc::format!("{local64}@x.example")).is_ok());
        assert_eq!(
            Address::parse(&alloc::format!("a{local64}@x.example")),
            Err(AddressError::TooLong)
        );
        let long_domain = ["abcdefghij"; 23].join(".");
        assert_eq!(
            Address::parse(&alloc::format!("{local64}@{long_domain}.example")),
            Err(AddressError::TooLong)
        );
    }

    #[test]
    fn parts_paths_and_subaddresses() {
        let a = Address::parse_path(" <Bob+Tag@Lab.Example> ").unwrap();
        assert_eq!((a.local(), a.domain()), ("bob+tag", "lab.example"));
        assert_eq!(a.without_subaddress().unwrap().as_str(), "bob@lab.example");
        assert_eq!(
            Address::parse("+x@lab.example")
                .unwrap()
                .without_subaddress(),
            None
        );
        assert_eq!(
            Address::parse("bob@lab.example")
                .unwrap()
                .without_subaddress(),
            None
        );
        assert!(Address::parse_path("<>").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_respects_limits(text in "\\PC{0,300}") {
            if let Ok(address) = Address::parse(&text) {
                prop_assert!(address.as_str().len() <= MAX_ADDRESS_LEN);
                prop_assert!(address.local().len() <= MAX_LOCAL_LEN);
                prop_assert_eq!(Address::parse(address.as_str()).unwrap(), address.clone());
            }
        }

        #[test]
        fn generated_addresses_parse(local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-z0-9]{1,10}){0,2}", domain in "[a-z]{1,10}\\.[a-z]{2,6}") {
            let text = alloc::format!("{local}@{domain}");
            let address = Address::parse(&text).unwrap();
            prop_assert_eq!(address.local(), local.to_ascii_lowercase());
            prop_assert_eq!(address.domain(), domain);
        }
    }
}
