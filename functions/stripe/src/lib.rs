//! The Stripe webhook Worker, reached only through the gateway: `POST /webhook/stripe`.
//! The signature is checked against every configured secret (rotation), each event id
//! is applied once, and the tenant's billing state changes as `tenantry-core::billing`
//! decides. The tenant's Durable Object is invalidated before the answer, so the new
//! plan's limits and status apply from the very next request.

use serde::Deserialize;
use serde_json::json;
use tenantry_core::billing::{
    BillingOutcome, BillingPolicy, BillingState, Ignored, PricePlans, StripeEvent,
    SubscriptionStatus, TenantLocator, locate_tenant, transition,
};
use tenantry_core::limits::Plan;
use tenantry_core::tenant::TenantStatus;
use tenantry_core::webhook::StripeVerifier;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{PlatformDb, TenantDb, int, opt_text, rows, text};
use tenantry_edge::http::{self, read_bytes};
use tenantry_edge::tenant_state;
use tenantry_edge::{Outcome, audit, config, internal, now_secs};
use worker::{D1Database, Env, Method, Request, Response, event};

/// Stripe events are a few KiB; the limit only stops abuse.
const MAX_EVENT_BYTES: usize = 512 * 1024;

/// What the operator configured.
struct Settings {
    verifier: StripeVerifier,
    prices: PricePlans,
    policy: BillingPolicy,
}

fn misconfigured(name: &str, why: &str) -> Problem {
    Problem::new(ErrorCode::Misconfigured, format!("{name} {why}"))
}

impl Settings {
    fn load(env: &Env) -> Outcome<Self> {
        let secrets: Vec<String> = config::required(env, "STRIPE_WEBHOOK_SECRETS")?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if secrets.is_empty() {
            return Err(misconfigured("STRIPE_WEBHOOK_SECRETS", "holds no secret"));
        }
        let prices =
            PricePlans::parse(&config::required(env, "STRIPE_PRICE_PLANS")?).map_err(|_| {
                misconfigured(
                    "STRIPE_PRICE_PLANS",
                    "must be a JSON object of price id to plan",
                )
            })?;
        let suspend_when_unpaid = match config::value(env, "STRIPE_SUSPEND_UNPAID").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(misconfigured(
                    "STRIPE_SUSPEND_UNPAID",
                    "must be true or false",
                ));
            }
        };
        Ok(Settings {
            verifier: StripeVerifier::new(&secrets)
                .map_err(|_| misconfigured("STRIPE_WEBHOOK_SECRETS", "holds an empty secret"))?,
            prices,
            policy: BillingPolicy {
                suspend_when_unpaid,
            },
        })
    }
}

/// A tenant's billing columns, deserialised straight into the core's types.
#[derive(Deserialize)]
struct TenantRow {
    id: String,
    plan: Plan,
    status: TenantStatus,
    stripe_customer_id: Option<String>,
    subscription_id: Option<String>,
    subscription_status: Option<SubscriptionStatus>,
    billing_event_at: Option<i64>,
}

impl TenantRow {
    fn billing_state(&self) -> BillingState {
        BillingState {
            plan: self.plan,
            status: self.subscription_status,
            customer_id: self.stripe_customer_id.clone(),
            subscription_id: self.subscription_id.clone(),
            last_event_at: self.billing_event_at,
            tenant_status: self.status,
        }
    }
}

/// Whether the event was applied before and, when the event names one, its tenant: one
/// D1 round trip.
async fn seen_and_tenant(
    db: &D1Database,
    event: &StripeEvent,
    locator: Option<&TenantLocator>,
) -> Outcome<(bool, Option<TenantRow>)> {
    const COLUMNS: &str = "id, plan, status, stripe_customer_id, subscription_id, subscription_status, billing_event_at";
    let platform = PlatformDb(db);
    let mut statements = vec![platform.statement(
        "SELECT event_id FROM stripe_events WHERE event_id = ?1",
        &[text(&event.id)],
    )?];
    if let Some(locator) = locator {
        let (column, value) = match locator {
            TenantLocator::TenantId(id) => ("id", id),
            TenantLocator::Customer(customer) => ("stripe_customer_id", customer),
        };
        statements.push(platform.statement(
            &format!("SELECT {COLUMNS} FROM tenants WHERE {column} = ?1"),
            &[text(value)],
        )?);
    }
    let results = platform.read_batch(statements).await?;
    let seen = !rows::<serde_json::Value>(&results[0])?.is_empty();
    let tenant = match results.get(1) {
        Some(result) => rows::<TenantRow>(result)?.into_iter().next(),
        None => None,
    };
    Ok((seen, tenant))
}

fn ignored(event: &StripeEvent, reason: &str) -> Outcome<Response> {
    http::json(
        200,
        &json!({"event": event.id, "status": "ignored", "reason": reason}),
    )
}

fn reason(ignored: Ignored) -> &'static str {
    match ignored {
        Ignored::Stale => "older than the state it would change",
        Ignored::Irrelevant => "not an event billing acts on",
        Ignored::UnknownPrice => "the price is not in STRIPE_PRICE_PLANS",
        Ignored::OtherSubscription => "about another subscription",
    }
}

/// Records an event id that changes nothing; a duplicate delivery racing this one is
/// harmless.
async fn record(db: &D1Database, event: &StripeEvent, tenant_id: Option<&str>) -> Outcome<()> {
    PlatformDb(db)
        .statement(
            "INSERT INTO stripe_events (event_id, tenant_id, type, received_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (event_id) DO NOTHING",
            &[text(&event.id), opt_text(tenant_id), text(&event.kind), int(now_secs())],
        )?
        .run()
        .await
        .map_err(tenantry_edge::internal)?;
    Ok(())
}

async fn receive(req: &mut Request, env: &Env, request_id: &str) -> Outcome<Response> {
    let settings = Settings::load(env)?;
    let body = read_bytes(req, MAX_EVENT_BYTES).await?;
    let header = req.headers().get("stripe-signature").ok().flatten();
    settings
        .verifier
        .verify(&body, header.as_deref(), now_secs())?;
    let event = StripeEvent::parse(&body)?;
    let db = env
        .d1("DB")
        .map_err(|_| Problem::new(ErrorCode::Misconfigured, "the D1 binding DB is missing"))?;
    let locator = locate_tenant(&event).ok();
    let (seen, tenant) = seen_and_tenant(&db, &event, locator.as_ref()).await?;
    if seen {
        // A redelivery may follow a write whose invalidation failed: invalidate again.
        if let Some(tenant) = &tenant {
            tenant_state::invalidate(env, &tenant.id).await?;
        }
        return http::json(200, &json!({"event": event.id, "status": "duplicate"}));
    }
    let Some(tenant) = tenant else {
        record(&db, &event, None).await?;
        return ignored(&event, "no tenant matches the event");
    };
    let current = tenant.billing_state();
    let (next, tenant_status) =
        match transition(&event, &current, &settings.prices, settings.policy) {
            BillingOutcome::Ignore(why) => {
                record(&db, &event, Some(&tenant.id)).await?;
                return ignored(&event, reason(why));
            }
            BillingOutcome::Apply {
                state,
                tenant_status,
            } => (state, tenant_status),
        };
    let status = tenant_status.unwrap_or(tenant.status).as_str();
    // Billing writes the plan and the status only when it changes them, so an operator's
    // change meanwhile is never undone by an event about something else, and when it
    // writes neither, the tenant's hot state (plan, status) is the same in D1 as in its
    // Durable Object without an invalidation.
    let plan_change = (next.plan != current.plan).then(|| next.plan.as_str());
    let status_change = tenant_status.map(TenantStatus::as_str);
    let tenant_db = TenantDb::new(&db, &tenant.id);
    let platform = PlatformDb(&db);
    let mut statements = vec![
        // The event id goes first: a concurrent delivery of the same event fails the
        // whole batch on its primary key and changes nothing.
        platform.statement(
            "INSERT INTO stripe_events (event_id, tenant_id, type, received_at) VALUES (?1, ?2, ?3, ?4)",
            &[text(&event.id), text(&tenant.id), text(&event.kind), int(now_secs())],
        )?,
        platform.statement(
            "UPDATE tenants SET plan = COALESCE(?2, plan), subscription_status = ?3, stripe_customer_id = ?4, subscription_id = ?5, \
             billing_event_at = ?6, status = COALESCE(?7, status), updated_at = ?8 WHERE id = ?1",
            &[
                text(&tenant.id),
                opt_text(plan_change),
                opt_text(next.status.map(SubscriptionStatus::as_str)),
                opt_text(next.customer_id.as_deref()),
                opt_text(next.subscription_id.as_deref()),
                int(next.last_event_at.unwrap_or(event.created)),
                opt_text(status_change),
                int(now_secs()),
            ],
        )?,
        audit::statement(
            &tenant_db,
            audit::Entry {
                actor: "stripe",
                action: "billing.update",
                resource: "tenant",
                resource_id: Some(&tenant.id),
                before: Some(json!({
                    "plan": current.plan.as_str(),
                    "subscription_status": current.status.map(SubscriptionStatus::as_str),
                    "status": tenant.status,
                })),
                after: Some(json!({
                    "plan": next.plan.as_str(),
                    "subscription_status": next.status.map(SubscriptionStatus::as_str),
                    "status": status,
                    "event": event.id,
                })),
            },
            request_id,
            now_secs(),
        )?,
    ];
    if plan_change.is_some() {
        // The relay reads the tenant's sending limits off its domain rows.
        statements.extend(tenantry_edge::directory::restamp_domains(
            &db,
            &tenant.id,
            now_secs(),
        )?);
    }

    match tenant_db.batch(statements).await {
        Ok(_) => {}
        Err(p) if p.code == ErrorCode::Conflict => {
            tenant_state::invalidate(env, &tenant.id).await?;
            return http::json(200, &json!({"event": event.id, "status": "duplicate"}));
        }
        Err(p) => return Err(p),
    }
    // A new plan or status is the tenant's hot state: its next request must see it.
    if plan_change.is_some() || status_change.is_some() {
        tenant_state::invalidate(env, &tenant.id).await?;
    }
    http::json(
        200,
        &json!({
            "event": event.id,
            "status": "applied",
            "tenant_id": tenant.id,
            "plan": next.plan.as_str(),
            "subscription_status": next.status.map(SubscriptionStatus::as_str),
            "tenant_status": status,
        }),
    )
}

async fn handle(mut req: Request, env: &Env) -> Outcome<Response> {
    let context = internal::verify::<tenantry_core::internal::NoEntry>(env, &req)?;
    let url = req.url().map_err(tenantry_edge::internal)?;
    if url.path() != "/webhook/stripe" {
        return Err(http::not_found("route"));
    }
    if req.method() != Method::Post {
        return Err(Problem::new(
            ErrorCode::MethodNotAllowed,
            "Stripe delivers events with POST",
        ));
    }
    receive(&mut req, env, &context.request_id).await
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(handle(req, &env).await, &request_id)
}
