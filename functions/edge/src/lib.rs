//! What the Tenantry Workers share: configuration from Worker vars and secrets, the
//! tenant-scoped D1 layer, authentication, request bodies and problem+json responses.
//! The decisions themselves are `tenantry-core`'s; this crate only does the I/O.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod claims;
pub mod config;
pub mod cookie;
pub mod db;
pub mod directory;
pub mod http;
pub mod identity;
pub mod integrations;
pub mod internal;
pub mod mail_domain;
pub mod outbox;
pub mod paging;
pub mod password;
pub mod relay;
pub mod routes;
#[cfg(feature = "sign-in")]
pub mod signin;
pub mod tenant_ctx;
pub mod tenant_state;
pub mod throttle;
pub mod users;
pub mod webcrypto;

use tenantry_core::{ErrorCode, Problem};

/// Result of a handler: a response, or the problem to answer instead.
pub type Outcome<T> = std::result::Result<T, Problem>;

/// Maps an I/O error of the runtime to a 500 without leaking its text to the client.
pub fn internal(error: impl std::fmt::Display) -> Problem {
    worker::console_error!("internal error: {error}");
    Problem::new(ErrorCode::Internal, "internal error; see the Worker logs")
}

/// Seconds since the Unix epoch, from the runtime's clock.
pub fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}

/// Random bytes from the runtime's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the Workers runtime provides crypto.getRandomValues");
    bytes
}

/// A random opaque id with a prefix, e.g. `t_3f9a...`.
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 12] = random_bytes();
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    id.push('_');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}
