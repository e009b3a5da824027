//! Per-tenant sealing of third-party credentials (CRM API keys, WhatsApp app secrets).
//!
//! Each tenant gets its own AES-256-GCM key, derived as HKDF-SHA256(master key, salt,
//! info = tenant id), so a key leaked for one tenant opens nothing of another. The
//! associated data binds the tenant id and the field name, so a sealed value copied to
//! another tenant or another field fails to open. The sealed form names the master key
//! id, so the master key can rotate: old values open with the old key until resealed.
//!
//! Sealed form: `v1.{key id}.{base64url(nonce || ciphertext || tag)}`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;

const VERSION: &str = "v1";
const HKDF_SALT: &[u8] = b"tenantry/seal/v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why sealing or opening failed. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The master key is not 64 hex characters.
    #[error("the master key must be 64 hex characters (32 bytes)")]
    InvalidMasterKey,
    /// A key id that is empty or contains `.`.
    #[error("a key id must be 1 to 32 characters of a-z, A-Z, 0-9, '-' or '_'")]
    InvalidKeyId,
    /// The sealed value is not `v1.{kid}.{base64url}` of a plausible length.
    #[error("the sealed value is malformed")]
    Malformed,
    /// The sealed value names a key this keyring does not have.
    #[error("the sealed value was made with key {0:?}, which is not configured")]
    UnknownKey(String),
    /// Authentication failed: wrong tenant, wrong field, or tampered bytes.
    #[error("the sealed value does not open for this tenant and field")]
    Unauthentic,
}

/// A master key and its id.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: [u8; 32],
}

impl core::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A key from its id and 32 bytes.
    pub fn new(id: &str, bytes: [u8; 32]) -> Result<Self, SealError> {
        let valid_id = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_id {
            return Err(SealError::InvalidKeyId);
        }
        Ok(MasterKey {
            id: id.to_string(),
            bytes,
        })
    }

    /// A key from its id and 64 hex characters (`SEAL_MASTER_KEY`).
    pub fn from_hex(id: &str, hex: &str) -> Result<Self, SealError> {
        let bytes = crate::encoding::hex_decode_array::<32>(hex.trim().as_bytes())
            .ok_or(SealError::InvalidMasterKey)?;
        MasterKey::new(id, bytes)
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn tenant_cipher(&self, tenant_id: &str) -> Aes256Gcm {
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), &self.bytes);
        let mut key = [0u8; 32];
        hkdf.expand(tenant_id.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Aes256Gcm::new(&key.into())
    }
}

/// The current master key and the retired ones still needed to open old values.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    retired: Vec<MasterKey>,
}

fn associated_data(tenant_id: &str, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + tenant_id.len() + field.len());
    aad.extend_from_slice(b"tenantry/seal/v1\0");
    aad.extend_from_slice(tenant_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad
}

impl Keyring {
    /// A keyring that seals with `current` and also opens with `retired`.
    pub fn new(current: MasterKey, retired: Vec<MasterKey>) -> Self {
        Keyring { current, retired }
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        core::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == id)
    }

    /// Seals `plaintext` for `tenant_id`'s `field`. The nonce must be fresh random bytes
    /// from the caller: a nonce reused under one tenant key breaks GCM.
    pub fn seal(
        &self,
        tenant_id: &str,
        field: &str,
        plaintext: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> String {
        let cipher = self.current.tenant_cipher(tenant_id);
        let aad = associated_data(tenant_id, field);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ciphertext);
        let mut sealed = alloc::format!("{VERSION}.{}.", self.current.id);
        URL_SAFE_NO_PAD.encode_string(&body, &mut sealed);
        sealed
    }

    /// Opens a value sealed for `tenant_id`'s `field`.
    pub fn open(&self, tenant_id: &str, field: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let (key_id, body) = split_sealed(sealed)?;
        let key = self
            .key(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let aad = associated_data(tenant_id, field);
        key.tenant_cipher(tenant_id)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Unauthentic)
    }

    /// Whether a sealed value was made with a retired key and should be resealed.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        split_sealed(sealed).is_ok_and(|(key_id, _)| key_id != self.current.id)
    }

    /// The value sealed again under the current key when it was sealed under a retired
    /// one (`None` when it is current already). A value that cannot be opened is an
    /// error, never resealed as something else.
    pub fn reseal(
        &self,
        tenant_id: &str,
        field: &str,
        sealed: &str,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Option<String>, SealError> {
        let plaintext = self.open(tenant_id, field, sealed)?;
        if !self.needs_reseal(sealed) {
            return Ok(None);
        }
        Ok(Some(self.seal(tenant_id, field, &plaintext, nonce)))
    }
}

fn split_sealed(sealed: &str) -> Result<(&str, Vec<u8>), SealError> {
    let mut parts = sealed.splitn(3, '.');
    let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SealError::Malformed);
    };
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed)?;
    if key_id.is_empty() || body.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Malformed);
    }
    Ok((key_id, body))
}

/// How a secret is shown back to its owner: its last four characters, the rest masked.
/// Secrets of eight characters or fewer are masked entirely.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "••••".to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    alloc::format!("••••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn keyring() -> Keyring {
        Keyring::new(
            MasterKey::new("k2", [2u8; 32]).unwrap(),
            alloc::vec![MasterKey::new("k1", [1u8; 32]).unwrap()],
        )
    }

    #[test]
    fn seals_and_opens_for_the_same_tenant_and_field_only() {
        let ring = keyring();
        let sealed = ring.seal("t_paris", "crm.api_key", b"espo-secret", [7u8; 12]);
        assert!(sealed.starts_with("v1.k2."));
        assert!(!sealed.contains("espo-secret"));
        assert_eq!(
            ring.open("t_paris", "crm.api_key", &sealed).unwrap(),
            b"espo-secret"
        );
        assert_eq!(
            ring.open("t_lyon", "crm.api_key", &sealed),
            Err(SealError::Unauthentic)
        );
        assert_eq!(
            ring.open("t_paris", "crm.admin_password", &sealed),
            Err(SealError::Unauthentic)
        );
    }

    #[test]
    fn every_tampered_byte_fails() {
        let ring = keyring();
        let sealed = ring.seal("t1", "f", b"secret value", [3u8; 12]);
        let (prefix, body) = sealed.rsplit_once('.').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let value = alloc::format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(&tampered));
            assert_eq!(
                ring.open("t1", "f", &value),
                Err(SealError::Unauthentic),
                "byte {i}"
            );
        }
    }

    #[test]
    fn rotation_opens_old_values_and_flags_them() {
        let old_ring = Keyring::new(MasterKey::new("k1", [1u8; 32]).unwrap(), alloc::vec![]);
        let old = old_ring.seal("t1", "f", b"v", [0u8; 12]);
        let ring = keyring();
        assert_eq!(ring.open("t1", "f", &old).unwrap(), b"v");
        assert!(ring.needs_reseal(&old));
        assert!(!ring.needs_reseal(&ring.seal("t1", "f", b"v", [0u8; 12])));
        let stranger = Keyring::new(MasterKey::new("k9", [9u8; 32]).unwrap(), alloc::vec![]);
        assert_eq!(
            stranger.open("t1", "f", &old),
            Err(SealError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn malformed_values_and_keys() {
        let ring = keyring();
        for bad in [
            "",
            "v1",
            "v1.k2",
            "v2.k2.AAAA",
            "v1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.k2.!!!",
            "v1.k2.AAAA",
        ] {
            assert_eq!(
                ring.open("t", "f", bad),
                Err(SealError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            MasterKey::from_hex("k", "00").unwrap_err(),
            SealError::InvalidMasterKey
        );
        assert!(MasterKey::from_hex("k", &"ab".repeat(32)).is_ok());
        assert_eq!(
            MasterKey::new("a.b", [0; 32]).unwrap_err(),
            SealError::InvalidKeyId
        );
        assert!(!alloc::format!("{:?}", MasterKey::new("k", [0xaa; 32]).unwrap()).contains("170"));
    }

    #[test]
    fn masking_shows_only_the_tail() {
        assert_eq!(mask("EAAGm0PX4ZCpsBAKZAZD"), "••••ZAZD");
        assert_eq!(mask("short"), "••••");
        assert_eq!(mask(""), "••••");
    }

    #[test]
    fn reseal_moves_old_values_to_the_current_key_once() {
        let old = MasterKey::new("k1", [1u8; 32]).unwrap();
        let new = MasterKey::new("k2", [2u8; 32]).unwrap();
        let before = Keyring::new(old.clone(), alloc::vec![]);
        let sealed = before.seal("t1", "whatsapp.app_secret", b"s3cret", [5u8; 12]);
        let rotated = Keyring::new(new.clone(), alloc::vec![old]);
        let resealed = rotated
            .reseal("t1", "whatsapp.app_secret", &sealed, [6u8; 12])
            .unwrap()
            .unwrap();
        assert!(!rotated.needs_reseal(&resealed));
        assert_eq!(
            rotated.reseal("t1", "whatsapp.app_secret", &resealed, [7u8; 12]),
            Ok(None)
        );
        // Only the new key is needed now.
        let only_new = Keyring::new(new, alloc::vec![]);
        assert_eq!(
            only_new
                .open("t1", "whatsapp.app_secret", &resealed)
                .unwrap(),
            b"s3cret"
        );
        assert!(
            only_new
                .reseal("t1", "whatsapp.app_secret", &sealed, [8u8; 12])
                .is_err()
        );
        // Another tenant's or field's context does not open it either.
        assert!(
            rotated
                .reseal("t2", "whatsapp.app_secret", &sealed, [9u8; 12])
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn round_trip(plaintext in proptest::collection::vec(any::<u8>(), 0..300), tenant in "[a-z0-9_]{1,20}", nonce in any::<[u8; 12]>()) {
            let ring = keyring();
            let sealed = ring.seal(&tenant, "field", &plaintext, nonce);
            prop_assert_eq!(ring.open(&tenant, "field", &sealed).unwrap(), plaintext);
        }

        #[test]
        fn open_never_panics(text in "\\PC{0,100}") {
            let _ = keyring().open("t", "f", &text);
        }
    }
}
