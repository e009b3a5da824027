//! Domain proofs: relays look the challenge records up (they already resolve MX records
//! with their DNS client) and report what they saw; the core's `mail::proof` decides what
//! that means for every claim on the name, and this Worker writes it.
//!
//! `GET /v1/relay/proofs` lists the names due for a lookup (pending claims every minute,
//! held ones daily, a claim whose tenant asked first); `POST /v1/relay/proofs` takes the
//! lookups' results.

use serde::Deserialize;
use serde_json::json;
use tenantry_core::auth::RelayScope;
use tenantry_core::mail::proof::{self, Challenge, Lookup};
use tenantry_core::tenant::Hostname;
use tenantry_edge::claims::{self, Actor, claims_on};
use tenantry_edge::db::{PlatformDb, int};
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::relay::{Ctx, scope_filter};
use tenantry_edge::{Outcome, config};
use worker::{Request, Response};

/// Names one listing or one report carries.
const MAX_CHECKS: usize = 100;
/// TXT values one result may carry, and the length of each.
const MAX_VALUES: usize = 50;
const MAX_VALUE_LEN: usize = 2048;

/// `GET /v1/relay/proofs`: `{checks: [{domain, name}]}`, the longest-unchecked first.
pub async fn checks(ctx: &Ctx, scope: &RelayScope) -> Outcome<Response> {
    let settings = config::proof_settings(&ctx.env)?;
    let (pending_before, held_before) = settings.due_thresholds(ctx.now);
    let (in_scope, scope_arg) = scope_filter(scope, 3)?;
    let mut args = vec![int(pending_before), int(held_before)];
    args.extend(scope_arg);
    #[derive(Deserialize)]
    struct Due {
        domain: String,
    }
    let due: Vec<Due> = PlatformDb(&ctx.db)
        .all(
            &format!(
                "SELECT domain, MIN(COALESCE(proof_checked_at, 0)) AS oldest FROM mail_domains \
                 WHERE deleted = 0 AND tenant_id IN (SELECT id FROM tenants WHERE status != 'deleted') \
                 AND ((status = 'pending' AND (proof_checked_at IS NULL OR proof_checked_at <= ?1)) \
                   OR (status != 'pending' AND vouched_by IS NULL AND (proof_checked_at IS NULL OR proof_checked_at <= ?2))){in_scope} \
                 GROUP BY domain ORDER BY oldest, domain LIMIT {MAX_CHECKS}"
            ),
            &args,
        )
        .await?;
    let checks: Vec<_> = due
        .iter()
        .map(|d| json!({"domain": d.domain, "name": Challenge::new(&d.domain, "").name}))
        .collect();
    json(200, &json!({"checks": checks}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    results: Vec<Observed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Observed {
    domain: String,
    /// `records` (TXT values found), `none` (no such name or no TXT record) or `failed`
    /// (a temporary failure).
    outcome: String,
    #[serde(default)]
    values: Vec<String>,
}

fn lookup_of(i: usize, observed: &Observed) -> Outcome<(String, Lookup)> {
    let field = |name: &str| format!("results[{i}].{name}");
    let domain = Hostname::parse(&observed.domain)
        .map_err(|e| invalid(&field("domain"), e))?
        .as_str()
        .to_string();
    if observed.values.len() > MAX_VALUES || observed.values.iter().any(|v| v.len() > MAX_VALUE_LEN)
    {
        return Err(invalid(
            &field("values"),
            format!("at most {MAX_VALUES} values of at most {MAX_VALUE_LEN} bytes"),
        ));
    }
    let lookup = match observed.outcome.as_str() {
        "records" => Lookup::Values(observed.values.clone()),
        "none" if observed.values.is_empty() => Lookup::Values(Vec::new()),
        "failed" if observed.values.is_empty() => Lookup::Failed,
        "none" | "failed" => {
            return Err(invalid(
                &field("values"),
                "only a records outcome carries values",
            ));
        }
        _ => {
            return Err(invalid(
                &field("outcome"),
                "must be records, none or failed",
            ));
        }
    };
    Ok((domain, lookup))
}

/// `POST /v1/relay/proofs {results: [{domain, outcome, values}]}`: each name's claims as
/// the core settles them, in one batch per name; names the key serves no claim of are
/// listed in `refused`.
pub async fn results(req: &mut Request, ctx: &Ctx, scope: &RelayScope) -> Outcome<Response> {
    let report: Report = read_json(req).await?;
    if report.results.len() > MAX_CHECKS {
        return Err(invalid("results", format!("at most {MAX_CHECKS} results")));
    }
    let lookups = report
        .results
        .iter()
        .enumerate()
        .map(|(i, observed)| lookup_of(i, observed))
        .collect::<Outcome<Vec<_>>>()?;
    let settings = config::proof_settings(&ctx.env)?;
    let names: Vec<&str> = lookups.iter().map(|(d, _)| d.as_str()).collect();
    let all_claims = claims_on(&ctx.db, &names).await?;
    let actor_id = format!("relay:{}", ctx.subject);
    let actor = Actor {
        id: &actor_id,
        request_id: &ctx.request_id,
        vouching: false,
        now: ctx.now,
    };
    let mut refused = Vec::new();
    let mut changed = Vec::new();
    for (i, (domain, lookup)) in lookups.iter().enumerate() {
        let rows: Vec<_> = all_claims
            .iter()
            .filter(|c| &c.domain == domain)
            .cloned()
            .collect();
        if !rows.iter().any(|c| scope.covers(&c.tenant_id)) {
            refused.push(
                json!({"index": i, "domain": domain, "reason": "no claim this relay key serves"}),
            );
            continue;
        }
        let claims: Vec<_> = rows.iter().map(|r| r.claim()).collect();
        let decisions = proof::settle(&claims, domain, lookup, ctx.now, &settings);
        if decisions.is_empty() {
            continue;
        }
        let statements = claims::write(
            &ctx.db, &ctx.env, &rows, domain, &decisions, &actor, &settings,
        )
        .await?;
        PlatformDb(&ctx.db).batch(statements).await?;
        changed.push(json!({"domain": domain}));
    }
    json(200, &json!({"settled": changed, "refused": refused}))
}
