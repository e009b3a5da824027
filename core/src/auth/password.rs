//! Password rules and stored hashes.
//!
//! A new password is 12 to 128 characters and not one of the most common passwords.
//! Hashes are stored in the PHC string format, so the scheme and its parameters can rise
//! later: a login whose stored hash is weaker than the [`PasswordScheme`] in force
//! rehashes the password it just verified. The shells compute the hashes (the Workers
//! through WebCrypto or the `argon2` crate); this module parses and writes the strings,
//! compares digests in constant time and says when to rehash.

use crate::encoding::ct_eq;
use crate::problem::ErrorCode;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// Fewest characters of a new password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters of any password: a longer one is refused before it is hashed.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The most common passwords of 12 characters or more (shorter ones fail the length
/// rule), from public breach corpora, in English and French, compared without case.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456123456",
    "123123123123",
    "111111111111",
    "000000000000",
    "qwertyuiopas",
    "qwerty123456",
    "qwertyuiop12",
    "qwertyuiop123",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "azertyuiop12",
    "azertyuiop123",
    "azertyuiopqs",
    "password1234",
    "password123!",
    "passwordpassword",
    "motdepasse12",
    "motdepasse123",
    "motdepasse1234",
    "iloveyou1234",
    "jetaime12345",
    "letmein12345",
    "welcome12345",
    "welcome123456",
    "bienvenue123",
    "bienvenue1234",
    "changeme1234",
    "administrator",
    "administrateur",
    "abcdefghijkl",
    "abcd1234abcd",
    "aaaaaaaaaaaa",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "monkey123456",
    "dragon123456",
    "trustno1trustno1",
    "superman1234",
    "starwars1234",
    "computer1234",
    "qwertyqwerty",
    "azertyazerty",
    "soleil123456",
    "doudou123456",
    "loulou123456",
];

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("password: at least 12 characters")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("password: at most 128 characters")]
    TooLong,
    /// One of the most common passwords, or one character repeated.
    #[error("password: too common; choose another")]
    Common,
}

impl PasswordError {
    /// The error code answered.
    pub const fn code(self) -> ErrorCode {
        ErrorCode::WeakPassword
    }
}

impl From<PasswordError> for crate::Problem {
    fn from(error: PasswordError) -> Self {
        crate::Problem::new(error.code(), alloc::string::ToString::to_string(&error))
            .with("field", "password")
    }
}

/// Checks a new password against the rules.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    let mut distinct = password.chars();
    let first = distinct.next();
    if distinct.all(|c| Some(c) == first) || COMMON.iter().any(|c| c.eq_ignore_ascii_case(password))
    {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// Whether a presented password may be hashed at all: a login with a longer one is
/// refused as wrong credentials without spending a hash on it.
pub fn hashable(password: &str) -> bool {
    !password.is_empty() && password.chars().count() <= MAX_PASSWORD_CHARS
}

/// A hashing scheme and its cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordScheme {
    /// PBKDF2-HMAC-SHA256 (WebCrypto), 32-byte output.
    Pbkdf2Sha256 {
        /// Iterations.
        iterations: u32,
    },
    /// Argon2id version 19.
    Argon2id {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes.
        time: u32,
        /// Lanes.
        parallelism: u32,
    },
}

impl PasswordScheme {
    /// PBKDF2-HMAC-SHA256 at 100,000 iterations: the most Workers' WebCrypto allows.
    pub const PBKDF2_WORKERS_MAX: PasswordScheme = PasswordScheme::Pbkdf2Sha256 {
        iterations: 100_000,
    };

    /// Argon2id at OWASP's minimum: 19 MiB, 2 passes, 1 lane.
    pub const ARGON2ID_OWASP_MIN: PasswordScheme = PasswordScheme::Argon2id {
        memory_kib: 19_456,
        time: 2,
        parallelism: 1,
    };

    /// The scheme named by configuration (`PASSWORD_HASH`): `pbkdf2-sha256` or `argon2id`.
    pub fn named(name: &str) -> Option<PasswordScheme> {
        match name {
            "pbkdf2-sha256" => Some(PasswordScheme::PBKDF2_WORKERS_MAX),
            "argon2id" => Some(PasswordScheme::ARGON2ID_OWASP_MIN),
            _ => None,
        }
    }

    /// Whether a hash made with `self` must be redone under `policy`: another scheme,
    /// or any parameter below the policy's.
    pub fn weaker_than(&self, policy: &PasswordScheme) -> bool {
        match (self, policy) {
            (
                PasswordScheme::Pbkdf2Sha256 { iterations },
                PasswordScheme::Pbkdf2Sha256 { iterations: wanted },
            ) => iterations < wanted,
            (
                PasswordScheme::Argon2id {
                    memory_kib,
                    time,
                    parallelism,
                },
                PasswordScheme::Argon2id {
                    memory_kib: m,
                    time: t,
                    parallelism: p,
                },
            ) => memory_kib < m || time < t || parallelism < p,
            _ => true,
        }
    }
}

/// Why a stored hash cannot be used: it fails closed, like a wrong password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stored password hash is not a supported PHC string")]
pub struct UnsupportedHash;

/// A stored hash, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHash {
    /// The scheme and parameters it was made with.
    pub scheme: PasswordScheme,
    /// The salt.
    pub salt: Vec<u8>,
    /// The digest.
    pub digest: Vec<u8>,
}

fn param(fields: &str, name: &str) -> Result<u32, UnsupportedHash> {
    fields
        .split(',')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or(UnsupportedHash)
}

fn b64(text: &str) -> Result<Vec<u8>, UnsupportedHash> {
    STANDARD_NO_PAD.decode(text).map_err(|_| UnsupportedHash)
}

impl StoredHash {
    /// Parses `$pbkdf2-sha256$i=N$salt$digest` or
    /// `$argon2id$v=19$m=M,t=T,p=P$salt$digest` (salt and digest in unpadded base64).
    pub fn parse(phc: &str) -> Result<StoredHash, UnsupportedHash> {
        let parts: Vec<&str> = phc.split('$').collect();
        match parts.as_slice() {
            ["", "pbkdf2-sha256", params, salt, digest] => Ok(StoredHash {
                scheme: PasswordScheme::Pbkdf2Sha256 {
                    iterations: param(params, "i")?,
                },
                salt: b64(salt)?,
                digest: b64(digest)?,
            }),
            ["", "argon2id", "v=19", params, salt, digest] => Ok(StoredHash {
                scheme: PasswordScheme::Argon2id {
                    memory_kib: param(params, "m")?,
                    time: param(params, "t")?,
                    parallelism: param(params, "p")?,
                },
                salt: b64(salt)?,
                digest: b64(digest)?,
            }),
            _ => Err(UnsupportedHash),
        }
        .and_then(|h| {
            if h.salt.len() < 8 || h.digest.len() < 16 {
                Err(UnsupportedHash)
            } else {
                Ok(h)
            }
        })
    }

    /// The PHC string of a digest made with `scheme` and `salt`.
    pub fn encode(scheme: PasswordScheme, salt: &[u8], digest: &[u8]) -> String {
        let (salt, digest) = (STANDARD_NO_PAD.encode(salt), STANDARD_NO_PAD.encode(digest));
        match scheme {
            PasswordScheme::Pbkdf2Sha256 { iterations } => {
                format!("$pbkdf2-sha256$i={iterations}${salt}${digest}")
            }
            PasswordScheme::Argon2id {
                memory_kib,
                time,
                parallelism,
            } => format!("$argon2id$v=19$m={memory_kib},t={time},p={parallelism}${salt}${digest}"),
        }
    }

    /// Whether a digest recomputed from a presented password matches, in constant time.
    pub fn matches(&self, recomputed: &[u8]) -> bool {
        ct_eq(&self.digest, recomputed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn new_passwords_follow_the_rules() {
        assert_eq!(check_new_password("short"), Err(PasswordError::TooShort));
        assert_eq!(
            check_new_password(&"ab".repeat(65)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            check_new_password("Password1234"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_new_password("MotDePasse123"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_new_password("zzzzzzzzzzzzzz"),
            Err(PasswordError::Common)
        );
        assert_eq!(check_new_password("correct horse battery"), Ok(()));
        // Characters, not bytes: 12 accented letters are 24 bytes and pass.
        assert_eq!(check_new_password("éàèùâêîôûçëï"), Ok(()));
        assert!(!hashable(""));
        assert!(!hashable(&"x".repeat(129)));
    }

    #[test]
    fn phc_strings_round_trip_and_say_when_to_rehash() {
        let encoded =
            StoredHash::encode(PasswordScheme::PBKDF2_WORKERS_MAX, &[1u8; 16], &[2u8; 32]);
        assert!(encoded.starts_with("$pbkdf2-sha256$i=100000$"));
        let parsed = StoredHash::parse(&encoded).unwrap();
        assert_eq!(parsed.scheme, PasswordScheme::PBKDF2_WORKERS_MAX);
        assert!(parsed.matches(&[2u8; 32]) && !parsed.matches(&[3u8; 32]));
        // argon2-cffi / the argon2 crate write this form.
        let argon = StoredHash::parse(
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        )
        .unwrap();
        assert_eq!(argon.scheme, PasswordScheme::ARGON2ID_OWASP_MIN);
        let policy = PasswordScheme::ARGON2ID_OWASP_MIN;
        assert!(parsed.scheme.weaker_than(&policy));
        assert!(!argon.scheme.weaker_than(&policy));
        let fewer = PasswordScheme::Pbkdf2Sha256 { iterations: 10_000 };
        assert!(fewer.weaker_than(&PasswordScheme::PBKDF2_WORKERS_MAX));
        for bad in [
            "",
            "plain",
            "$argon2i$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=x$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=1000$$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert_eq!(StoredHash::parse(bad), Err(UnsupportedHash), "{bad}");
        }
        assert_eq!(
            PasswordScheme::named("argon2id"),
            Some(PasswordScheme::ARGON2ID_OWASP_MIN)
        );
        assert_eq!(PasswordScheme::named("md5"), None);
    }
}
