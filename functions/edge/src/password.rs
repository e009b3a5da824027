//! Password hashing in the Worker, as the stored PHC string says: PBKDF2-HMAC-SHA256
//! through WebCrypto (the runtime's native code) or Argon2id with RustCrypto's `argon2`
//! (WebAssembly). The core parses and writes the strings, compares digests and says
//! when a hash is weaker than the policy and must be redone.

use crate::webcrypto::{js_error, subtle};
use crate::{Outcome, internal, random_bytes};
use tenantry_core::auth::password::{PasswordScheme, StoredHash, UnsupportedHash};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Digest length of new hashes.
const DIGEST_LEN: usize = 32;

/// A fixed salt for the hash spent on an unknown account (so that it costs what a
/// known one does); it never matches anything, as no digest is compared.
const DECOY_SALT: [u8; 16] = *b"tenantry-decoy-s";

async fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Outcome<Vec<u8>> {
    let subtle = subtle()?;
    let usages = js_sys::Array::of1(&"deriveBits".into());
    let key = JsFuture::from(
        subtle
            .import_key_with_str(
                "raw",
                &js_sys::Uint8Array::from(password),
                "PBKDF2",
                false,
                &usages,
            )
            .map_err(js_error)?,
    )
    .await
    .map_err(js_error)?;
    let params = js_sys::Object::new();
    for (name, value) in [
        ("name", JsValue::from_str("PBKDF2")),
        ("hash", JsValue::from_str("SHA-256")),
        ("salt", js_sys::Uint8Array::from(salt).into()),
        ("iterations", JsValue::from_f64(f64::from(iterations))),
    ] {
        js_sys::Reflect::set(&params, &name.into(), &value).map_err(js_error)?;
    }
    let bits = JsFuture::from(
        subtle
            .derive_bits_with_object(&params, &key.unchecked_into(), (len * 8) as u32)
            .map_err(js_error)?,
    )
    .await
    .map_err(js_error)?;
    Ok(js_sys::Uint8Array::new(&bits).to_vec())
}

fn argon2id(
    password: &[u8],
    salt: &[u8],
    (memory_kib, time, parallelism): (u32, u32, u32),
    len: usize,
) -> Outcome<Vec<u8>> {
    let params = argon2::Params::new(memory_kib, time, parallelism, Some(len))
        .map_err(|e| internal(format!("argon2 parameters: {e}")))?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = vec![0u8; len];
    hasher
        .hash_password_into(password, salt, &mut out)
        .map_err(|e| internal(format!("argon2: {e}")))?;
    Ok(out)
}

/// The digest of `password` under `scheme` with `salt`.
pub async fn derive(
    scheme: PasswordScheme,
    password: &str,
    salt: &[u8],
    len: usize,
) -> Outcome<Vec<u8>> {
    match scheme {
        PasswordScheme::Pbkdf2Sha256 { iterations } => {
            pbkdf2(password.as_bytes(), salt, iterations, len).await
        }
        PasswordScheme::Argon2id {
            memory_kib,
            time,
            parallelism,
        } => argon2id(
            password.as_bytes(),
            salt,
            (memory_kib, time, parallelism),
            len,
        ),
    }
}

/// A new PHC hash of `password` under `scheme`, with a random salt.
pub async fn hash_new(scheme: PasswordScheme, password: &str) -> Outcome<String> {
    let salt: [u8; 16] = random_bytes();
    let digest = derive(scheme, password, &salt, DIGEST_LEN).await?;
    Ok(StoredHash::encode(scheme, &salt, &digest))
}

/// The outcome of a password check.
pub struct Checked {
    pub matches: bool,
    /// The new hash to store when the stored one is weaker than the policy.
    pub rehash: Option<String>,
}

/// Checks `password` against the stored hash; with no hash (an unknown account, or an
/// account without a password yet) the policy's hash is spent on a decoy so the answer
/// takes as long, and nothing matches. A stored hash that cannot be parsed fails closed.
pub async fn verify(
    stored: Option<&str>,
    password: &str,
    policy: PasswordScheme,
) -> Outcome<Checked> {
    let parsed = stored.map(StoredHash::parse);
    let Some(Ok(stored)) = parsed else {
        if let Some(Err(UnsupportedHash)) = parsed {
            worker::console_error!(
                "an account's stored password hash is not a supported PHC string"
            );
        }
        derive(policy, password, &DECOY_SALT, DIGEST_LEN).await?;
        return Ok(Checked {
            matches: false,
            rehash: None,
        });
    };
    let digest = derive(stored.scheme, password, &stored.salt, stored.digest.len()).await?;
    let matches = stored.matches(&digest);
    let rehash = if matches && stored.scheme.weaker_than(&policy) {
        Some(hash_new(policy, password).await?)
    } else {
        None
    };
    Ok(Checked { matches, rehash })
}
