//! The gateway → route Worker hop: the gateway signs an [`InternalContext`] for the
//! request it forwards over a service binding, and the route Worker accepts nothing
//! that does not carry one valid for that very request.

use crate::config::required;
use crate::http::copy_headers;
use crate::{Outcome, internal, now_secs};
use tenantry_core::internal::{ContextKey, HEADER, InternalContext};
use tenantry_core::{ErrorCode, Problem};
use worker::{Env, Request, RequestInit, Response};

/// The key made from `INTERNAL_SECRET`.
pub fn key(env: &Env) -> Outcome<ContextKey> {
    let secret = required(env, "INTERNAL_SECRET")?;
    if secret.len() < 16 {
        return Err(Problem::new(
            ErrorCode::Misconfigured,
            "INTERNAL_SECRET must be at least 16 characters",
        ));
    }
    ContextKey::new(secret.as_bytes())
        .map_err(|_| Problem::new(ErrorCode::Misconfigured, "INTERNAL_SECRET is empty"))
}

/// The context of a request received from the gateway; 401 for anything else. `E` is
/// what the Worker reads of a tenant entry (`IgnoredAny` when it needs none).
pub fn verify<E: serde::de::DeserializeOwned>(
    env: &Env,
    req: &Request,
) -> Outcome<InternalContext<E>> {
    let key = key(env)?;
    let url = req.url().map_err(internal)?;
    let header = req.headers().get(HEADER).ok().flatten();
    key.verify(
        header.as_deref(),
        req.method().as_ref(),
        url.path(),
        now_secs(),
    )
    .map_err(Problem::from)
}

/// Forwards `req` to the Worker bound as `binding`, with its body (`buffered` when the
/// gateway already read it, else streamed through), the client's headers minus any
/// context it tried to supply, and a context signed for it.
pub async fn forward(
    env: &Env,
    binding: &str,
    req: Request,
    context: &InternalContext,
    buffered: Option<Vec<u8>>,
) -> Outcome<Response> {
    let key = key(env)?;
    let service = env.service(binding).map_err(|_| {
        Problem::new(
            ErrorCode::Misconfigured,
            format!("the service binding {binding} is missing"),
        )
    })?;
    let url = req.url().map_err(internal)?;
    let headers = copy_headers(req.headers(), |name| name != HEADER)?;
    headers.set(HEADER, &key.sign(context)).map_err(internal)?;
    headers
        .set("x-request-id", &context.request_id)
        .map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    match buffered {
        Some(bytes) => {
            init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
        }
        None if !matches!(req.method(), worker::Method::Get | worker::Method::Head) => {
            init.with_body(req.inner().body().map(Into::into));
        }
        None => {}
    }
    let forwarded = Request::new_with_init(url.as_str(), &init).map_err(internal)?;
    let response = service.fetch_request(forwarded).await.map_err(internal)?;
    // A fetched response's headers are immutable; the gateway adds its own.
    Ok(Response::builder()
        .with_status(response.status_code())
        .with_headers(copy_headers(response.headers(), |_| true)?)
        .body(response.body().clone()))
}
