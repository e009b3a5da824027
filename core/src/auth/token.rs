//! Opaque one-purpose tokens: refresh tokens, invitations, email verification and
//! password reset. Each kind has its own prefix, so a token of one kind is malformed as
//! any other; like API keys, only the SHA-256 of a token is stored and a presented
//! token is found by its hash.

use super::AuthError;
use super::api_key::{NewApiKey, generate, hash};
use alloc::string::String;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Rotates a session: 30 days, single use (each use issues the next one).
    Refresh,
    /// Joins a tenant: 7 days, single use.
    Invitation,
    /// Proves an email address: 24 hours, single use.
    EmailVerification,
    /// Sets a new password: 1 hour, single use.
    PasswordReset,
    /// Carries a password-checked sign-in to its second factor: 5 minutes, single use.
    MfaChallenge,
}

impl TokenKind {
    /// The prefix every token of this kind starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::Refresh => "rt_",
            TokenKind::Invitation => "inv_",
            TokenKind::EmailVerification => "ev_",
            TokenKind::PasswordReset => "pr_",
            TokenKind::MfaChallenge => "mfa_",
        }
    }

    /// How long a token of this kind is valid after it is issued, in seconds.
    pub const fn lifetime_secs(self) -> i64 {
        match self {
            TokenKind::Refresh => 30 * 86_400,
            TokenKind::Invitation => 7 * 86_400,
            TokenKind::EmailVerification => 86_400,
            TokenKind::PasswordReset => 3_600,
            TokenKind::MfaChallenge => 300,
        }
    }
}

/// A new token of `kind` from 32 caller-supplied random bytes: the plaintext goes to its
/// holder once, the hash is stored.
pub fn generate_token(kind: TokenKind, random: &[u8; 32]) -> NewApiKey {
    generate(kind.prefix(), random)
}

/// The stored hash of a presented token of `kind`, after checking its form.
pub fn hash_token(kind: TokenKind, presented: &str) -> Result<String, AuthError> {
    hash(kind.prefix(), presented)
}

/// A single-use token's row as the shell loaded it by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    /// When it stops being valid.
    pub expires_at: i64,
    /// When it was used, if it was.
    pub used_at: Option<i64>,
    /// When it was revoked (invitations), if it was.
    pub revoked_at: Option<i64>,
}

impl OneTimeToken {
    /// Whether the token may be used now: not used, not revoked, not expired.
    pub fn usable(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_token_of_one_kind_is_malformed_as_another() {
        let kinds = [
            TokenKind::Refresh,
            TokenKind::Invitation,
            TokenKind::EmailVerification,
            TokenKind::PasswordReset,
        ];
        for kind in kinds {
            let token = generate_token(kind, &[3u8; 32]);
            assert!(token.plaintext.starts_with(kind.prefix()));
            assert_eq!(hash_token(kind, &token.plaintext).unwrap(), token.hash);
            for other in kinds.iter().filter(|k| **k != kind) {
                assert_eq!(
                    hash_token(*other, &token.plaintext),
                    Err(AuthError::Malformed)
                );
            }
            assert_eq!(
                super::super::hash_api_key(&token.plaintext),
                Err(AuthError::Malformed)
            );
        }
    }

    #[test]
    fn a_one_time_token_is_usable_once_until_it_expires() {
        let fresh = OneTimeToken {
            expires_at: 100,
            used_at: None,
            revoked_at: None,
        };
        assert!(fresh.usable(99));
        assert!(!fresh.usable(100));
        assert!(
            !OneTimeToken {
                used_at: Some(5),
                ..fresh.clone()
            }
            .usable(10)
        );
        assert!(
            !OneTimeToken {
                revoked_at: Some(5),
                ..fresh
            }
            .usable(10)
        );
    }
}
