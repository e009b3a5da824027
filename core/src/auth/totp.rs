//! Authenticator-app codes: TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA1, six
//! digits and 30-second steps, what every authenticator app reads from an `otpauth://`
//! URI. One step of clock skew is accepted either way, and each step's code once: the
//! shell stores the step of the last code accepted and passes it back.

use super::mfa::MfaError;
use alloc::format;
use alloc::string::String;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Bytes of a secret (160 bits, RFC 4226's recommended length).
pub const SECRET_LEN: usize = 20;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of one step.
pub const STEP_SECS: i64 = 30;
/// Steps of clock skew accepted before and after the current one.
pub const SKEW_STEPS: i64 = 1;

/// A TOTP secret; shown once (as base32 and in the URI), then stored sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_LEN]);

impl core::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A secret from caller-supplied random bytes.
    pub fn from_random(random: [u8; SECRET_LEN]) -> Self {
        TotpSecret(random)
    }

    /// A secret as it was stored (after unsealing); `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(TotpSecret)
    }

    /// The raw bytes, to seal.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as authenticator apps take it typed in: RFC 4648 base32, no padding.
    pub fn base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://` URI (Google Authenticator's key URI format) a QR code carries.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            account = percent_encode(account),
            secret = self.base32(),
        )
    }

    /// The code of step `step` (RFC 4226 §5.3's dynamic truncation).
    pub fn code(&self, step: i64) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let word = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!("{:06}", word % 1_000_000)
    }

    /// Checks `presented` at `now` (Unix seconds): the step whose code it is, within the
    /// skew, and later than `last_used_step` so that a code is accepted once. The step
    /// is what the shell stores as the new `last_used_step`.
    pub fn verify(
        &self,
        presented: &str,
        now: i64,
        last_used_step: Option<i64>,
    ) -> Result<i64, MfaError> {
        let presented = normalise_code(presented).ok_or(MfaError::MalformedCode)?;
        let current = now.div_euclid(STEP_SECS);
        let mut matched = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            // Every step is computed, matched or not, so timing tells nothing of which.
            let equal: bool = self
                .code(step)
                .as_bytes()
                .ct_eq(presented.as_bytes())
                .into();
            if equal && matched.is_none() {
                matched = Some(step);
            }
        }
        let step = matched.ok_or(MfaError::WrongCode)?;
        if last_used_step.is_some_and(|last| step <= last) {
            return Err(MfaError::CodeReplayed);
        }
        Ok(step)
    }
}

/// A typed code without the spaces apps show in the middle; `None` unless six digits.
pub(crate) fn normalise_code(presented: &str) -> Option<String> {
    let digits: String = presented.chars().filter(|c| *c != ' ').collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// RFC 6238 Appendix B's SHA-1 seed, "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_random(*b"12345678901234567890")
    }

    #[test]
    fn codes_match_rfc_6238_appendix_b() {
        // The RFC's eight-digit values, of which a six-digit code is the last six.
        let table: &[(i64, &str)] = &[
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, eight) in table {
            assert_eq!(rfc_secret().code(time / STEP_SECS), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_within_one_step_of_skew_and_once() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = now / STEP_SECS;
        assert_eq!(secret.verify(&secret.code(step), now, None), Ok(step));
        assert_eq!(
            secret.verify(&secret.code(step - 1), now, None),
            Ok(step - 1)
        );
        assert_eq!(
            secret.verify(&secret.code(step + 1), now, None),
            Ok(step + 1)
        );
        assert_eq!(
            secret.verify(&secret.code(step - 2), now, None),
            Err(MfaError::WrongCode)
        );
        assert_eq!(
            secret.verify(&secret.code(step + 2), now, None),
            Err(MfaError::WrongCode)
        );
        // Used once: the same step again, or an earlier one, is a replay.
        assert_eq!(
            secret.verify(&secret.code(step), now, Some(step)),
            Err(MfaError::CodeReplayed)
        );
        assert_eq!(
            secret.verify(&secret.code(step - 1), now, Some(step)),
            Err(MfaError::CodeReplayed)
        );
        assert_eq!(
            secret.verify(&secret.code(step + 1), now, Some(step)),
            Ok(step + 1)
        );
    }

    #[test]
    fn codes_are_six_digits_and_may_carry_a_space() {
        let secret = rfc_secret();
        let now = 59;
        let code = secret.code(now / STEP_SECS);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(secret.verify(&spaced, now, None).is_ok());
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(
                secret.verify(bad, now, None),
                Err(MfaError::MalformedCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_uri_carries_the_base32_secret_and_encodes_the_label() {
        let uri = rfc_secret().otpauth_uri("Tenantry Demo", "ana+mfa@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Tenantry%20Demo:ana%2Bmfa%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tenantry%20Demo&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            TotpSecret::from_bytes(rfc_secret().as_bytes()),
            Some(rfc_secret())
        );
        assert_eq!(TotpSecret::from_bytes(b"short"), None);
    }
}
