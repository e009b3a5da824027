//! Error codes shared by every shell, each with its HTTP status and title, and the
//! RFC 9457 `application/problem+json` document built from them.
//!
//! A code is stable and machine-readable: clients and tests match on it. Shells map
//! their typed errors to a code once and render it here, so every Worker answers the
//! same error the same way.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{Map, Value};

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $title:literal)),+ $(,)?) => {
        /// Every error a Tenantry shell can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = $title]
                $variant,
            )+
        }

        impl ErrorCode {
            /// All codes, for documentation and exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The stable machine-readable code, e.g. `tenant_suspended`.
            pub const fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            /// The HTTP status this code is answered with.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),+ }
            }

            /// A short human-readable summary that does not change between occurrences.
            pub const fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title),+ }
            }

            /// The code for a stable string, if it is one.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(ErrorCode::$variant),)+ _ => None }
            }
        }
    };
}

error_codes! {
    InvalidRequest => ("invalid_request", 400, "The request is malformed"),
    AmbiguousTenant => ("ambiguous_tenant", 400, "The request names more than one tenant"),
    TenantRequired => ("tenant_required", 400, "The request does not name a tenant"),
    InvalidPath => ("invalid_path", 400, "The proxied path is not allowed"),
    InvalidSignature => ("invalid_signature", 400, "The webhook signature is not valid"),
    Unauthenticated => ("unauthenticated", 401, "Authentication is missing or invalid"),
    TokenExpired => ("token_expired", 401, "The credential has expired"),
    InvalidCredentials => ("invalid_credentials", 401, "The email address or the password is wrong"),
    TokenReused => ("token_reused", 401, "The refresh token was already used; its session is revoked"),
    TokenInvalid => ("token_invalid", 400, "The token is unknown, used or expired"),
    InvalidCode => ("invalid_code", 401, "The second factor's code is wrong or was already used"),
    MfaRequired => ("mfa_required", 403, "The tenant requires a second factor of its members"),
    WeakPassword => ("weak_password", 400, "The password does not meet the password rules"),
    EmailUnverified => ("email_unverified", 403, "The email address is not verified yet"),
    AccountSuspended => ("account_suspended", 403, "The account is suspended"),
    SignupClosed => ("signup_closed", 403, "Sign-up is not open on this deployment"),
    InvitationInvalid => ("invitation_invalid", 410, "The invitation is unknown, used, revoked or expired"),
    Forbidden => ("forbidden", 403, "The principal lacks a permission"),
    TenantMismatch => ("tenant_mismatch", 403, "The credential belongs to another tenant"),
    TenantInactive => ("tenant_inactive", 403, "The tenant is not active yet"),
    TenantSuspended => ("tenant_suspended", 403, "The tenant is suspended"),
    QuotaExceeded => ("quota_exceeded", 403, "A quota of the tenant's plan is exhausted"),
    NotFound => ("not_found", 404, "The resource does not exist"),
    TenantNotFound => ("tenant_not_found", 404, "The tenant does not exist"),
    MethodNotAllowed => ("method_not_allowed", 405, "The method is not allowed on this resource"),
    Conflict => ("conflict", 409, "The resource already exists or changed meanwhile"),
    PayloadTooLarge => ("payload_too_large", 413, "The request body is too large"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "The content type is not supported"),
    RateLimited => ("rate_limited", 429, "Too many requests for this tenant"),
    TooManyAttempts => ("too_many_attempts", 429, "Too many failed attempts; retry later"),
    Internal => ("internal", 500, "An internal error occurred"),
    Misconfigured => ("misconfigured", 500, "The deployment is missing a setting"),
    UpstreamError => ("upstream_error", 502, "The upstream service failed"),
    UpstreamTimeout => ("upstream_timeout", 504, "The upstream service timed out"),
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.code())
    }
}

/// The base of the `type` URI of every problem document.
pub const PROBLEM_TYPE_BASE: &str = "https://tenantry.dev/problems/";

/// The media type of a problem document.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One RFC 9457 problem: a code, a detail for this occurrence and extension members.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What went wrong.
    pub code: ErrorCode,
    /// What went wrong this time; never contains a secret.
    pub detail: String,
    /// Extension members such as `current`, `limit` and `requested` for quotas.
    pub extensions: Vec<(String, Value)>,
    /// A status other than the code's, where a peer's contract says so.
    status_override: Option<u16>,
}

impl Problem {
    /// A problem with a detail and no extension members.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            code,
            detail: detail.into(),
            extensions: Vec::new(),
            status_override: None,
        }
    }

    /// Answers with `status` instead of the code's own: Meta expects 401 for a bad
    /// webhook signature where Stripe expects 400, and both are `invalid_signature`.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status_override = Some(status);
        self
    }

    /// Adds an extension member; the standard members cannot be overridden.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        if !matches!(
            name,
            "type" | "title" | "status" | "code" | "detail" | "instance"
        ) {
            self.extensions.push((name.to_string(), value.into()));
        }
        self
    }

    /// The HTTP status of this problem.
    pub fn status(&self) -> u16 {
        self.status_override.unwrap_or(self.code.status())
    }

    /// The problem as a JSON object; `instance` is usually the request id.
    pub fn to_value(&self, instance: Option<&str>) -> Value {
        let mut object = Map::new();
        let mut type_uri = String::from(PROBLEM_TYPE_BASE);
        type_uri.push_str(self.code.code());
        object.insert("type".into(), Value::String(type_uri));
        object.insert("title".into(), self.code.title().into());
        object.insert("status".into(), self.status().into());
        object.insert("code".into(), self.code.code().into());
        object.insert("detail".into(), Value::String(self.detail.clone()));
        if let Some(instance) = instance {
            object.insert("instance".into(), instance.into());
        }
        for (name, value) in &self.extensions {
            object.insert(name.clone(), value.clone());
        }
        Value::Object(object)
    }

    /// The problem serialised as a JSON document.
    pub fn to_json(&self, instance: Option<&str>) -> String {
        self.to_value(instance).to_string()
    }
}

/// Makes a core error (with `code()` and `Display`) the problem its code names, its
/// message as the detail, so the shells map errors with `?`. Invoked beside each error
/// type.
macro_rules! problem_from {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for $crate::problem::Problem {
            fn from(error: $error) -> Self {
                $crate::problem::Problem::new(error.code(), alloc::string::ToString::to_string(&error))
            }
        })*
    };
}
pub(crate) use problem_from;

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn core_errors_become_the_problem_of_their_code() {
        let problem = Problem::from(crate::webhook::WebhookError::TimestampTooOld);
        assert_eq!(problem.code, ErrorCode::InvalidSignature);
        assert_eq!(problem.detail, "the signature timestamp is too old");
        let expired = Problem::from(crate::auth::AuthError::Expired);
        assert_eq!(expired.code, ErrorCode::TokenExpired);
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, a) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(ErrorCode::from_code(a.code()), Some(*a));
            assert!(
                (400..600).contains(&a.status()),
                "{a} has status {}",
                a.status()
            );
            for b in &ErrorCode::ALL[i + 1..] {
                assert_ne!(a.code(), b.code());
            }
        }
        assert_eq!(ErrorCode::from_code("nope"), None);
    }

    #[test]
    fn statuses_follow_the_api_contract() {
        let table = [
            ("ambiguous_tenant", 400),
            ("tenant_mismatch", 403),
            ("tenant_not_found", 404),
            ("tenant_inactive", 403),
            ("tenant_suspended", 403),
            ("unauthenticated", 401),
            ("token_expired", 401),
            ("forbidden", 403),
            ("rate_limited", 429),
            ("quota_exceeded", 403),
            ("payload_too_large", 413),
            ("invalid_request", 400),
            ("unsupported_media_type", 415),
            ("invalid_signature", 400),
            ("invalid_path", 400),
            ("upstream_timeout", 504),
            ("upstream_error", 502),
            ("misconfigured", 500),
        ];
        for (code, status) in table {
            assert_eq!(
                ErrorCode::from_code(code).unwrap().status(),
                status,
                "{code}"
            );
        }
    }

    #[test]
    fn problem_document_has_rfc9457_members_and_extensions() {
        let problem = Problem::new(ErrorCode::QuotaExceeded, "clients: 50 of 50 used")
            .with("current", 50)
            .with("limit", 50)
            .with("requested", 1)
            .with("status", 200);
        let value = problem.to_value(Some("req-1"));
        assert_eq!(
            value["type"],
            "https://tenantry.dev/problems/quota_exceeded"
        );
        assert_eq!(value["status"], 403, "an extension cannot override status");
        assert_eq!(value["code"], "quota_exceeded");
        assert_eq!(value["instance"], "req-1");
        assert_eq!(value["current"], 50);
        assert_eq!(value["requested"], 1);
        let parsed: Value = serde_json::from_str(&problem.to_json(None)).unwrap();
        assert!(parsed.get("instance").is_none());
    }
}
