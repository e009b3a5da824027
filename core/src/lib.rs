//! `tenantry-core`: every decision of the Tenantry multi-tenant platform, with no I/O.
//!
//! The crate is sans-I/O in the manner of rustls or quinn-proto: callers pass the
//! current time, random bytes and the rows they loaded, and get decisions back. It
//! never reads a clock, a random source, the network or a database, so the same code
//! runs in the Cloudflare Workers (wasm32), in the native SMTP relay and in tests.
//!
//! Modules, each with one job:
//! - [`tenant`]: tenant model, slug and hostname rules, tenant resolution.
//! - [`auth`]: platform JWTs (HS256), API keys, passwords, sessions and sign-in throttling.
//! - [`rbac`]: roles, permissions with wildcards and `:own`, `authorize`.
//! - [`limits`]: plan catalog, overrides, quota checks.
//! - [`ratelimit`]: sliding-window and GCRA rate limiters with header values.
//! - [`webhook`]: Stripe and Meta signature verification, hub.challenge.
//! - [`seal`]: per-tenant sealing of third-party credentials.
//! - [`mail`]: addresses, the mail directory and the recipient policy.
//! - [`billing`], [`whatsapp`], [`crm`]: pure mappings used by the route Workers.
//! - [`internal`]: the signed context the gateway hands to the route Workers.
//! - [`mac`]: HMAC keys that refuse an empty secret.
//! - [`notify`]: the platform's own mail (invitations, verification, resets), rendered.
//! - [`page`]: limits and opaque cursors of every list.
//! - [`problem`]: error codes shared by every shell, with HTTP status and title.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod auth;
pub mod billing;
pub mod calendar;
pub mod crm;
pub mod encoding;
pub mod ids;
pub mod internal;
pub mod limits;
pub mod mac;
pub mod mail;
pub mod notify;
pub mod page;
pub mod problem;
pub mod ratelimit;
pub mod rbac;
pub mod seal;
pub mod settings;
pub mod tenant;
pub mod validate;
pub mod webhook;
pub mod whatsapp;

pub use problem::{ErrorCode, Problem};
