//! Who is asking: a platform JWT or an API key, verified by the core.

use crate::Outcome;
use crate::config::Config;
use crate::db::{PlatformDb, text};
use serde::Deserialize;
use tenantry_core::auth::session::{SessionError, SessionTimes, token_may_act};
use tenantry_core::auth::{
    ApiKeyRecord, Credential, Principal, RelayKeyRecord, RelayScope, hash_api_key, hash_relay_key,
};
use tenantry_core::{ErrorCode, Problem};
use worker::D1Database;

#[derive(Deserialize)]
struct KeyRow {
    tenant_id: String,
    id: String,
    role: String,
    key_hash: String,
    expires_at: Option<f64>,
    revoked_at: Option<f64>,
}

#[derive(Deserialize)]
struct RelayKeyRow {
    id: String,
    key_hash: String,
    tenants: Option<String>,
    expires_at: Option<f64>,
    revoked_at: Option<f64>,
}

/// The tenants a relay key row serves; a column that does not parse fails closed.
fn relay_scope(tenants: Option<&str>) -> Outcome<RelayScope> {
    match tenants {
        None => Ok(RelayScope::AllTenants),
        Some(json) => serde_json::from_str::<Vec<String>>(json)
            .map(RelayScope::Tenants)
            .map_err(|_| crate::internal("a relay key's tenants column is not a JSON array")),
    }
}

/// The principal of a request, `None` when it carries no credential at all.
pub async fn authenticate(
    authorization: Option<&str>,
    config: &Config,
    db: &D1Database,
    now: i64,
) -> Outcome<Option<Principal>> {
    if authorization.is_none() {
        return Ok(None);
    }
    match Credential::from_authorization(authorization)? {
        Credential::Jwt(token) => {
            let claims = config.jwt_key.verify(token, &config.jwt, now)?;
            Principal::from_claims(claims)
                .map(Some)
                .map_err(Problem::from)
        }
        Credential::ApiKey(key) => {
            let hash = hash_api_key(key)?;
            // Authentication precedes tenant resolution: the key's hash finds its tenant.
            let row: Option<KeyRow> = PlatformDb(db)
                .first(
                    "SELECT tenant_id, id, role, key_hash, expires_at, revoked_at FROM api_keys WHERE key_hash = ?1",
                    &[text(&hash)],
                )
                .await?;
            let row =
                row.ok_or_else(|| Problem::new(ErrorCode::Unauthenticated, "unknown API key"))?;
            let record = ApiKeyRecord {
                id: row.id,
                tenant_id: row.tenant_id,
                role: row.role,
                revoked: row.revoked_at.is_some(),
                expires_at: row.expires_at.map(|t| t as i64),
            };
            record.check(&row.key_hash, &hash, now)?;
            Ok(Some(Principal::from_api_key(&record)))
        }
        Credential::RelayKey(key) => {
            let hash = hash_relay_key(key)?;
            let row: Option<RelayKeyRow> = PlatformDb(db)
                .first(
                    "SELECT id, key_hash, tenants, expires_at, revoked_at FROM relay_keys WHERE key_hash = ?1",
                    &[text(&hash)],
                )
                .await?;
            let row =
                row.ok_or_else(|| Problem::new(ErrorCode::Unauthenticated, "unknown relay key"))?;
            let record = RelayKeyRecord {
                scope: relay_scope(row.tenants.as_deref())?,
                id: row.id,
                revoked: row.revoked_at.is_some(),
                expires_at: row.expires_at.map(|t| t as i64),
            };
            record.check(&row.key_hash, &hash, now)?;
            Ok(Some(Principal::from_relay_key(&record)))
        }
    }
}

/// 401 when there is no principal.
pub fn require(principal: Option<Principal>) -> Outcome<Principal> {
    principal.ok_or_else(|| {
        Problem::new(
            ErrorCode::Unauthenticated,
            "send Authorization: Bearer <token or API key>",
        )
    })
}

/// Refuses an access token whose sign-in session has ended or whose account is
/// suspended, on the very next request: the account's own routes and the platform's
/// (tenant routes are checked by the tenant's Durable Object, from its memory). One D1
/// read; a token without a session (an operator's script) is trusted for its lifetime.
pub async fn check_session(db: &D1Database, principal: &Principal, now: i64) -> Outcome<()> {
    let Some(session) = &principal.session else {
        return Ok(());
    };
    #[derive(Deserialize)]
    struct Row {
        status: String,
        created_at: Option<f64>,
        expires_at: Option<f64>,
        revoked_at: Option<f64>,
    }
    let row: Option<Row> = PlatformDb(db)
        .first(
            "SELECT u.status, s.created_at, s.expires_at, s.revoked_at FROM users u \
             LEFT JOIN sessions s ON s.id = ?2 AND s.user_id = u.id WHERE u.id = ?1",
            &[text(&principal.subject), text(session)],
        )
        .await?;
    let Some(row) = row else {
        return Err(SessionError::SessionEnded.into());
    };
    let times = match (row.created_at, row.expires_at) {
        (Some(created), Some(expires)) => Some(SessionTimes {
            created_at: created as i64,
            expires_at: expires as i64,
            revoked: row.revoked_at.is_some(),
        }),
        _ => None,
    };
    token_may_act(row.status == "active", times, now).map_err(Problem::from)
}
