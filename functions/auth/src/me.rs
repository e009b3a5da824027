//! The account's own view of itself, and the password-hashing benchmark.

use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::password::PasswordScheme;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::Outcome;
use tenantry_edge::accounts::{memberships, signed_in};
use tenantry_edge::http::{json, read_json};
use tenantry_edge::identity::Ctx;
use worker::{Request, Response};

/// `GET /v1/auth/me`: the account and every tenant it belongs to (the console's tenant
/// switcher).
pub async fn me(ctx: &Ctx) -> Outcome<Response> {
    let account = signed_in(ctx).await?;
    tenantry_core::auth::session::may_sign_in(&account.account())?;
    let tenants = memberships(ctx, &account.id).await?;
    json(
        200,
        &json!({
            "id": account.id,
            "email": account.email,
            "email_verified": account.email_verified != 0,
            "platform_role": account.platform_role,
            "locale": account.locale,
            "session_id": ctx.session,
            "tenants": tenants,
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Benchmark {
    scheme: String,
}

/// `POST /v1/auth/password-benchmark {scheme}` (superadmin): hashes a fixed password once
/// with `pbkdf2-sha256` or `argon2id` at its candidate parameters, so an operator (and
/// `scripts/bench.sh auth`) can time each on this deployment's runtime from outside
/// (a Worker's own clock does not advance while it computes).
pub async fn password_benchmark(req: &mut Request, ctx: &Ctx) -> Outcome<Response> {
    if !ctx.superadmin {
        return Err(
            Problem::new(ErrorCode::Forbidden, "missing permission platform:admin")
                .with("permission", "platform:admin"),
        );
    }
    let body: Benchmark = read_json(req).await?;
    let scheme = PasswordScheme::named(&body.scheme).ok_or_else(|| {
        tenantry_edge::http::invalid("scheme", "must be pbkdf2-sha256 or argon2id")
    })?;
    let phc = crate::password::hash_new(scheme, "correct horse battery staple").await?;
    let algorithm = phc.split('$').nth(1).unwrap_or_default().to_string();
    json(200, &json!({"scheme": body.scheme, "algorithm": algorithm}))
}
