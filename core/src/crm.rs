//! CRM proxy policy: which upstream path, which credentials, which permission, which
//! headers.
//!
//! `/v1/crm/{path}` goes to `{base_url}/{path}` with the tenant's API key;
//! `/v1/crm/admin/{path}` goes to the same place with the tenant's admin credentials.
//! The path is checked while still percent-encoded, so what is checked is what is sent.

use crate::problem::ErrorCode;
use alloc::string::{String, ToString};

/// Why a proxied request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    /// Traversal, an encoded slash or backslash, an absolute URL, a control character,
    /// or an empty path.
    #[error("the CRM path is not allowed: {0}")]
    InvalidPath(&'static str),
    /// A method the proxy does not carry.
    #[error("the method is not allowed through the CRM proxy")]
    MethodNotAllowed,
    /// The configured base URL is not an absolute http(s) URL without credentials.
    #[error(
        "the CRM base URL must be http(s)://host[:port][/path] without credentials, query or fragment"
    )]
    InvalidBaseUrl,
}

impl CrmError {
    /// The error code answered to the client.
    pub const fn code(self) -> ErrorCode {
        match self {
            CrmError::InvalidPath(_) => ErrorCode::InvalidPath,
            CrmError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            CrmError::InvalidBaseUrl => ErrorCode::InvalidRequest,
        }
    }
}

crate::problem::problem_from!(CrmError);

/// Which credentials to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// `X-Api-Key` with the tenant's API key.
    ApiKey,
    /// `Authorization: Basic` with the tenant's admin user.
    Admin,
}

/// What to do with a proxied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPlan {
    /// Credentials to inject.
    pub credentials: Credentials,
    /// The path to append to the base URL (no leading slash, still encoded).
    pub upstream_path: String,
    /// The permission needed, as `(resource, action)`.
    pub permission: (&'static str, &'static str),
    /// Whether the request changes data (and is audited).
    pub mutation: bool,
}

/// The tenant's validated EspoCRM base URL, without trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmBaseUrl(String);

impl CrmBaseUrl {
    /// Validates `http(s)://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<Self, CrmError> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or(CrmError::InvalidBaseUrl)?;
        let authority = rest.split('/').next().unwrap_or_default();
        let valid = !authority.is_empty()
            && !text.contains(['?', '#', '@', '\\', ' '])
            && !text.bytes().any(|b| b.is_ascii_control())
            && authority.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !valid {
            return Err(CrmError::InvalidBaseUrl);
        }
        Ok(CrmBaseUrl(text.trim_end_matches('/').to_string()))
    }

    /// The base URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The upstream URL for a plan and the client's raw query string.
    pub fn join(&self, plan: &ProxyPlan, query: Option<&str>) -> String {
        let mut url = alloc::format!("{}/{}", self.0, plan.upstream_path);
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

fn permission_for(method: &str) -> Result<(&'static str, bool), CrmError> {
    Ok(match method {
        "GET" | "HEAD" => ("read", false),
        "POST" | "PUT" | "PATCH" => ("write", true),
        "DELETE" => ("delete", true),
        _ => return Err(CrmError::MethodNotAllowed),
    })
}

fn decode_hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

fn check_path(path: &str) -> Result<(), CrmError> {
    if path.is_empty() {
        return Err(CrmError::InvalidPath("empty path"));
    }
    if path.starts_with('/') {
        return Err(CrmError::InvalidPath("absolute or protocol-relative URL"));
    }
    if path
        .split('/')
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        return Err(CrmError::InvalidPath("absolute URL"));
    }
    let bytes = path.as_bytes();
    let mut decoded_segment = String::new();
    let mut i = 0;
    let check_segment = |segment: &str| {
        if segment == "." || segment == ".." {
            Err(CrmError::InvalidPath("traversal"))
        } else if segment.is_empty() {
            Err(CrmError::InvalidPath("empty segment"))
        } else {
            Ok(())
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' => {
                check_segment(&decoded_segment)?;
                decoded_segment.clear();
            }
            b'%' => {
                let decoded = bytes
                    .get(i + 1..i + 3)
                    .and_then(decode_hex_pair)
                    .ok_or(CrmError::InvalidPath("bad percent-encoding"))?;
                if matches!(decoded, b'/' | b'\\') {
                    return Err(CrmError::InvalidPath("encoded slash"));
                }
                if decoded.is_ascii_control() || decoded == b'%' {
                    return Err(CrmError::InvalidPath("encoded control character"));
                }
                decoded_segment.push(decoded as char);
                i += 2;
            }
            b'\\' => return Err(CrmError::InvalidPath("backslash")),
            _ if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) => {
                decoded_segment.push(b as char);
            }
            _ => return Err(CrmError::InvalidPath("character not allowed in a path")),
        }
        i += 1;
    }
    check_segment(&decoded_segment)
}

/// Plans a request to `/v1/crm/{rest}`: `rest` is what follows `/v1/crm/`, still
/// percent-encoded, without the query.
pub fn plan(method: &str, rest: &str) -> Result<ProxyPlan, CrmError> {
    let (action, mutation) = permission_for(method)?;
    let (credentials, path, action) = match rest.strip_prefix("admin/") {
        Some(admin_path) => (Credentials::Admin, admin_path, "admin"),
        None => (Credentials::ApiKey, rest, action),
    };
    check_path(path)?;
    Ok(ProxyPlan {
        credentials,
        upstream_path: path.to_string(),
        permission: ("crm", action),
        mutation,
    })
}

/// Whether a client request header may reach the CRM. The client's own credentials,
/// cookies, hop-by-hop headers and the platform's internal headers never do.
pub fn forward_request_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !matches!(
        name.as_str(),
        "authorization"
            | "cookie"
            | "x-api-key"
            | "host"
            | "connection"
            | "keep-alive"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "x-tenant"
            | "x-tenant-id"
            | "x-forwarded-for"
            | "x-real-ip"
            | "forwarded"
    ) && !name.starts_with("x-tenantry-")
        && !name.starts_with("cf-")
}

/// Whether a CRM response header may reach the client: never its session cookies or
/// hop-by-hop headers.
pub fn forward_response_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !matches!(
        name.as_str(),
        "set-cookie"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "upgrade"
            | "trailer"
            | "content-length"
    ) && !name.starts_with("x-tenantry-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn methods_map_to_permissions() {
        let table = [
            ("GET", "Contact", Credentials::ApiKey, "read", false),
            ("HEAD", "Contact", Credentials::ApiKey, "read", false),
            ("POST", "Contact", Credentials::ApiKey, "write", true),
            ("PUT", "Contact/1", Credentials::ApiKey, "write", true),
            ("PATCH", "Contact/1", Credentials::ApiKey, "write", true),
            ("DELETE", "Contact/1", Credentials::ApiKey, "delete", true),
            ("GET", "admin/User", Credentials::Admin, "admin", false),
            ("DELETE", "admin/User/1", Credentials::Admin, "admin", true),
        ];
        for (method, rest, credentials, action, mutation) in table {
            let p = plan(method, rest).unwrap();
            assert_eq!(
                (p.credentials, p.permission, p.mutation),
                (credentials, ("crm", action), mutation),
                "{method} {rest}"
            );
        }
        assert_eq!(plan("TRACE", "Contact"), Err(CrmError::MethodNotAllowed));
        assert_eq!(plan("OPTIONS", "Contact"), Err(CrmError::MethodNotAllowed));
    }

    #[test]
    fn dangerous_paths_are_refused() {
        for bad in [
            "",
            "../admin",
            "Contact/../../etc/passwd",
            "Contact/%2e%2e/x",
            "%2E%2E",
            "Contact/.%2e/x",
            "Contact%2fUser",
            "Contact%2FUser",
            "Contact%5cUser",
            "Contact\\User",
            "/evil.example/x",
            "//evil.example/x",
            "http://evil.example/x",
            "https:%2f%2fevil",
            "Contact//x",
            "Contact/./x",
            "Contact%00",
            "Contact%0d%0aX-Injected:1",
            "Contact x",
            "Contact%zz",
            "Contact%4",
            "Contact#frag",
            "Contact?x=1",
        ] {
            let refused = plan("GET", bad);
            assert!(
                matches!(refused, Err(CrmError::InvalidPath(_))),
                "{bad:?} gave {refused:?}"
            );
            assert_eq!(refused.unwrap_err().code(), ErrorCode::InvalidPath);
        }
        for good in [
            "Contact",
            "Contact/5f1a2b",
            "Account/1/contacts",
            "Lead%20Source",
            "User@x",
            "a.b",
        ] {
            assert!(plan("GET", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn base_urls_and_joining() {
        let base = CrmBaseUrl::parse("https://crm.paris.example/api/v1/").unwrap();
        let p = plan("GET", "Contact").unwrap();
        assert_eq!(
            base.join(&p, Some("maxSize=5")),
            "https://crm.paris.example/api/v1/Contact?maxSize=5"
        );
        assert_eq!(
            base.join(&p, Some("")),
            "https://crm.paris.example/api/v1/Contact"
        );
        assert!(CrmBaseUrl::parse("http://127.0.0.1:9000/api/v1").is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@x",
            "https://x/?a",
            "https://x/#f",
            "x.example",
            "https://x y",
        ] {
            assert_eq!(
                CrmBaseUrl::parse(bad),
                Err(CrmError::InvalidBaseUrl),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn header_policy() {
        for stripped in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "Host",
            "X-Tenant",
            "X-Tenantry-Context",
            "CF-Connecting-IP",
            "Transfer-Encoding",
        ] {
            assert!(!forward_request_header(stripped), "{stripped}");
        }
        for kept in ["Accept", "Content-Type", "X-Request-Id", "If-None-Match"] {
            assert!(forward_request_header(kept), "{kept}");
        }
        assert!(!forward_response_header("Set-Cookie"));
        assert!(forward_response_header("Content-Type"));
    }

    proptest! {
        /// Whatever passes never climbs out of the base path or changes host.
        #[test]
        fn accepted_paths_stay_under_the_base(path in "[a-zA-Z0-9%./\\\\:@-]{0,30}") {
            if let Ok(p) = plan("GET", &path) {
                let decoded = p.upstream_path.replace("%2e", ".").replace("%2E", ".");
                prop_assert!(!decoded.split('/').any(|s| s == ".." || s == "." || s.is_empty()));
                prop_assert!(!p.upstream_path.starts_with('/'));
                prop_assert!(!p.upstream_path.to_ascii_lowercase().contains("%2f"));
                prop_assert!(!p.upstream_path.contains('\\'));
            }
        }
    }
}
