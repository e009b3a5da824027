//! API keys: `tk_` (a tenant's key) or `rk_` (a platform relay key) followed by 32
//! random bytes in base64url.
//!
//! The random bytes come from the caller. Only the SHA-256 of the whole key is stored;
//! a presented key is hashed and the row is found by that hash, so the secret never
//! reaches the database and a lookup leaks nothing about near misses.

use super::AuthError;
use crate::encoding::{ct_eq, hex_encode};
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Every tenant API key starts with this.
pub const API_KEY_PREFIX: &str = "tk_";

/// Every relay key starts with this: relay keys are platform credentials, issued by a
/// superadmin, and never a tenant's role.
pub const RELAY_KEY_PREFIX: &str = "rk_";

/// Length of the encoded secret after the prefix (32 bytes in base64url).
const SECRET_LEN: usize = 43;

/// Characters of the secret kept for display after the prefix (`tk_AbCdEfGh…`).
const DISPLAY_SECRET_LEN: usize = 8;

/// A freshly generated key: the plaintext is shown once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The key to hand to the user, once.
    pub plaintext: String,
    /// A non-secret prefix to show in listings.
    pub display_prefix: String,
    /// Lowercase hex SHA-256 of the plaintext: what is stored.
    pub hash: String,
}

impl core::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("display_prefix", &self.display_prefix)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// Makes a tenant API key from 32 caller-supplied random bytes.
pub fn generate_api_key(random: &[u8; 32]) -> NewApiKey {
    generate(API_KEY_PREFIX, random)
}

/// Makes a relay key from 32 caller-supplied random bytes.
pub fn generate_relay_key(random: &[u8; 32]) -> NewApiKey {
    generate(RELAY_KEY_PREFIX, random)
}

pub(super) fn generate(prefix: &str, random: &[u8; 32]) -> NewApiKey {
    let mut plaintext = String::with_capacity(prefix.len() + SECRET_LEN);
    plaintext.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(random, &mut plaintext);
    let hash = hex_encode(&Sha256::digest(plaintext.as_bytes()));
    NewApiKey {
        display_prefix: plaintext[..prefix.len() + DISPLAY_SECRET_LEN].into(),
        plaintext,
        hash,
    }
}

/// The stored hash of a presented tenant API key, after checking its form.
pub fn hash_api_key(presented: &str) -> Result<String, AuthError> {
    hash(API_KEY_PREFIX, presented)
}

/// The stored hash of a presented relay key, after checking its form.
pub fn hash_relay_key(presented: &str) -> Result<String, AuthError> {
    hash(RELAY_KEY_PREFIX, presented)
}

pub(super) fn hash(prefix: &str, presented: &str) -> Result<String, AuthError> {
    let secret = presented.strip_prefix(prefix).ok_or(AuthError::Malformed)?;
    let mut decoded = [0u8; 32];
    if secret.len() != SECRET_LEN || URL_SAFE_NO_PAD.decode_slice(secret, &mut decoded) != Ok(32) {
        return Err(AuthError::Malformed);
    }
    Ok(hex_encode(&Sha256::digest(presented.as_bytes())))
}

/// A stored API key, as the shell loaded it by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Key id.
    pub id: String,
    /// The one tenant the key acts on.
    pub tenant_id: String,
    /// The one role it has there.
    pub role: String,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<i64>,
}

impl ApiKeyRecord {
    /// Checks the loaded row against the presented key's hash and the time.
    pub fn check(
        &self,
        stored_hash: &str,
        presented_hash: &str,
        now: i64,
    ) -> Result<(), AuthError> {
        check_stored(
            stored_hash,
            presented_hash,
            self.revoked,
            self.expires_at,
            now,
        )
    }
}

/// Which tenants a relay key serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayScope {
    /// The MX of every tenant's domains.
    AllTenants,
    /// A dedicated relay for these tenants only.
    Tenants(Vec<String>),
}

impl RelayScope {
    /// Whether the key may read or write mail data of `tenant_id`.
    pub fn covers(&self, tenant_id: &str) -> bool {
        match self {
            RelayScope::AllTenants => true,
            RelayScope::Tenants(ids) => ids.iter().any(|id| id == tenant_id),
        }
    }
}

/// A stored relay key, as the shell loaded it by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayKeyRecord {
    /// Key id.
    pub id: String,
    /// The tenants it serves.
    pub scope: RelayScope,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<i64>,
}

impl RelayKeyRecord {
    /// Checks the loaded row against the presented key's hash and the time.
    pub fn check(
        &self,
        stored_hash: &str,
        presented_hash: &str,
        now: i64,
    ) -> Result<(), AuthError> {
        check_stored(
            stored_hash,
            presented_hash,
            self.revoked,
            self.expires_at,
            now,
        )
    }
}

fn check_stored(
    stored_hash: &str,
    presented_hash: &str,
    revoked: bool,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), AuthError> {
    if !ct_eq(stored_hash.as_bytes(), presented_hash.as_bytes()) {
        return Err(AuthError::BadSignature);
    }
    if revoked {
        return Err(AuthError::Revoked);
    }
    if expires_at.is_some_and(|at| now >= at) {
        return Err(AuthError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn generated_key_has_the_documented_form() {
        let key = generate_api_key(&[7u8; 32]);
        assert!(key.plaintext.starts_with("tk_"));
        assert_eq!(key.plaintext.len(), 46);
        assert_eq!(key.display_prefix, &key.plaintext[..11]);
        assert_eq!(key.hash.len(), 64);
        assert_eq!(hash_api_key(&key.plaintext).unwrap(), key.hash);
        assert!(
            !alloc::format!("{key:?}").contains(&key.plaintext),
            "Debug must not show the secret"
        );
    }

    #[test]
    fn relay_keys_are_their_own_kind() {
        let relay = generate_relay_key(&[9u8; 32]);
        assert!(relay.plaintext.starts_with("rk_"));
        assert_eq!(hash_relay_key(&relay.plaintext).unwrap(), relay.hash);
        // A relay key is not a tenant key, nor the other way round.
        assert_eq!(hash_api_key(&relay.plaintext), Err(AuthError::Malformed));
        let tenant = generate_api_key(&[9u8; 32]);
        assert_eq!(hash_relay_key(&tenant.plaintext), Err(AuthError::Malformed));
        let scoped = RelayScope::Tenants(alloc::vec!["t_a".into()]);
        assert!(scoped.covers("t_a") && !scoped.covers("t_b"));
        assert!(RelayScope::AllTenants.covers("t_b"));
        let record = RelayKeyRecord {
            id: "rk1".into(),
            scope: scoped,
            revoked: true,
            expires_at: None,
        };
        assert_eq!(
            record.check(&relay.hash, &relay.hash, 0),
            Err(AuthError::Revoked)
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = generate_api_key(&[1u8; 32]).plaintext;
        for bad in [
            "",
            "tk_",
            "tk_short",
            "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &good[..good.len() - 1],
        ] {
            assert_eq!(hash_api_key(bad), Err(AuthError::Malformed), "{bad:?}");
        }
        let mut extra = good.clone();
        extra.push('A');
        assert_eq!(hash_api_key(&extra), Err(AuthError::Malformed));
        let bad_char = alloc::format!("tk_{}", "!".repeat(43));
        assert_eq!(hash_api_key(&bad_char), Err(AuthError::Malformed));
    }

    #[test]
    fn record_checks_hash_revocation_and_expiry() {
        let key = generate_api_key(&[9u8; 32]);
        let record = ApiKeyRecord {
            id: "k1".into(),
            tenant_id: "t1".into(),
            role: "admin".into(),
            revoked: false,
            expires_at: Some(1000),
        };
        assert_eq!(record.check(&key.hash, &key.hash, 999), Ok(()));
        assert_eq!(
            record.check(&key.hash, &key.hash, 1000),
            Err(AuthError::Expired)
        );
        let other = generate_api_key(&[8u8; 32]);
        assert_eq!(
            record.check(&key.hash, &other.hash, 0),
            Err(AuthError::BadSignature)
        );
        let revoked = ApiKeyRecord {
            revoked: true,
            ..record
        };
        assert_eq!(
            revoked.check(&key.hash, &key.hash, 0),
            Err(AuthError::Revoked)
        );
    }

    proptest! {
        #[test]
        fn distinct_randomness_gives_distinct_keys(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let (ka, kb) = (generate_api_key(&a), generate_api_key(&b));
            prop_assert_eq!(a == b, ka.hash == kb.hash);
            prop_assert_eq!(hash_api_key(&ka.plaintext).unwrap(), ka.hash);
        }

        #[test]
        fn hash_api_key_never_panics(text in "\\PC{0,60}") {
            let _ = hash_api_key(&text);
        }
    }
}
