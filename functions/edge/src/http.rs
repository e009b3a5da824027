//! Request bodies and responses: JSON in and out, problem+json for every error.

use crate::Outcome;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenantry_core::problem::PROBLEM_CONTENT_TYPE;
use tenantry_core::{ErrorCode, Problem};
use worker::{Headers, Request, Response, Result};

/// Bytes of an oversized body read and dropped before the 413 (see [`read_bytes`]).
const DRAIN_BYTES: usize = 1024 * 1024;

/// Largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A problem+json response carrying the request id.
pub fn problem(problem: &Problem, request_id: &str) -> Result<Response> {
    let mut response =
        Response::ok(problem.to_json(Some(request_id)))?.with_status(problem.status());
    let headers = response.headers_mut();
    headers.set("content-type", PROBLEM_CONTENT_TYPE)?;
    if let Some((_, serde_json::Value::String(allow))) =
        problem.extensions.iter().find(|(name, _)| name == "allow")
    {
        headers.set("allow", allow)?;
    }
    // A problem that says when to retry says it in the header too (RFC 9110 10.2.3).
    if let Some((_, serde_json::Value::Number(seconds))) = problem
        .extensions
        .iter()
        .find(|(name, _)| name == "retry_after")
    {
        headers.set("retry-after", &seconds.to_string())?;
    }
    Ok(response)
}

/// 204 No Content.
pub fn no_content() -> Outcome<Response> {
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(crate::internal)
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Outcome<Response> {
    Response::from_json(body)
        .map(|r| r.with_status(status))
        .map_err(crate::internal)
}

/// A JSON response carrying a secret (a token, codes shown once): `Cache-Control:
/// no-store`, so no cache along the way keeps it.
pub fn secret_json<T: Serialize>(status: u16, body: &T) -> Outcome<Response> {
    let mut response = json(status, body)?;
    response
        .headers_mut()
        .set("cache-control", "no-store")
        .map_err(crate::internal)?;
    Ok(response)
}

/// Reads a JSON body of type `T` (unknown fields are refused by `T`'s serde attributes):
/// 415 unless `application/json`, 413 over [`MAX_BODY_BYTES`], 400 naming what is wrong.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Outcome<T> {
    let content_type = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "send application/json",
        ));
    }
    let bytes = read_bytes(req, MAX_BODY_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Problem::new(ErrorCode::InvalidRequest, format!("invalid JSON body: {e}")))
}

/// The largest magnitude an integer may have to be stored: D1 carries numbers as
/// JavaScript doubles, exact only up to 2^53 - 1, and a larger one would not read back.
pub const MAX_STORED_INT: i64 = (1 << 53) - 1;

/// `value`, or 400 naming `field` when D1 could not store it exactly.
pub fn stored_int(field: &str, value: i64) -> Outcome<i64> {
    if value.unsigned_abs() > MAX_STORED_INT as u64 {
        return Err(invalid(field, format!("must be within ±{MAX_STORED_INT}")));
    }
    Ok(value)
}

/// 400 `invalid_request` naming a field.
pub fn invalid(field: &str, why: impl std::fmt::Display) -> Problem {
    Problem::new(ErrorCode::InvalidRequest, format!("{field}: {why}")).with("field", field)
}

/// 404 `not_found`.
pub fn not_found(what: &str) -> Problem {
    Problem::new(ErrorCode::NotFound, format!("no such {what}"))
}

/// A mutable copy of the headers whose (lowercase) names `keep` accepts.
pub fn copy_headers(from: &Headers, keep: impl Fn(&str) -> bool) -> Outcome<Headers> {
    let headers = Headers::new();
    for (name, value) in from.entries() {
        if keep(&name) {
            headers.append(&name, &value).map_err(crate::internal)?;
        }
    }
    Ok(headers)
}

/// The caller's `X-Request-Id` when it is a sane token, else a new one.
pub fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .ok()
        .flatten()
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| crate::new_id("req"))
}

/// The response of a handler's outcome, a problem rendered once, with `X-Request-Id`.
pub fn respond(outcome: Outcome<Response>, request_id: &str) -> Result<Response> {
    let mut response = match outcome {
        Ok(response) => response,
        Err(p) => problem(&p, request_id)?,
    };
    response.headers_mut().set("x-request-id", request_id)?;
    Ok(response)
}

/// The first value of a query parameter, decoded.
pub fn query_param(url: &worker::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `Content-Length` a message declares, if it declares a valid one.
pub fn declared_length(headers: &Headers) -> Option<u64> {
    headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.parse::<u64>().ok())
}

/// Reads and drops up to `DRAIN_BYTES` of a body, so that a client whose request is
/// refused before its body was read gets the answer on a connection that stays usable
/// (workerd under `wrangler dev` answers the next request on a connection 503 when a
/// body is left unread); a larger body is simply abandoned.
async fn drain_stream(stream: &mut worker::ByteStream) {
    let mut drained = 0usize;
    while drained < DRAIN_BYTES {
        match stream.next().await {
            Some(Ok(more)) => drained += more.len(),
            _ => break,
        }
    }
}

/// Drains the body of a request answered without reading it (see `drain_stream`).
pub async fn drain(req: &mut Request) {
    if let Ok(mut stream) = req.stream() {
        drain_stream(&mut stream).await;
    }
}

/// Reads a raw body of at most `limit` bytes (webhooks are verified over the raw bytes).
pub async fn read_bytes(req: &mut Request, limit: usize) -> Outcome<Vec<u8>> {
    let too_large = || {
        Problem::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {limit} bytes"),
        )
    };
    if declared_length(req.headers()).is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // Read chunk by chunk so that a body without Content-Length (chunked) is cut at the
    // cap while it arrives, never held whole first.
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new());
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(crate::internal)?;
        if bytes.len() + chunk.len() > limit {
            // Nothing more is kept; the rest is drained (see `drain_stream`).
            drain_stream(&mut stream).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
