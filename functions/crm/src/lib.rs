//! The CRM proxy Worker, reached only through the gateway, which has already resolved
//! the tenant and checked the method's permission: `/v1/crm/{path}` goes to the
//! tenant's EspoCRM with its API key, `/v1/crm/admin/{path}` with its admin
//! credentials. The client's own credentials never travel upstream, redirects are not
//! followed, the response streams back under a size cap, and mutations are audited.

use futures_util::future::{Either, select};
use futures_util::{StreamExt, pin_mut};
use serde_json::json;
use std::time::Duration;
use tenantry_core::crm::{self, Credentials, CrmBaseUrl};
use tenantry_core::internal::{InternalContext, NoEntry};
use tenantry_core::tenant::strip_tenant_path;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::TenantDb;
use tenantry_edge::http::{self, copy_headers};
use tenantry_edge::integrations::{self, Opened};
use tenantry_edge::{Outcome, audit, config, internal, now_secs};
use worker::{
    AbortController, Delay, Env, Fetch, Method, Request, RequestInit, RequestRedirect, Response,
    ResponseBuilder, event,
};

/// Defaults, overridden by `CRM_TIMEOUT_MS` and `CRM_MAX_RESPONSE_BYTES`.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
/// Largest request body carried upstream.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

fn number(env: &Env, name: &str, default: u64) -> Outcome<u64> {
    match config::value(env, name) {
        None => Ok(default),
        Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Problem::new(
                ErrorCode::Misconfigured,
                format!("{name} must be a positive integer"),
            )
        }),
    }
}

fn no_integration(what: &str) -> Problem {
    Problem::new(
        ErrorCode::NotFound,
        format!("the tenant has no CRM {what} configured"),
    )
}

fn credentials(opened: &Opened, kind: Credentials) -> Outcome<(&'static str, String)> {
    Ok(match kind {
        Credentials::ApiKey => (
            "x-api-key",
            opened
                .secret("api_key")?
                .ok_or_else(|| no_integration("API key"))?
                .to_string(),
        ),
        Credentials::Admin => {
            let user = opened
                .setting("admin_username")
                .ok_or_else(|| no_integration("admin user"))?;
            let password = opened
                .secret("admin_password")?
                .ok_or_else(|| no_integration("admin password"))?;
            (
                "authorization",
                format!("Basic {}", base64(&format!("{user}:{password}"))),
            )
        }
    })
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Sends the upstream request, giving up after `timeout_ms`.
async fn send(request: Request, timeout_ms: u64) -> Outcome<Response> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let answer = fetch.send_with_signal(&signal);
    let timer = Delay::from(Duration::from_millis(timeout_ms));
    pin_mut!(answer);
    pin_mut!(timer);
    match select(answer, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(error), _)) => {
            worker::console_warn!("CRM upstream unreachable: {error}");
            Err(Problem::new(
                ErrorCode::UpstreamError,
                "the CRM could not be reached",
            ))
        }
        Either::Right(_) => {
            controller.abort();
            Err(Problem::new(
                ErrorCode::UpstreamTimeout,
                format!("the CRM did not answer within {timeout_ms} ms"),
            ))
        }
    }
}

/// The upstream response, headers filtered and the body streamed under `cap` bytes.
fn pass_through(mut upstream: Response, cap: u64) -> Outcome<Response> {
    let status = upstream.status_code();
    if status >= 500 {
        return Err(Problem::new(
            ErrorCode::UpstreamError,
            format!("the CRM answered {status}"),
        ));
    }
    if http::declared_length(upstream.headers()).is_some_and(|length| length > cap) {
        return Err(Problem::new(
            ErrorCode::UpstreamError,
            format!("the CRM response is over {cap} bytes"),
        ));
    }
    let headers = copy_headers(upstream.headers(), crm::forward_response_header)?;
    let builder = ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers);
    if matches!(status, 204 | 304) {
        return Ok(builder.empty());
    }
    // A body without a declared length is cut (the stream errors) past the cap.
    let mut seen = 0u64;
    let capped = upstream
        .stream()
        .map_err(tenantry_edge::internal)?
        .map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > cap {
                return Err(worker::Error::RustError(format!(
                    "the CRM response is over {cap} bytes"
                )));
            }
            Ok(chunk)
        });
    builder.from_stream(capped).map_err(tenantry_edge::internal)
}

async fn proxy(
    mut req: Request,
    env: &Env,
    context: &InternalContext<NoEntry>,
) -> Outcome<Response> {
    let tenant_id = context
        .tenant_id
        .as_deref()
        .ok_or_else(|| Problem::new(ErrorCode::TenantRequired, "the context names no tenant"))?;
    let url = req.url().map_err(tenantry_edge::internal)?;
    let path = strip_tenant_path(url.path()).unwrap_or_else(|| url.path().to_string());
    let rest = path
        .strip_prefix("/v1/crm/")
        .ok_or_else(|| http::not_found("route"))?;
    let method = req.method();
    let plan = crm::plan(method.as_ref(), rest)?;
    let db = env
        .d1("DB")
        .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
    let tenant_db = TenantDb::new(&db, tenant_id);
    let keyring = config::keyring(env)?;
    let opened = integrations::load(&tenant_db, &keyring, "crm")
        .await?
        .ok_or_else(|| no_integration("integration"))?;
    let base = opened
        .setting("base_url")
        .and_then(|b| CrmBaseUrl::parse(b).ok())
        .ok_or_else(|| no_integration("base URL"))?;
    let (credential_header, credential) = credentials(&opened, plan.credentials)?;
    let headers = copy_headers(req.headers(), crm::forward_request_header)?;
    headers
        .set(credential_header, &credential)
        .map_err(tenantry_edge::internal)?;
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if plan.mutation {
        let body = http::read_bytes(&mut req, MAX_REQUEST_BYTES).await?;
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let upstream_url = base.join(&plan, url.query());
    let upstream = Request::new_with_init(&upstream_url, &init).map_err(tenantry_edge::internal)?;
    let timeout = number(env, "CRM_TIMEOUT_MS", DEFAULT_TIMEOUT_MS)?;
    let cap = number(env, "CRM_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES)?;
    let outcome = send(upstream, timeout).await;
    if plan.mutation {
        let status = match &outcome {
            Ok(response) => json!(response.status_code()),
            Err(problem) => json!(problem.code.code()),
        };
        let entry = audit::Entry {
            actor: context.subject.as_deref().unwrap_or("unknown"),
            action: &format!("crm.{}", method.as_ref().to_ascii_lowercase()),
            resource: "crm",
            resource_id: Some(&plan.upstream_path),
            before: None,
            after: Some(json!({"upstream_status": status})),
        };
        audit::statement(&tenant_db, entry, &context.request_id, now_secs())?
            .run()
            .await
            .map_err(tenantry_edge::internal)?;
    }
    pass_through(outcome?, cap)
}

async fn handle(req: Request, env: &Env) -> Outcome<Response> {
    let context = internal::verify::<NoEntry>(env, &req)?;
    if matches!(
        req.method(),
        Method::Options | Method::Connect | Method::Trace
    ) {
        return Err(Problem::new(
            ErrorCode::MethodNotAllowed,
            "the CRM proxy carries GET, HEAD, POST, PUT, PATCH and DELETE",
        ));
    }
    proxy(req, env, &context).await
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(handle(req, &env).await, &request_id)
}
