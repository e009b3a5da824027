//! Second factors: what a sign-in proved (`amr`, RFC 8176), the challenge that carries a
//! password-checked sign-in to its second factor, and recovery codes.
//!
//! A sign-in whose account has a second factor does not get a session from its
//! password: it gets a short-lived challenge token ([`super::TokenKind::MfaChallenge`]),
//! which an authenticator code or a recovery code turns into a session. A challenge
//! takes [`MAX_CHALLENGE_ATTEMPTS`] wrong codes, then a new one needs the password
//! again, which is throttled.

use crate::encoding::hex_encode;
use crate::problem::ErrorCode;
use alloc::string::String;
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

/// Wrong codes one challenge takes before it is spent.
pub const MAX_CHALLENGE_ATTEMPTS: i64 = 5;
/// Recovery codes issued at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (base32: 50 bits), shown as two groups of five.
const RECOVERY_CODE_CHARS: usize = 10;
/// Random bytes [`recovery_codes`] takes: eight per code.
pub const RECOVERY_RANDOM_LEN: usize = 8 * RECOVERY_CODE_COUNT;

/// Why a second factor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MfaError {
    /// Not six digits.
    #[error("an authenticator code is six digits")]
    MalformedCode,
    /// Not the code of the current time (within one step either way).
    #[error("the code is wrong")]
    WrongCode,
    /// The code of a step already used.
    #[error("the code was already used; wait for the next one")]
    CodeReplayed,
    /// Not a recovery code of the account, or one already used.
    #[error("the recovery code is wrong or was already used")]
    WrongRecoveryCode,
    /// The challenge token is unknown, used or expired.
    #[error("the sign-in challenge is unknown, used or expired; sign in again")]
    ChallengeInvalid,
    /// The challenge took its wrong codes.
    #[error("too many wrong codes; sign in again")]
    ChallengeSpent,
    /// Enrolling while an authenticator app is already confirmed.
    #[error("an authenticator app is already enrolled; disable it first")]
    AlreadyEnrolled,
    /// Confirming or disabling with no authenticator app (pending) to act on.
    #[error("no authenticator app is enrolled")]
    NotEnrolled,
    /// Neither a code nor a recovery code, or both.
    #[error("give either `code` (the authenticator app's) or `recovery_code`")]
    NoCode,
    /// The tenant requires a second factor of its members, and this session has none.
    #[error(
        "this tenant requires a second factor: enrol an authenticator app (POST /v1/auth/mfa/totp) and sign in with it"
    )]
    SecondFactorRequired,
}

impl MfaError {
    /// The error code clients see.
    pub const fn code(self) -> ErrorCode {
        match self {
            MfaError::MalformedCode | MfaError::NoCode => ErrorCode::InvalidRequest,
            MfaError::WrongCode | MfaError::CodeReplayed | MfaError::WrongRecoveryCode => {
                ErrorCode::InvalidCode
            }
            MfaError::ChallengeInvalid => ErrorCode::TokenInvalid,
            MfaError::ChallengeSpent => ErrorCode::TooManyAttempts,
            MfaError::AlreadyEnrolled | MfaError::NotEnrolled => ErrorCode::Conflict,
            MfaError::SecondFactorRequired => ErrorCode::MfaRequired,
        }
    }
}

crate::problem::problem_from!(MfaError);

/// How a sign-in authenticated, as RFC 8176 names it in `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A password.
    Password,
    /// An authenticator app's code (TOTP).
    Totp,
    /// A single-use recovery code. RFC 8176 registers no value for it: `rec` is Tenantry's.
    RecoveryCode,
}

impl Method {
    /// The `amr` value.
    pub const fn amr(self) -> &'static str {
        match self {
            Method::Password => "pwd",
            Method::Totp => "otp",
            Method::RecoveryCode => "rec",
        }
    }
}

/// A second factor as typed: an authenticator code or a recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// The authenticator app's six digits.
    Totp(&'a str),
    /// One of the account's recovery codes.
    RecoveryCode(&'a str),
}

impl<'a> Presented<'a> {
    /// The one factor a request gives (`code` or `recovery_code`); both or neither is
    /// refused, and so is a code that is not six digits, before anything is counted.
    pub fn from_fields(
        code: Option<&'a str>,
        recovery_code: Option<&'a str>,
    ) -> Result<Self, MfaError> {
        match (code, recovery_code) {
            (Some(code), None) => match super::totp::normalise_code(code) {
                Some(_) => Ok(Presented::Totp(code)),
                None => Err(MfaError::MalformedCode),
            },
            (None, Some(recovery)) => Ok(Presented::RecoveryCode(recovery)),
            _ => Err(MfaError::NoCode),
        }
    }

    /// How a sign-in with it authenticated.
    pub const fn method(self) -> Method {
        match self {
            Presented::Totp(_) => Method::Totp,
            Presented::RecoveryCode(_) => Method::RecoveryCode,
        }
    }
}

/// `amr` value of a sign-in with two factors.
pub const MULTI_FACTOR: &str = "mfa";

/// The `amr` of a sign-in: its first factor, its second if it had one, and `mfa` then.
pub fn amr(first: Method, second: Option<Method>) -> Vec<String> {
    let mut values = Vec::with_capacity(3);
    values.push(String::from(first.amr()));
    if let Some(second) = second {
        values.push(String::from(second.amr()));
        values.push(String::from(MULTI_FACTOR));
    }
    values
}

/// Whether an `amr` shows two factors.
pub fn is_multi_factor(amr: &[String]) -> bool {
    amr.iter().any(|value| value == MULTI_FACTOR)
}

/// A session's `amr` as stored (a JSON array); anything unreadable is no factor at all,
/// so a damaged row never passes for two factors.
pub fn stored_amr(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A challenge row as the shell loaded it by its token's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// When it stops being valid.
    pub expires_at: i64,
    /// When a code turned it into a session.
    pub used_at: Option<i64>,
    /// Wrong codes so far.
    pub attempts: i64,
}

impl Challenge {
    /// Whether another code may be tried on it at `now`.
    pub fn check(&self, now: i64) -> Result<(), MfaError> {
        if self.used_at.is_some() || now >= self.expires_at {
            return Err(MfaError::ChallengeInvalid);
        }
        if self.attempts >= MAX_CHALLENGE_ATTEMPTS {
            return Err(MfaError::ChallengeSpent);
        }
        Ok(())
    }
}

/// New recovery codes: the plaintexts go to the account holder once, the hashes are
/// stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodes {
    /// `xxxxx-xxxxx`, lower-case base32.
    pub plaintext: Vec<String>,
    /// What [`hash_recovery_code`] gives for each.
    pub hashes: Vec<String>,
}

/// [`RECOVERY_CODE_COUNT`] codes of 50 bits each from caller-supplied random bytes.
pub fn recovery_codes(random: &[u8; RECOVERY_RANDOM_LEN]) -> RecoveryCodes {
    let mut codes = RecoveryCodes {
        plaintext: Vec::with_capacity(RECOVERY_CODE_COUNT),
        hashes: Vec::with_capacity(RECOVERY_CODE_COUNT),
    };
    for chunk in random.chunks_exact(8) {
        let mut text = data_encoding::BASE32_NOPAD.encode(chunk);
        text.truncate(RECOVERY_CODE_CHARS);
        text.make_ascii_lowercase();
        codes.hashes.push(digest(&text));
        text.insert(RECOVERY_CODE_CHARS / 2, '-');
        codes.plaintext.push(text);
    }
    codes
}

/// The stored hash of a typed recovery code: case, spaces and dashes do not matter. A
/// code carries 50 random bits, so a fast hash is enough, as for tokens.
pub fn hash_recovery_code(presented: &str) -> Result<String, MfaError> {
    let text: String = presented
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let base32 = |b: u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b);
    if text.len() != RECOVERY_CODE_CHARS || !text.bytes().all(base32) {
        return Err(MfaError::WrongRecoveryCode);
    }
    Ok(digest(&text))
}

fn digest(text: &str) -> String {
    hex_encode(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn amr_names_both_factors_and_mfa_only_with_two() {
        assert_eq!(amr(Method::Password, None), ["pwd"]);
        assert_eq!(
            amr(Method::Password, Some(Method::Totp)),
            ["pwd", "otp", "mfa"]
        );
        assert_eq!(
            amr(Method::Password, Some(Method::RecoveryCode)),
            ["pwd", "rec", "mfa"]
        );
        assert!(!is_multi_factor(&amr(Method::Password, None)));
        assert!(is_multi_factor(&amr(Method::Password, Some(Method::Totp))));
        assert!(is_multi_factor(&stored_amr(r#"["pwd","otp","mfa"]"#)));
        for damaged in ["", "mfa", r#"{"mfa":1}"#, r#"["pwd","#] {
            assert!(stored_amr(damaged).is_empty(), "{damaged}");
        }
    }

    #[test]
    fn a_request_gives_exactly_one_factor() {
        assert_eq!(
            Presented::from_fields(Some("123456"), None),
            Ok(Presented::Totp("123456"))
        );
        assert_eq!(
            Presented::from_fields(None, Some("abcde-fghij")).map(Presented::method),
            Ok(Method::RecoveryCode)
        );
        assert_eq!(Presented::from_fields(None, None), Err(MfaError::NoCode));
        assert_eq!(
            Presented::from_fields(Some("12345a"), None),
            Err(MfaError::MalformedCode)
        );
        assert_eq!(
            Presented::from_fields(Some("123456"), Some("abcde-fghij")),
            Err(MfaError::NoCode)
        );
    }

    #[test]
    fn a_challenge_is_used_once_expires_and_takes_five_wrong_codes() {
        let fresh = Challenge {
            expires_at: 100,
            used_at: None,
            attempts: 0,
        };
        let table: &[(Challenge, i64, Result<(), MfaError>)] = &[
            (fresh, 99, Ok(())),
            (fresh, 100, Err(MfaError::ChallengeInvalid)),
            (
                Challenge {
                    used_at: Some(50),
                    ..fresh
                },
                60,
                Err(MfaError::ChallengeInvalid),
            ),
            (
                Challenge {
                    attempts: MAX_CHALLENGE_ATTEMPTS - 1,
                    ..fresh
                },
                60,
                Ok(()),
            ),
            (
                Challenge {
                    attempts: MAX_CHALLENGE_ATTEMPTS,
                    ..fresh
                },
                60,
                Err(MfaError::ChallengeSpent),
            ),
        ];
        for (challenge, now, expected) in table {
            assert_eq!(challenge.check(*now), *expected, "{challenge:?} at {now}");
        }
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let mut random = [0u8; RECOVERY_RANDOM_LEN];
        random
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        let codes = recovery_codes(&random);
        assert_eq!(codes.plaintext.len(), RECOVERY_CODE_COUNT);
        let mut distinct = codes.hashes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), RECOVERY_CODE_COUNT);
        for (code, hash) in codes.plaintext.iter().zip(&codes.hashes) {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert_eq!(hash_recovery_code(code).as_ref(), Ok(hash));
            let loose = code.replace('-', " ").to_ascii_uppercase();
            assert_eq!(hash_recovery_code(&loose).as_ref(), Ok(hash));
        }
        for bad in ["", "abcde-fghi", "abcde-fghij1", "abcde-fgh1j", "123456"] {
            assert_eq!(
                hash_recovery_code(bad),
                Err(MfaError::WrongRecoveryCode),
                "{bad}"
            );
        }
    }
}
