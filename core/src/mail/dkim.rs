//! DKIM keys of hosted domains: selectors, the DNS record to publish, rotation (two
//! selectors live: the one that signs and the one before it, still published so mail
//! in flight verifies), and how private keys are sealed on their way to the relay.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// A signing algorithm (RFC 6376 `rsa-sha256`, RFC 8463 `ed25519-sha256`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    /// Ed25519 (small records; not every verifier knows it yet).
    Ed25519,
    /// RSA 2048 with SHA-256 (every verifier knows it).
    Rsa,
}

impl DkimAlgorithm {
    /// Parses the API's name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            "rsa" => Some(DkimAlgorithm::Rsa),
            _ => None,
        }
    }

    /// The stored and `k=` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Ed25519 => "ed25519",
            DkimAlgorithm::Rsa => "rsa",
        }
    }
}

/// Where a key stands in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimState {
    /// Signs outgoing mail.
    Active,
    /// Replaced, still published for mail signed before the rotation.
    Previous,
    /// No longer published; its private key is gone.
    Retired,
}

impl DkimState {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DkimState::Active => "active",
            DkimState::Previous => "previous",
            DkimState::Retired => "retired",
        }
    }
}

/// A DKIM key as the relay needs it: the private key sealed for the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimEntry {
    /// Owning tenant.
    pub tenant_id: String,
    /// The key's id (`dk_...`).
    pub id: String,
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// Active or previous (retired keys come as tombstones).
    pub state: DkimState,
    /// The PKCS#8 private key sealed with the relay key for [`sealed_field`]; empty in a
    /// tombstone.
    #[serde(default)]
    pub sealed_key: String,
    /// Version of the last change.
    pub version: u64,
    /// A tombstone.
    #[serde(default)]
    pub deleted: bool,
}

/// The key id under which the gateway seals private keys for relays (`RELAY_SEAL_KEY`
/// on the gateway, `seal_key` on the relay).
pub const RELAY_SEAL_KEY_ID: &str = "relay";

/// The sealing field of a DKIM private key (sealed data is bound to its tenant and field,
/// so a key cannot be replayed as another's).
pub fn sealed_field(key_id: &str) -> String {
    format!("dkim:{key_id}")
}

/// A selector for a key made at `now` (seconds): `t` + date + 6 hex digits, unique
/// enough to never reuse a published name (RFC 6376 3.1 allows letters, digits, `-`).
pub fn selector(now: i64, random: [u8; 3]) -> String {
    let (year, month, day) = crate::calendar::date_of(now);
    format!(
        "t{year:04}{month:02}{day:02}-{:02x}{:02x}{:02x}",
        random[0], random[1], random[2]
    )
}

/// The DNS name of a selector's record.
pub fn record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// The TXT record to publish: `public_key` is the raw 32 bytes for Ed25519 (RFC 8463)
/// and the DER SubjectPublicKeyInfo for RSA.
pub fn txt_record(algorithm: DkimAlgorithm, public_key: &[u8]) -> String {
    use base64::Engine;
    format!(
        "v=DKIM1; k={}; p={}",
        algorithm.as_str(),
        base64::engine::general_purpose::STANDARD.encode(public_key)
    )
}

/// A domain's keys after a new one is made: the new one signs, the active one becomes
/// previous, the previous one retires. Returns the `(id, state)` changes to write.
pub fn rotate<'a>(
    existing: impl IntoIterator<Item = (&'a str, DkimState)>,
) -> Vec<(String, DkimState)> {
    existing
        .into_iter()
        .filter_map(|(id, state)| match state {
            DkimState::Active => Some((String::from(id), DkimState::Previous)),
            DkimState::Previous => Some((String::from(id), DkimState::Retired)),
            DkimState::Retired => None,
        })
        .collect()
}

/// Header fields signed, in this order when present (RFC 6376 5.4.1's recommendations).
pub const SIGNED_HEADERS: [&str; 9] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
];

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn selectors_records_and_names() {
        assert_eq!(
            selector(1_795_000_000, [0xab, 0x01, 0xff]),
            "t20261118-ab01ff"
        );
        assert_eq!(record_name("s1", "paris.test"), "s1._domainkey.paris.test");
        assert_eq!(
            txt_record(DkimAlgorithm::Ed25519, &[0u8; 32]),
            "v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
        assert_eq!(DkimAlgorithm::parse("rsa"), Some(DkimAlgorithm::Rsa));
        assert_eq!(DkimAlgorithm::parse("dsa"), None);
    }

    #[test]
    fn rotation_keeps_two_selectors_live() {
        let changes = rotate([
            ("dk_a", DkimState::Active),
            ("dk_b", DkimState::Previous),
            ("dk_c", DkimState::Retired),
        ]);
        assert_eq!(
            changes,
            [
                ("dk_a".into(), DkimState::Previous),
                ("dk_b".into(), DkimState::Retired)
            ]
        );
    }
}
