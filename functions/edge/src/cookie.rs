//! The refresh token of a browser session travels in an `HttpOnly; Secure;
//! SameSite=Strict` cookie scoped to `/v1/auth/`, out of reach of scripts.

use worker::Request;

pub const NAME: &str = "tenantry_refresh";

/// The refresh token in the request's cookie, if any.
pub fn refresh_token(req: &Request) -> Option<String> {
    let header = req.headers().get("cookie").ok().flatten()?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == NAME && !value.is_empty()).then(|| value.to_string())
    })
}

/// `Set-Cookie` for a new refresh token (`max_age` seconds), or to clear it (0).
pub fn set(token: &str, max_age: i64) -> String {
    format!("{NAME}={token}; Path=/v1/auth/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}
