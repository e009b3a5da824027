//! HMAC-SHA256 keys that are never empty: every keyed check in the core goes through
//! [`hmac_key`], so a secret that is missing or could not be opened is an error and
//! never an empty key that anyone can sign with.

use crate::problem::{ErrorCode, Problem};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A secret was empty where a key was needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a signing secret is empty")]
pub struct EmptyKey;

impl From<EmptyKey> for Problem {
    fn from(error: EmptyKey) -> Self {
        Problem::new(
            ErrorCode::Misconfigured,
            alloc::string::ToString::to_string(&error),
        )
    }
}

/// The HMAC-SHA256 key schedule of `secret`, refused when it is empty.
pub(crate) fn hmac_key(secret: &[u8]) -> Result<HmacSha256, EmptyKey> {
    if secret.is_empty() {
        return Err(EmptyKey);
    }
    HmacSha256::new_from_slice(secret).map_err(|_| EmptyKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn an_empty_secret_is_no_key() {
        assert_eq!(hmac_key(b"").err(), Some(EmptyKey));
        assert!(hmac_key(b"k").is_ok());
        assert_eq!(Problem::from(EmptyKey).code, ErrorCode::Misconfigured);
    }
}
