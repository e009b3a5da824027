//! Slug and hostname rules.
//!
//! A slug is a single DNS label so that it can be a subdomain of the platform domain.
//! A hostname is what a `Host` header names, normalised: lowercase, without port or
//! trailing dot, ASCII only (IDNs arrive in punycode `xn--` form), never an IP literal.

use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Serialize};

/// Why a slug or hostname was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing was given.
    #[error("is empty")]
    Empty,
    /// Over 63 octets for a label, 253 for a hostname.
    #[error("is too long")]
    TooLong,
    /// A character outside `a-z`, `0-9` and `-` (slugs refuse uppercase too).
    #[error("contains a character outside a-z, 0-9 and '-'")]
    InvalidCharacter,
    /// A label that starts or ends with `-`, or an empty label.
    #[error("has a label that is empty or starts or ends with '-'")]
    InvalidLabel,
    /// An `xn--` label that cannot be punycode, or `--` in positions 3-4 otherwise.
    #[error("has a malformed punycode label")]
    InvalidPunycode,
    /// An IPv4 or IPv6 literal.
    #[error("is an IP address, not a hostname")]
    IpLiteral,
    /// A port that is not a number from 1 to 65535.
    #[error("has an invalid port")]
    InvalidPort,
    /// A slug that the platform keeps for itself.
    #[error("is reserved")]
    Reserved,
}

/// Slugs that would clash with the platform's own subdomains and paths.
const RESERVED_SLUGS: &[&str] = &[
    "www", "api", "app", "admin", "mail", "smtp", "mx", "static", "assets", "status", "webhook",
    "t", "v1",
];

const MAX_LABEL: usize = 63;
const MAX_HOSTNAME: usize = 253;

fn check_label(label: &str) -> Result<(), NameError> {
    let bytes = label.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::InvalidLabel);
    }
    if bytes.len() > MAX_LABEL {
        return Err(NameError::TooLong);
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err(NameError::InvalidCharacter);
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return Err(NameError::InvalidLabel);
    }
    // RFC 5891 4.2.3.1: "--" in positions 3 and 4 is reserved for A-labels ("xn--").
    if bytes.len() >= 4 && &bytes[2..4] == b"--" && !label.starts_with("xn--") {
        return Err(NameError::InvalidPunycode);
    }
    Ok(())
}

/// A tenant slug: one lowercase DNS label, 2 to 63 characters, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Accepts only the canonical form; creation should not guess what was meant.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        check_label(text)?;
        if text.len() < 2 {
            return Err(NameError::InvalidLabel);
        }
        if RESERVED_SLUGS.contains(&text) {
            return Err(NameError::Reserved);
        }
        Ok(Slug(text.to_string()))
    }

    /// Lowercases first: how a slug arriving in a header, path or query is read.
    pub fn parse_lenient(text: &str) -> Result<Self, NameError> {
        Slug::parse(&text.to_ascii_lowercase())
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Slug::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A normalised DNS hostname.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hostname(String);

impl Hostname {
    /// Parses a hostname as a `Host` header carries it: a port and one trailing dot are
    /// dropped, letters are lowercased, IP literals are refused.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let host = strip_port(text)?;
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() {
            return Err(NameError::Empty);
        }
        if host.len() > MAX_HOSTNAME {
            return Err(NameError::TooLong);
        }
        if !host.is_ascii() {
            return Err(NameError::InvalidCharacter);
        }
        let lower = host.to_ascii_lowercase();
        if is_ipv4_literal(&lower) {
            return Err(NameError::IpLiteral);
        }
        for label in lower.split('.') {
            check_label(label)?;
        }
        // A numeric top-level label is how RFC 3696 2 tells a hostname from an address.
        if lower
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(NameError::IpLiteral);
        }
        Ok(Hostname(lower))
    }

    /// The hostname text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The label in front of `parent` when `self` is exactly one level below it.
    pub fn single_label_under(&self, parent: &Hostname) -> Option<&str> {
        let prefix = self.0.strip_suffix(parent.as_str())?;
        let label = prefix.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }
}

impl TryFrom<String> for Hostname {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Hostname::parse(&value)
    }
}

impl From<Hostname> for String {
    fn from(host: Hostname) -> String {
        host.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn strip_port(text: &str) -> Result<&str, NameError> {
    if text.starts_with('[') {
        return Err(NameError::IpLiteral);
    }
    match text.rsplit_once(':') {
        None => Ok(text),
        Some((host, port)) => {
            if host.contains(':') {
                return Err(NameError::IpLiteral);
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(host),
                _ => Err(NameError::InvalidPort),
            }
        }
    }
}

fn is_ipv4_literal(host: &str) -> bool {
    let mut parts = 0;
    for part in host.split('.') {
        parts += 1;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    (1..=4).contains(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn slug_table() {
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("paris", Ok("paris")),
            ("clinique-lyon-2", Ok("clinique-lyon-2")),
            ("ab", Ok("ab")),
            ("a", Err(NameError::InvalidLabel)),
            ("", Err(NameError::Empty)),
            ("Paris", Err(NameError::InvalidCharacter)),
            ("-paris", Err(NameError::InvalidLabel)),
            ("paris-", Err(NameError::InvalidLabel)),
            ("pa.ris", Err(NameError::InvalidCharacter)),
            ("pa_ris", Err(NameError::InvalidCharacter)),
            ("www", Err(NameError::Reserved)),
            ("admin", Err(NameError::Reserved)),
            ("ab--cd", Err(NameError::InvalidPunycode)),
            ("xn--bcher-kva", Ok("xn--bcher-kva")),
            ("pärís", Err(NameError::InvalidCharacter)),
        ];
        for (input, expected) in cases {
            let got = Slug::parse(input).map(|s| s.as_str().to_string());
            assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{input:?}");
        }
        assert_eq!(Slug::parse(&"a".repeat(63)).unwrap().as_str().len(), 63);
        assert_eq!(Slug::parse(&"a".repeat(64)), Err(NameError::TooLong));
        assert_eq!(Slug::parse_lenient("PARIS").unwrap().as_str(), "paris");
    }

    #[test]
    fn hostname_table() {
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("paris.app.example", Ok("paris.app.example")),
            ("Paris.App.Example.", Ok("paris.app.example")),
            ("paris.app.example:8787", Ok("paris.app.example")),
            ("localhost", Ok("localhost")),
            ("xn--bcher-kva.example", Ok("xn--bcher-kva.example")),
            ("bücher.example", Err(NameError::InvalidCharacter)),
            ("127.0.0.1", Err(NameError::IpLiteral)),
            ("127.0.0.1:8787", Err(NameError::IpLiteral)),
            ("[::1]:8787", Err(NameError::IpLiteral)),
            ("::1", Err(NameError::IpLiteral)),
            ("host.123", Err(NameError::IpLiteral)),
            ("host:0", Err(NameError::InvalidPort)),
            ("host:99999", Err(NameError::InvalidPort)),
            ("host:+80", Err(NameError::InvalidPort)),
            ("host:", Err(NameError::InvalidPort)),
            ("a..b", Err(NameError::InvalidLabel)),
            (".", Err(NameError::Empty)),
            ("", Err(NameError::Empty)),
            ("a.-b.example", Err(NameError::InvalidLabel)),
            ("under_score.example", Err(NameError::InvalidCharacter)),
            ("xn--.example", Err(NameError::InvalidLabel)),
            ("ab--cd.example", Err(NameError::InvalidPunycode)),
        ];
        for (input, expected) in cases {
            let got = Hostname::parse(input).map(|h| h.as_str().to_string());
            assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{input:?}");
        }
        let long_label = "a".repeat(64);
        assert_eq!(
            Hostname::parse(&alloc::format!("{long_label}.example")),
            Err(NameError::TooLong)
        );
        let long = alloc::format!("{}.example", ["abcdefghi"; 25].join("."));
        assert_eq!(Hostname::parse(&long), Err(NameError::TooLong));
    }

    #[test]
    fn single_label_under_parent() {
        let parent = Hostname::parse("app.example").unwrap();
        let sub = |h: &str| {
            Hostname::parse(h)
                .unwrap()
                .single_label_under(&parent)
                .map(str::to_string)
        };
        assert_eq!(sub("paris.app.example").as_deref(), Some("paris"));
        assert_eq!(sub("app.example"), None);
        assert_eq!(sub("a.paris.app.example"), None);
        assert_eq!(sub("evilapp.example"), None);
        assert_eq!(sub("paris.app.example.evil"), None);
    }

    proptest! {
        #[test]
        fn hostname_parse_never_panics_and_is_normal(input in "\\PC{0,80}") {
            if let Ok(host) = Hostname::parse(&input) {
                let text = host.as_str();
                prop_assert!(text.len() <= 253);
                prop_assert!(!text.ends_with('.'));
                prop_assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
                prop_assert_eq!(Hostname::parse(text).unwrap(), host.clone());
            }
        }

        #[test]
        fn generated_hostnames_parse_in_any_case(labels in proptest::collection::vec("[a-z][a-z0-9]{0,10}", 1..5), port in proptest::option::of(1u16..)) {
            let host = labels.join(".") + ".example";
            let mut shouted = host.to_ascii_uppercase();
            if let Some(port) = port {
                shouted = alloc::format!("{shouted}:{port}");
            }
            let parsed = Hostname::parse(&shouted).unwrap();
            prop_assert_eq!(parsed.as_str(), host.as_str());
        }

        #[test]
        fn slug_parse_accepts_only_labels(input in "[a-zA-Z0-9._-]{0,70}") {
            if let Ok(slug) = Slug::parse(&input) {
                prop_assert!(slug.as_str().len() >= 2 && slug.as_str().len() <= 63);
                prop_assert!(!slug.as_str().starts_with('-') && !slug.as_str().ends_with('-'));
                prop_assert!(Hostname::parse(slug.as_str()).is_ok() || slug.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
