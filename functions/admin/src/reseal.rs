//! `POST /v1/admin/reseal` (superadmin): after a master-key rotation, every sealed value
//! still under a retired key is sealed again under the current one, so the retired key
//! can leave `SEAL_RETIRED_KEYS`. Idempotent: a second run finds nothing to do. Values
//! that no configured key opens are counted and named (tenant, integration, field),
//! never changed and never shown.

use crate::Ctx;
use crate::relay_keys::platform_audit;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tenantry_edge::db::{PlatformDb, TenantDb, text};
use tenantry_edge::http::json;
use tenantry_edge::{Outcome, internal, random_bytes};
use worker::Response;

/// Integrations read per round trip: memory stays bounded whatever the tenant count.
const ROWS_PER_READ: usize = 100;

#[derive(Deserialize)]
struct Row {
    tenant_id: String,
    kind: String,
    sealed: String,
}

pub async fn reseal(ctx: &Ctx) -> Outcome<Response> {
    let keyring = tenantry_edge::config::keyring(&ctx.env)?;
    let platform = PlatformDb(&ctx.db);
    let (mut scanned, mut resealed, mut current) = (0u64, 0u64, 0u64);
    let mut unopenable = Vec::new();
    let mut after = (String::new(), String::new());
    loop {
        let rows: Vec<Row> = platform
            .all(
                &format!("SELECT tenant_id, kind, sealed FROM integrations WHERE (tenant_id, kind) > (?1, ?2) ORDER BY tenant_id, kind LIMIT {ROWS_PER_READ}"),
                &[text(&after.0), text(&after.1)],
            )
            .await?;
        let mut updates = Vec::new();
        for row in &rows {
            let mut sealed: Map<String, Value> =
                serde_json::from_str(&row.sealed).map_err(internal)?;
            let mut changed = false;
            for (name, value) in sealed.iter_mut() {
                scanned += 1;
                let field = format!("{}.{name}", row.kind);
                match keyring.reseal(
                    &row.tenant_id,
                    &field,
                    value.as_str().unwrap_or_default(),
                    random_bytes(),
                ) {
                    Ok(None) => current += 1,
                    Ok(Some(again)) => {
                        *value = Value::String(again);
                        resealed += 1;
                        changed = true;
                    }
                    Err(_) => unopenable
                        .push(json!({"tenant_id": row.tenant_id, "kind": row.kind, "field": name})),
                }
            }
            if changed {
                // Compare-and-set: a PUT that replaced the secrets meanwhile wins.
                updates.push(TenantDb::new(&ctx.db, &row.tenant_id).statement(
                    "UPDATE integrations SET sealed = ?3 WHERE tenant_id = ?1 AND kind = ?2 AND sealed = ?4",
                    &[text(&row.kind), text(&Value::Object(sealed).to_string()), text(&row.sealed)],
                )?);
            }
        }
        if !updates.is_empty() {
            platform.batch(updates).await?;
        }
        match rows.last() {
            Some(last) if rows.len() == ROWS_PER_READ => {
                after = (last.tenant_id.clone(), last.kind.clone());
            }
            _ => break,
        }
    }
    let report = json!({"scanned": scanned, "resealed": resealed, "current": current,
                        "unopenable": unopenable.len(), "unopenable_fields": unopenable});
    let entry = platform_audit(
        ctx,
        "seal.reseal",
        None,
        json!({"scanned": scanned, "resealed": resealed, "unopenable": unopenable.len()}),
    )?;
    platform.batch(vec![entry]).await?;
    json(200, &report)
}
