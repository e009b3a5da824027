//! The runtime's WebCrypto (`crypto.subtle`): native code for what WebAssembly would do
//! slowly (PBKDF2, RSA key generation).

use crate::internal;
use tenantry_core::Problem;
use wasm_bindgen::{JsCast, JsValue};

/// A WebCrypto failure, as a 500 (the message names the operation).
pub fn js_error(error: JsValue) -> Problem {
    internal(format!("WebCrypto: {error:?}"))
}

/// `crypto.subtle` of the Workers runtime.
pub fn subtle() -> Result<web_sys::SubtleCrypto, Problem> {
    let crypto: web_sys::Crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(js_error)?
        .unchecked_into();
    Ok(crypto.subtle())
}
