//! Webhook verification: Stripe's `Stripe-Signature` and Meta's `X-Hub-Signature-256`,
//! plus Meta's `hub.challenge` subscription handshake. Comparisons are constant-time.

use crate::encoding::{ct_eq, hex_decode_array};
use crate::mac::{HmacSha256, hmac_key};
use crate::problem::ErrorCode;
use alloc::vec::Vec;
use hmac::Mac;

/// Why a webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature header is absent.
    #[error("the signature header is missing")]
    MissingSignature,
    /// The header cannot be parsed (no `t=`, no `v1=`, not `sha256=<hex>`).
    #[error("the signature header is malformed")]
    MalformedSignature,
    /// The timestamp is older than the tolerance.
    #[error("the signature timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the allowed clock skew.
    #[error("the signature timestamp is in the future")]
    TimestampInFuture,
    /// No signature matches any configured secret.
    #[error("no signature matches")]
    SignatureMismatch,
    /// `hub.mode` is not `subscribe`, or `hub.verify_token` does not match.
    #[error("the subscription handshake was refused")]
    HandshakeRefused,
    /// The secret to check against is empty: the deployment or the tenant's integration
    /// is misconfigured, and nothing may pass.
    #[error("the webhook secret is empty")]
    EmptySecret,
}

impl WebhookError {
    /// The error code answered to the sender.
    pub const fn code(self) -> ErrorCode {
        match self {
            WebhookError::HandshakeRefused => ErrorCode::Forbidden,
            WebhookError::EmptySecret => ErrorCode::Misconfigured,
            _ => ErrorCode::InvalidSignature,
        }
    }
}

crate::problem::problem_from!(WebhookError);

/// A parsed `Stripe-Signature` header: `t=<unix>,v1=<hex>,v1=<hex>,v0=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSignature {
    /// The signed timestamp.
    pub timestamp: i64,
    /// Every `v1` signature; other schemes are ignored.
    pub v1: Vec<[u8; 32]>,
}

impl StripeSignature {
    /// Parses the header. A `v1` value that is not 64 hex digits is skipped like an
    /// unknown scheme: it can never match, and the others may.
    pub fn parse(header: &str) -> Result<Self, WebhookError> {
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for item in header.split(',') {
            let Some((key, value)) = item.trim().split_once('=') else {
                continue;
            };
            match key {
                "t" => {
                    let valid_digits =
                        !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                    timestamp = valid_digits.then(|| value.parse::<i64>().ok()).flatten();
                    if timestamp.is_none() {
                        return Err(WebhookError::MalformedSignature);
                    }
                }
                "v1" => {
                    if let Some(signature) = hex_decode_array::<32>(value.as_bytes()) {
                        v1.push(signature);
                    }
                }
                _ => {}
            }
        }
        match timestamp {
            Some(timestamp) if !v1.is_empty() => Ok(StripeSignature { timestamp, v1 }),
            _ => Err(WebhookError::MalformedSignature),
        }
    }
}

/// Verifies Stripe webhooks against one or more endpoint secrets (newest first, so a
/// secret being rotated out keeps working until it is removed).
#[derive(Clone)]
pub struct StripeVerifier {
    keyed: Vec<HmacSha256>,
    /// How old a timestamp may be, in seconds (Stripe's libraries use 300).
    pub tolerance_secs: i64,
    /// How far in the future a timestamp may be, in seconds.
    pub max_future_skew_secs: i64,
}

impl core::fmt::Debug for StripeVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StripeVerifier")
            .field("secrets", &self.keyed.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

impl StripeVerifier {
    /// A verifier with Stripe's 300 s tolerance and a 60 s future skew. The HMAC key
    /// schedule of each secret is computed here, once. No secret, or an empty one, is
    /// refused.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Self, WebhookError> {
        if secrets.is_empty() {
            return Err(WebhookError::EmptySecret);
        }
        Ok(StripeVerifier {
            keyed: secrets
                .iter()
                .map(|s| hmac_key(s.as_ref()).map_err(|_| WebhookError::EmptySecret))
                .collect::<Result<_, _>>()?,
            tolerance_secs: 300,
            max_future_skew_secs: 60,
        })
    }

    /// Verifies `payload` (the raw body) against the header at time `now` and returns
    /// the signed timestamp.
    pub fn verify(
        &self,
        payload: &[u8],
        header: Option<&str>,
        now: i64,
    ) -> Result<i64, WebhookError> {
        let signature = StripeSignature::parse(header.ok_or(WebhookError::MissingSignature)?)?;
        let mut timestamp_text = [0u8; 20];
        let timestamp_bytes = format_i64(signature.timestamp, &mut timestamp_text);
        let mut matched = false;
        for keyed in &self.keyed {
            let mut mac = keyed.clone();
            mac.update(timestamp_bytes);
            mac.update(b".");
            mac.update(payload);
            let expected = mac.finalize().into_bytes();
            for candidate in &signature.v1 {
                matched |= ct_eq(&expected, candidate);
            }
        }
        if !matched {
            return Err(WebhookError::SignatureMismatch);
        }
        if now.saturating_sub(signature.timestamp) > self.tolerance_secs {
            return Err(WebhookError::TimestampTooOld);
        }
        if signature.timestamp.saturating_sub(now) > self.max_future_skew_secs {
            return Err(WebhookError::TimestampInFuture);
        }
        Ok(signature.timestamp)
    }
}

/// Writes a timestamp (never negative: the parser accepts digits only) in decimal
/// without allocating.
fn format_i64(value: i64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buffer[start..]
}

/// Verifies Meta's `X-Hub-Signature-256: sha256=<hex>` over the raw body with the
/// app secret; an empty app secret fails before the header is even read.
pub fn verify_meta_signature(
    raw_body: &[u8],
    header: Option<&str>,
    app_secret: &[u8],
) -> Result<(), WebhookError> {
    if app_secret.is_empty() {
        return Err(WebhookError::EmptySecret);
    }
    let header = header.ok_or(WebhookError::MissingSignature)?.trim();
    let hex = header
        .strip_prefix("sha256=")
        .ok_or(WebhookError::MalformedSignature)?;
    let presented =
        hex_decode_array::<32>(hex.as_bytes()).ok_or(WebhookError::MalformedSignature)?;
    let mut mac = hmac_key(app_secret).map_err(|_| WebhookError::EmptySecret)?;
    mac.update(raw_body);
    mac.verify_slice(&presented)
        .map_err(|_| WebhookError::SignatureMismatch)
}

/// The `GET` subscription handshake: answers the challenge when `hub.mode` is
/// `subscribe` and `hub.verify_token` equals the tenant's token.
pub fn hub_challenge<'a>(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Result<&'a str, WebhookError> {
    let token_ok = verify_token.is_some_and(|t| ct_eq(t.as_bytes(), expected_token.as_bytes()));
    match (mode, challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok && !expected_token.is_empty() => {
            Ok(challenge)
        }
        _ => Err(WebhookError::HandshakeRefused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex_encode;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sign(secret: &[u8], timestamp: i64, payload: &[u8]) -> alloc::string::String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(alloc::format!("{timestamp}.").as_bytes());
        mac.update(payload);
        hex_encode(&mac.finalize().into_bytes())
    }

    const NOW: i64 = 1_700_000_000;
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn stripe_header_parsing() {
        let sig = "a".repeat(64);
        let parsed =
            StripeSignature::parse(&alloc::format!("t=12,v1={sig},v0=zz,v1=bad,x=1,v1={sig}"))
                .unwrap();
        assert_eq!(parsed.timestamp, 12);
        assert_eq!(parsed.v1.len(), 2);
        for bad in [
            "",
            "t=12",
            alloc::format!("v1={sig}").as_str(),
            "t=abc,v1=00",
            "t=-5,v1=aa",
            "garbage",
        ] {
            assert_eq!(
                StripeSignature::parse(bad),
                Err(WebhookError::MalformedSignature),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stripe_signature_rules() {
        let verifier = StripeVerifier::new(&["whsec_new", "whsec_old"]).unwrap();
        let header =
            |secret: &[u8], t: i64| alloc::format!("t={t},v1={}", sign(secret, t, PAYLOAD));
        assert_eq!(
            verifier.verify(PAYLOAD, Some(&header(b"whsec_new", NOW)), NOW),
            Ok(NOW)
        );
        assert_eq!(
            verifier.verify(PAYLOAD, Some(&header(b"whsec_old", NOW)), NOW),
            Ok(NOW),
            "rotation"
        );
        assert_eq!(
            verifier.verify(PAYLOAD, Some(&header(b"whsec_gone", NOW)), NOW),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verifier.verify(PAYLOAD, Some(&header(b"whsec_new", NOW - 301)), NOW),
            Err(WebhookError::TimestampTooOld)
        );
        assert!(
            verifier
                .verify(PAYLOAD, Some(&header(b"whsec_new", NOW - 300)), NOW)
                .is_ok()
        );
        assert_eq!(
            verifier.verify(PAYLOAD, Some(&header(b"whsec_new", NOW + 61)), NOW),
            Err(WebhookError::TimestampInFuture)
        );
        assert_eq!(
            verifier.verify(PAYLOAD, None, NOW),
            Err(WebhookError::MissingSignature)
        );
        let several = alloc::format!(
            "t={NOW},v1={},v1={}",
            "0".repeat(64),
            sign(b"whsec_new", NOW, PAYLOAD)
        );
        assert!(
            verifier.verify(PAYLOAD, Some(&several), NOW).is_ok(),
            "one valid v1 among several"
        );
        let mut tampered = PAYLOAD.to_vec();
        tampered[5] ^= 1;
        assert_eq!(
            verifier.verify(&tampered, Some(&header(b"whsec_new", NOW)), NOW),
            Err(WebhookError::SignatureMismatch)
        );
        let uppercase = alloc::format!(
            "t={NOW},v1={}",
            sign(b"whsec_new", NOW, PAYLOAD).to_uppercase()
        );
        assert!(verifier.verify(PAYLOAD, Some(&uppercase), NOW).is_ok());
    }

    #[test]
    fn meta_signature_rules() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = HmacSha256::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let good = alloc::format!("sha256={}", hex_encode(&mac.finalize().into_bytes()));
        assert_eq!(
            verify_meta_signature(body, Some(&good), b"app-secret"),
            Ok(())
        );
        assert_eq!(
            verify_meta_signature(body, Some(&good), b"other-tenant-secret"),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verify_meta_signature(body, None, b"app-secret"),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify_meta_signature(body, Some(&good[7..]), b"app-secret"),
            Err(WebhookError::MalformedSignature)
        );
        let mut tampered = body.to_vec();
        tampered[3] ^= 0x20;
        assert_eq!(
            verify_meta_signature(&tampered, Some(&good), b"app-secret"),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn hub_challenge_rules() {
        assert_eq!(
            hub_challenge(Some("subscribe"), Some("tok"), Some("123"), "tok"),
            Ok("123")
        );
        for (mode, token, challenge, expected) in [
            (Some("subscribe"), Some("bad"), Some("1"), "tok"),
            (Some("unsubscribe"), Some("tok"), Some("1"), "tok"),
            (None, Some("tok"), Some("1"), "tok"),
            (Some("subscribe"), None, Some("1"), "tok"),
            (Some("subscribe"), Some("tok"), None, "tok"),
            (Some("subscribe"), Some(""), Some("1"), ""),
        ] {
            assert_eq!(
                hub_challenge(mode, token, challenge, expected),
                Err(WebhookError::HandshakeRefused)
            );
        }
    }

    #[test]
    fn an_empty_secret_never_verifies() {
        let body = br#"{"entry":[]}"#;
        // The signature anyone can compute with an empty key.
        let mut mac = HmacSha256::new_from_slice(b"").unwrap();
        mac.update(body);
        let forged = alloc::format!("sha256={}", hex_encode(&mac.finalize().into_bytes()));
        assert_eq!(
            verify_meta_signature(body, Some(&forged), b""),
            Err(WebhookError::EmptySecret)
        );
        assert_eq!(WebhookError::EmptySecret.code(), ErrorCode::Misconfigured);
        assert_eq!(
            StripeVerifier::new::<&str>(&[]).err(),
            Some(WebhookError::EmptySecret)
        );
        assert_eq!(
            StripeVerifier::new(&["whsec_ok", ""]).err(),
            Some(WebhookError::EmptySecret)
        );
    }

    proptest! {
        #[test]
        fn stripe_parse_never_panics(header in "\\PC{0,120}") {
            let _ = StripeSignature::parse(&header);
        }

        #[test]
        fn stripe_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..512), t in 0i64..4_000_000_000) {
            let verifier = StripeVerifier::new(&["s"]).unwrap();
            let header = alloc::format!("t={t},v1={}", sign(b"s", t, &payload));
            prop_assert_eq!(verifier.verify(&payload, Some(&header), t), Ok(t));
        }

        #[test]
        fn meta_round_trip_and_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256), header in "\\PC{0,80}") {
            let mut mac = HmacSha256::new_from_slice(b"s").unwrap();
            mac.update(&body);
            let good = alloc::format!("sha256={}", hex_encode(&mac.finalize().into_bytes()));
            prop_assert_eq!(verify_meta_signature(&body, Some(&good), b"s"), Ok(()));
            prop_assert!(verify_meta_signature(&body, Some(&header), b"s").is_err());
        }

        #[test]
        fn format_matches_display(t in 0i64..i64::MAX) {
            let mut buffer = [0u8; 20];
            let expected = alloc::format!("{t}");
            prop_assert_eq!(format_i64(t, &mut buffer), expected.as_bytes());
        }
    }
}
