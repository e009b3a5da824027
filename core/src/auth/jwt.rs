//! Platform JWTs: HS256 only.
//!
//! Signing goes through jwt-compact, behind the `jwt-sign` feature (only the issuer and
//! the tests mint tokens). Verification is a dedicated path because most of
//! the cost of a general-purpose verifier is not cryptography: the HMAC key schedule is
//! computed once per [`JwtKey`] (not per token), the standard header is recognised
//! without decoding it, the signature is checked before any claim is parsed, and the
//! claims are parsed once, straight into [`Claims`]. Every check still runs: `alg`,
//! `crit`, signature, `iss`, `aud`, `exp`, `iat` and `nbf`.

use super::AuthError;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
#[cfg(feature = "jwt-sign")]
use jwt_compact::AlgorithmExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// `{"alg":"HS256","typ":"JWT"}` as jwt-compact writes it, base64url-encoded.
const STANDARD_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// One of the tenants a user belongs to, as carried in `tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantClaim {
    /// Tenant id.
    pub id: String,
    /// Tenant slug.
    pub slug: String,
    /// Role in that tenant.
    pub role: String,
}

/// `aud` is a string or an array of strings (RFC 7519 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among them.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// The claims of a platform JWT. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// The user's own tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user's role in `tenant_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_role: Option<String>,
    /// Every tenant the user belongs to.
    #[serde(default)]
    pub tenants: Vec<TenantClaim>,
    /// `superadmin` for platform operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_role: Option<String>,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: Audience,
    /// The sign-in session a platform-issued token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How the session authenticated (RFC 8176: `pwd`, `otp`, `mfa`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// What a token must say to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// Expected `iss` (`JWT_ISSUER`, default `tenantry`).
    pub issuer: String,
    /// Expected member of `aud` (`JWT_AUDIENCE`, default `tenantry-api`).
    pub audience: String,
    /// Clock skew tolerated on `exp`, `iat` and `nbf`.
    pub leeway_secs: i64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            issuer: "tenantry".into(),
            audience: "tenantry-api".into(),
            leeway_secs: 30,
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// The custom part of the claims as jwt-compact serialises it (it writes the times).
#[cfg(feature = "jwt-sign")]
#[derive(Serialize)]
struct SignedClaims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_role: Option<&'a str>,
    tenants: &'a [TenantClaim],
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_role: Option<&'a str>,
    iss: &'a str,
    aud: &'a Audience,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    amr: &'a [String],
}

/// An HS256 key, ready to sign and verify.
#[derive(Clone)]
pub struct JwtKey {
    #[cfg(feature = "jwt-sign")]
    signing: jwt_compact::alg::Hs256Key,
    keyed_mac: Hmac<Sha256>,
}

impl core::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("JwtKey(..)")
    }
}

impl JwtKey {
    /// A key from the shared secret (`JWT_SECRET`); an empty secret is refused.
    pub fn new(secret: &[u8]) -> Result<Self, crate::mac::EmptyKey> {
        Ok(JwtKey {
            keyed_mac: crate::mac::hmac_key(secret)?,
            #[cfg(feature = "jwt-sign")]
            signing: jwt_compact::alg::Hs256Key::new(secret),
        })
    }

    #[cfg(feature = "jwt-sign")]
    /// Signs claims with jwt-compact; `iat`, `exp` and `nbf` are taken from `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let custom = SignedClaims {
            sub: &claims.sub,
            tenant_id: claims.tenant_id.as_deref(),
            tenant_role: claims.tenant_role.as_deref(),
            tenants: &claims.tenants,
            platform_role: claims.platform_role.as_deref(),
            iss: &claims.iss,
            aud: &claims.aud,
            sid: claims.sid.as_deref(),
            amr: &claims.amr,
        };
        let mut compact = jwt_compact::Claims::new(custom);
        compact.issued_at = chrono::DateTime::from_timestamp(claims.iat, 0);
        compact.expiration = chrono::DateTime::from_timestamp(claims.exp, 0);
        compact.not_before = claims
            .nbf
            .and_then(|nbf| chrono::DateTime::from_timestamp(nbf, 0));
        let header = jwt_compact::Header::empty().with_token_type("JWT");
        jwt_compact::alg::Hs256
            .token(&header, &compact, &self.signing)
            .expect("serialising owned strings cannot fail")
    }

    /// Verifies the algorithm and the signature, then parses the claims as `T`. Times,
    /// issuer and audience are not checked: use [`JwtKey::verify`] for platform tokens.
    pub fn verify_signature<T: DeserializeOwned>(&self, token: &str) -> Result<T, AuthError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(AuthError::Malformed)?;
        if header != STANDARD_HEADER {
            check_header(header)?;
        }
        let mut signature_bytes = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut signature_bytes) {
            Ok(32) => {}
            Ok(_) => return Err(AuthError::BadSignature),
            Err(_) => return Err(AuthError::Malformed),
        }
        let mut mac = self.keyed_mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature_bytes)
            .map_err(|_| AuthError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::Malformed)?;
        serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)
    }

    /// Verifies a platform token at time `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, config: &JwtConfig, now: i64) -> Result<Claims, AuthError> {
        let claims: Claims = self.verify_signature(token)?;
        if claims.iss != config.issuer {
            return Err(AuthError::WrongIssuer);
        }
        if !claims.aud.contains(&config.audience) {
            return Err(AuthError::WrongAudience);
        }
        let leeway = config.leeway_secs;
        if now >= claims.exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        let not_before = claims.nbf.unwrap_or(claims.iat).max(claims.iat);
        if not_before > now.saturating_add(leeway) {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims)
    }
}

fn check_header(header_b64: &str) -> Result<(), AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::Malformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    // RFC 7515 4.1.11: an extension we do not understand must make the token invalid.
    if header.alg != "HS256" || header.crit.is_some() {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: i64 = 1_800_000_000;

    fn claims() -> Claims {
        Claims {
            sub: "u_1".into(),
            tenant_id: Some("t_paris".into()),
            tenant_role: Some("owner".into()),
            tenants: alloc::vec![TenantClaim {
                id: "t_paris".into(),
                slug: "paris".into(),
                role: "owner".into()
            }],
            platform_role: None,
            iat: NOW - 10,
            exp: NOW + 3600,
            nbf: None,
            iss: "tenantry".into(),
            aud: Audience::One("tenantry-api".into()),
            sid: None,
            amr: Vec::new(),
        }
    }

    fn key() -> JwtKey {
        JwtKey::new(b"test-secret-at-least-32-bytes-long!!").unwrap()
    }

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Signs arbitrary header and payload JSON with the key, as an attacker with the
    /// key would (or as a careless issuer would).
    fn forge(header: &str, payload: &str, secret: &[u8]) -> String {
        let input = alloc::format!("{}.{}", b64(header), b64(payload));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        alloc::format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn signed_token_uses_the_standard_header_and_round_trips() {
        let token = key().sign(&claims());
        assert!(token.starts_with(STANDARD_HEADER));
        assert_eq!(
            key().verify(&token, &JwtConfig::default(), NOW),
            Ok(claims())
        );
    }

    #[test]
    fn rfc7515_a1_vector_verifies_without_expiry_and_expires_with_it() {
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let secret = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let key = JwtKey::new(&secret).unwrap();
        let claims: serde_json::Value = key.verify_signature(token).unwrap();
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["exp"], 1_300_819_380);
        assert_eq!(claims["http://example.com/is_root"], true);
        let mut tampered = String::from(token);
        tampered.replace_range(token.len() - 2..token.len() - 1, "Y");
        assert_eq!(
            key.verify_signature::<serde_json::Value>(&tampered),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn other_algorithms_and_crit_are_refused_even_when_signed() {
        let secret = b"test-secret-at-least-32-bytes-long!!";
        let payload = serde_json::to_string(&claims()).unwrap();
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
        ] {
            let token = forge(header, &payload, secret);
            assert_eq!(
                key().verify(&token, &JwtConfig::default(), NOW),
                Err(AuthError::UnsupportedAlgorithm),
                "{header}"
            );
        }
        // `alg: none` with an empty signature.
        let unsigned = alloc::format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&payload));
        assert!(key().verify(&unsigned, &JwtConfig::default(), NOW).is_err());
        // Another header spelling of HS256 is fine.
        let token = forge(r#"{"typ":"JWT", "alg":"HS256"}"#, &payload, secret);
        assert!(key().verify(&token, &JwtConfig::default(), NOW).is_ok());
    }

    #[test]
    fn claim_checks() {
        let config = JwtConfig::default();
        let check = |c: Claims| key().verify(&key().sign(&c), &config, NOW);
        let mut c = claims();
        c.exp = NOW - 31;
        assert_eq!(check(c), Err(AuthError::Expired));
        let mut c = claims();
        c.exp = NOW - 29;
        assert!(check(c).is_ok(), "within leeway");
        let mut c = claims();
        c.iat = NOW + 60;
        assert_eq!(check(c), Err(AuthError::NotYetValid));
        let mut c = claims();
        c.nbf = Some(NOW + 60);
        assert_eq!(check(c), Err(AuthError::NotYetValid));
        let mut c = claims();
        c.iss = "someone-else".into();
        assert_eq!(check(c), Err(AuthError::WrongIssuer));
        let mut c = claims();
        c.aud = Audience::One("other-api".into());
        assert_eq!(check(c), Err(AuthError::WrongAudience));
        let mut c = claims();
        c.aud = Audience::Many(alloc::vec!["other-api".into(), "tenantry-api".into()]);
        assert!(check(c).is_ok());
    }

    #[test]
    fn wrong_key_and_malformed_tokens() {
        let token = key().sign(&claims());
        let other = JwtKey::new(b"another-secret-another-secret-!!").unwrap();
        assert_eq!(
            other.verify(&token, &JwtConfig::default(), NOW),
            Err(AuthError::BadSignature)
        );
        for bad in ["", "a", "a.b", "a.b.c", "..", &token[..token.len() - 5]] {
            assert!(
                key().verify(bad, &JwtConfig::default(), NOW).is_err(),
                "{bad:?}"
            );
        }
        // A payload of the wrong shape under a valid signature.
        let token = forge(
            r#"{"alg":"HS256"}"#,
            r#"{"sub":1}"#,
            b"test-secret-at-least-32-bytes-long!!",
        );
        assert_eq!(
            key().verify(&token, &JwtConfig::default(), NOW),
            Err(AuthError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_refused(index in 0usize..400, replacement in "[A-Za-z0-9_-]") {
            let token = key().sign(&claims());
            let index = index % token.len();
            let mut bytes = token.clone().into_bytes();
            if bytes[index] == b'.' || bytes[index] == replacement.as_bytes()[0] {
                return Ok(());
            }
            bytes[index] = replacement.as_bytes()[0];
            let tampered = String::from_utf8(bytes).unwrap();
            // The last character of a 43-char base64url signature carries 2 unused bits.
            let decoded_equal = |a: &str, b: &str| {
                let (sa, sb) = (a.rsplit_once('.').unwrap().1, b.rsplit_once('.').unwrap().1);
                URL_SAFE_NO_PAD.decode(sa).ok() == URL_SAFE_NO_PAD.decode(sb).ok()
                    && a.rsplit_once('.').unwrap().0 == b.rsplit_once('.').unwrap().0
            };
            if !decoded_equal(&token, &tampered) {
                prop_assert!(key().verify(&tampered, &JwtConfig::default(), NOW).is_err());
            }
        }

        #[test]
        fn verify_never_panics(token in "\\PC{0,200}") {
            let _ = key().verify(&token, &JwtConfig::default(), NOW);
        }

        #[test]
        fn signed_claims_round_trip(sub in "[a-z0-9_]{1,20}", role in "(owner|admin|viewer)", exp in NOW..NOW + 100_000) {
            let mut c = claims();
            c.sub = sub;
            c.tenant_role = Some(role);
            c.exp = exp;
            prop_assert_eq!(key().verify(&key().sign(&c), &JwtConfig::default(), NOW), Ok(c));
        }
    }
}
