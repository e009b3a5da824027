//! A tenant's settings: free keys with bounded values, and the branding keys its console
//! applies (`display_name`, `logo_url`, `primary_color`), whose values are checked so that
//! what the console renders is always safe to render, and the keys other parts act on
//! (`require_mfa`, the spam thresholds), checked for the form those parts read.

use crate::mail::spam::{JUNK_SCORE_SETTING, REJECT_SCORE_SETTING, THRESHOLD_FORM, threshold_ok};
use alloc::format;
use alloc::string::{String, ToString};
use serde_json::Value;

/// The setting by which a tenant requires a second factor of its members' sessions
/// (`true`; absent or `false`: not required). The tenant's Durable Object keeps it as
/// hot state, so setting it applies to the very next request.
pub const REQUIRE_MFA_SETTING: &str = "require_mfa";

/// Keys set in one request.
pub const MAX_KEYS_PER_UPDATE: usize = 50;
/// A value's JSON text, at most.
pub const MAX_VALUE_BYTES: usize = 4096;

/// Why a setting is refused; `key` is the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// A key outside `[a-z0-9_.]{1,64}`.
    #[error("setting names are 1 to 64 characters of a-z, 0-9, '_' and '.'")]
    Name(String),
    /// A value over [`MAX_VALUE_BYTES`].
    #[error("a setting's value is at most {MAX_VALUE_BYTES} bytes of JSON")]
    TooLarge(String),
    /// A value of the wrong form for its key (branding, `require_mfa`).
    #[error("{why}")]
    Form {
        /// The key.
        key: String,
        /// What it must be.
        why: &'static str,
    },
}

impl SettingError {
    fn key(&self) -> &str {
        match self {
            SettingError::Name(key) | SettingError::TooLarge(key) => key,
            SettingError::Form { key, .. } => key,
        }
    }
}

impl From<SettingError> for crate::Problem {
    fn from(error: SettingError) -> Self {
        let key = String::from(error.key());
        crate::Problem::new(crate::ErrorCode::InvalidRequest, format!("{key}: {error}"))
            .with("field", key)
    }
}

/// Checks one `key: value` of an update (`null` removes the key and is always allowed).
pub fn check(key: &str, value: &Value) -> Result<(), SettingError> {
    let name_ok = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if !name_ok {
        return Err(SettingError::Name(String::from(key)));
    }
    if value.to_string().len() > MAX_VALUE_BYTES {
        return Err(SettingError::TooLarge(String::from(key)));
    }
    if value.is_null() {
        return Ok(());
    }
    let branding = |why| SettingError::Form {
        key: String::from(key),
        why,
    };
    let text = value.as_str();
    match key {
        "display_name" => match text {
            Some(name) if !name.trim().is_empty() && name.chars().count() <= 100 => Ok(()),
            _ => Err(branding("must be a name of 1 to 100 characters")),
        },
        "logo_url" => match text {
            Some(url)
                if url.starts_with("https://")
                    && url.len() <= 2048
                    && url.len() > "https://".len()
                    && !url
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\".contains(c)) =>
            {
                Ok(())
            }
            _ => Err(branding("must be an https:// URL of an image")),
        },
        "primary_color" => match text {
            Some(color)
                if color.len() == 7
                    && color.starts_with('#')
                    && color[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok(())
            }
            _ => Err(branding("must be a colour as #rrggbb")),
        },
        REQUIRE_MFA_SETTING if !value.is_boolean() => Err(branding("must be true or false")),
        JUNK_SCORE_SETTING | REJECT_SCORE_SETTING if !threshold_ok(value) => {
            Err(branding(THRESHOLD_FORM))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn branding_values_are_checked_and_other_keys_are_free() {
        assert!(check("primary_color", &json!("#1f5fbf")).is_ok());
        assert!(check("logo_url", &json!("https://cdn.example/logo.png")).is_ok());
        assert!(check("display_name", &json!("Hôpital Nord")).is_ok());
        assert!(check("timezone", &json!({"any": ["json"]})).is_ok());
        assert!(check("primary_color", &Value::Null).is_ok());
        assert!(check("require_mfa", &json!(true)).is_ok());
        assert!(check("require_mfa", &json!(false)).is_ok());
        assert!(check("spam_junk_score", &json!(4.5)).is_ok());
        assert!(check("spam_reject_score", &json!(1000)).is_ok());
        for (key, value) in [
            ("primary_color", json!("red")),
            ("primary_color", json!("#12345g")),
            ("logo_url", json!("http://insecure.example/logo.png")),
            ("logo_url", json!("javascript:alert(1)")),
            ("logo_url", json!("https://x.example/a\"onerror=1")),
            ("display_name", json!("")),
            ("display_name", json!(42)),
            ("require_mfa", json!("yes")),
            ("require_mfa", json!(1)),
            ("spam_junk_score", json!("6")),
            ("spam_reject_score", json!(-1)),
            ("spam_reject_score", json!(1e9)),
        ] {
            let error = check(key, &value).unwrap_err();
            let problem: crate::Problem = error.into();
            let field = problem.extensions.iter().find(|(name, _)| name == "field");
            assert_eq!(field.map(|(_, v)| v), Some(&json!(key)), "{value}");
        }
        assert!(matches!(
            check("Bad Key", &json!(1)),
            Err(SettingError::Name(_))
        ));
        let large = json!("x".repeat(MAX_VALUE_BYTES));
        assert!(matches!(
            check("notes", &large),
            Err(SettingError::TooLarge(_))
        ));
    }
}
