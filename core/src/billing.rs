//! Stripe events → tenant billing transitions.
//!
//! The shell verifies the signature ([`crate::webhook`]), drops event ids it has
//! already applied, locates the tenant with [`locate_tenant`], loads its
//! [`BillingState`] and asks [`transition`] what changes. An event created before the
//! last one applied never overrides newer state (Stripe does not deliver in order).

use crate::limits::Plan;
use crate::tenant::TenantStatus;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Stripe subscription statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In a trial.
    Trialing,
    /// Paid and current.
    Active,
    /// A payment failed; Stripe is retrying.
    PastDue,
    /// Ended.
    Canceled,
    /// Retries exhausted, left open.
    Unpaid,
    /// First payment pending.
    Incomplete,
    /// First payment never came.
    IncompleteExpired,
    /// Paused by the customer.
    Paused,
}

impl SubscriptionStatus {
    /// The stored form (Stripe's).
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Paused => "paused",
        }
    }

    /// Parses Stripe's form.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Value::String(text.to_string())).ok()
    }

    /// Whether the paid plan's limits apply in this status.
    pub fn grants_plan(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }
}

/// Why an event cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// `STRIPE_PRICE_PLANS` is not a JSON object of price id → plan name.
    #[error("STRIPE_PRICE_PLANS must be a JSON object mapping price ids to plans: {0}")]
    InvalidPriceMap(String),
    /// The event is not a Stripe event object.
    #[error("the event is missing {0}")]
    MalformedEvent(&'static str),
    /// No tenant can be found from the event.
    #[error("the event names no tenant")]
    NoTenant,
}

impl BillingError {
    /// The error code answered: a bad price map is the operator's, the rest the sender's.
    pub const fn code(&self) -> crate::problem::ErrorCode {
        use crate::problem::ErrorCode;
        match self {
            BillingError::InvalidPriceMap(_) => ErrorCode::Misconfigured,
            BillingError::MalformedEvent(_) | BillingError::NoTenant => ErrorCode::InvalidRequest,
        }
    }
}

crate::problem::problem_from!(BillingError);

/// Price id → plan (`STRIPE_PRICE_PLANS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PricePlans(BTreeMap<String, Plan>);

impl PricePlans {
    /// Parses `{"price_123": "starter", ...}`.
    pub fn parse(json: &str) -> Result<Self, BillingError> {
        let map: BTreeMap<String, String> =
            serde_json::from_str(json).map_err(|e| BillingError::InvalidPriceMap(e.to_string()))?;
        map.into_iter()
            .map(|(price, plan)| {
                Plan::parse(&plan).map(|p| (price, p)).ok_or_else(|| {
                    BillingError::InvalidPriceMap(alloc::format!("unknown plan {plan:?}"))
                })
            })
            .collect::<Result<_, _>>()
            .map(PricePlans)
    }

    /// The plan of a price.
    pub fn plan(&self, price_id: &str) -> Option<Plan> {
        self.0.get(price_id).copied()
    }
}

/// The envelope of a Stripe event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StripeEvent {
    /// `evt_...`, applied once.
    pub id: String,
    /// e.g. `customer.subscription.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Creation time, seconds.
    pub created: i64,
    /// `{ "object": {...} }`.
    pub data: EventData,
}

/// The data member of an event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventData {
    /// The object the event is about.
    pub object: Value,
}

impl StripeEvent {
    /// Parses the raw body of a verified webhook.
    pub fn parse(body: &[u8]) -> Result<Self, BillingError> {
        serde_json::from_slice(body)
            .map_err(|_| BillingError::MalformedEvent("id, type, created or data.object"))
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.data.object.get(name).and_then(Value::as_str)
    }

    fn metadata_tenant(&self) -> Option<&str> {
        self.data
            .object
            .get("metadata")
            .and_then(|m| m.get("tenant_id"))
            .and_then(Value::as_str)
    }

    fn first_price(&self) -> Option<&str> {
        self.data
            .object
            .pointer("/items/data/0/price/id")
            .and_then(Value::as_str)
    }
}

/// How to find the tenant an event is about, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantLocator {
    /// `metadata.tenant_id` or `client_reference_id`.
    TenantId(String),
    /// The stored Stripe customer id.
    Customer(String),
}

/// Where the event says its tenant is.
pub fn locate_tenant(event: &StripeEvent) -> Result<TenantLocator, BillingError> {
    if let Some(id) = event
        .metadata_tenant()
        .or_else(|| event.field("client_reference_id"))
    {
        return Ok(TenantLocator::TenantId(id.to_string()));
    }
    event
        .field("customer")
        .map(|c| TenantLocator::Customer(c.to_string()))
        .ok_or(BillingError::NoTenant)
}

/// A tenant's billing state as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingState {
    /// The plan whose limits apply.
    pub plan: Plan,
    /// Subscription status, if there is a subscription.
    pub status: Option<SubscriptionStatus>,
    /// Stripe customer id.
    pub customer_id: Option<String>,
    /// Stripe subscription id.
    pub subscription_id: Option<String>,
    /// `created` of the last applied event.
    pub last_event_at: Option<i64>,
    /// The tenant's lifecycle status: billing suspends and reactivates only a tenant
    /// that is active or suspended, never reviving a deleted one nor activating a
    /// pending one.
    pub tenant_status: TenantStatus,
}

impl BillingState {
    /// A tenant with no subscription.
    pub fn new(plan: Plan) -> Self {
        BillingState {
            plan,
            status: None,
            customer_id: None,
            subscription_id: None,
            last_event_at: None,
            tenant_status: TenantStatus::Active,
        }
    }
}

/// The operator's choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BillingPolicy {
    /// Suspend a tenant whose subscription becomes `unpaid` (and reactivate it when it
    /// is paid again).
    pub suspend_when_unpaid: bool,
}

/// Why an event changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Older than the last applied event.
    Stale,
    /// Not an event type billing acts on.
    Irrelevant,
    /// A subscription whose price is not in `STRIPE_PRICE_PLANS`.
    UnknownPrice,
    /// About another subscription than the tenant's current one.
    OtherSubscription,
}

/// The result of [`transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingOutcome {
    /// Store the new state (and the tenant status, when it changes).
    Apply {
        /// The new billing state.
        state: BillingState,
        /// The new tenant status, when billing changes it.
        tenant_status: Option<TenantStatus>,
    },
    /// Record the event id and change nothing.
    Ignore(Ignored),
}

/// What `event` does to a tenant in `current`.
pub fn transition(
    event: &StripeEvent,
    current: &BillingState,
    prices: &PricePlans,
    policy: BillingPolicy,
) -> BillingOutcome {
    if current
        .last_event_at
        .is_some_and(|last| event.created < last)
    {
        return BillingOutcome::Ignore(Ignored::Stale);
    }
    let mut next = current.clone();
    next.last_event_at = Some(event.created);
    if let Some(customer) = event.field("customer") {
        next.customer_id = Some(customer.to_string());
    }
    let about_other_subscription = |id: Option<&str>| matches!((id, current.subscription_id.as_deref()), (Some(a), Some(b)) if a != b);
    match event.kind.as_str() {
        "checkout.session.completed" => {
            if let Some(subscription) = event.field("subscription") {
                next.subscription_id = Some(subscription.to_string());
            }
        }
        "customer.subscription.created" | "customer.subscription.updated" => {
            let Some(status) = event.field("status").and_then(SubscriptionStatus::parse) else {
                return BillingOutcome::Ignore(Ignored::Irrelevant);
            };
            let Some(plan) = event.first_price().and_then(|p| prices.plan(p)) else {
                return BillingOutcome::Ignore(Ignored::UnknownPrice);
            };
            next.subscription_id = event.field("id").map(ToString::to_string);
            next.status = Some(status);
            next.plan = if status.grants_plan() {
                plan
            } else {
                Plan::Free
            };
        }
        "customer.subscription.deleted" => {
            if about_other_subscription(event.field("id")) {
                return BillingOutcome::Ignore(Ignored::OtherSubscription);
            }
            next.status = Some(SubscriptionStatus::Canceled);
            next.plan = Plan::Free;
        }
        "invoice.paid" | "invoice.payment_succeeded" => {
            if about_other_subscription(event.field("subscription")) {
                return BillingOutcome::Ignore(Ignored::OtherSubscription);
            }
            if matches!(
                current.status,
                Some(SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid)
            ) {
                next.status = Some(SubscriptionStatus::Active);
            }
        }
        "invoice.payment_failed" => {
            if about_other_subscription(event.field("subscription")) {
                return BillingOutcome::Ignore(Ignored::OtherSubscription);
            }
            if current.status != Some(SubscriptionStatus::Canceled) {
                next.status = Some(SubscriptionStatus::PastDue);
            }
        }
        _ => return BillingOutcome::Ignore(Ignored::Irrelevant),
    }
    let tenant_status = match (current.status, next.status) {
        (prev, Some(SubscriptionStatus::Unpaid))
            if policy.suspend_when_unpaid && prev != Some(SubscriptionStatus::Unpaid) =>
        {
            Some(TenantStatus::Suspended)
        }
        (Some(SubscriptionStatus::Unpaid), Some(now))
            if policy.suspend_when_unpaid && now != SubscriptionStatus::Unpaid =>
        {
            Some(TenantStatus::Active)
        }
        _ => None,
    }
    .filter(|_| {
        matches!(
            current.tenant_status,
            TenantStatus::Active | TenantStatus::Suspended
        )
    });
    if let Some(status) = tenant_status {
        next.tenant_status = status;
    }
    BillingOutcome::Apply {
        state: next,
        tenant_status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn prices() -> PricePlans {
        PricePlans::parse(r#"{"price_starter":"starter","price_pro":"professional"}"#).unwrap()
    }

    fn event(kind: &str, created: i64, object: Value) -> StripeEvent {
        let body =
            json!({"id": "evt_1", "type": kind, "created": created, "data": {"object": object}});
        StripeEvent::parse(body.to_string().as_bytes()).unwrap()
    }

    fn subscription(kind: &str, created: i64, status: &str, price: &str) -> StripeEvent {
        event(
            kind,
            created,
            json!({
                "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
                "metadata": {"tenant_id": "t_paris"},
                "items": {"data": [{"price": {"id": price}}]}
            }),
        )
    }

    #[test]
    fn billing_never_revives_a_deleted_tenant_nor_activates_a_pending_one() {
        let policy = BillingPolicy {
            suspend_when_unpaid: true,
        };
        let unpaid = subscription("customer.subscription.updated", 10, "unpaid", "price_pro");
        let paid = subscription("customer.subscription.updated", 20, "active", "price_pro");
        for status in [TenantStatus::Deleted, TenantStatus::Pending] {
            let mut state = BillingState::new(Plan::Free);
            state.tenant_status = status;
            for e in [&unpaid, &paid] {
                match transition(e, &state, &prices(), policy) {
                    BillingOutcome::Apply {
                        state: next,
                        tenant_status,
                    } => {
                        assert_eq!(tenant_status, None, "{status:?}");
                        assert_eq!(next.tenant_status, status);
                        state = next;
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        let active = BillingState::new(Plan::Free);
        let suspended = apply(&active, &unpaid, policy);
        assert_eq!(suspended.tenant_status, TenantStatus::Suspended);
        assert_eq!(
            apply(&suspended, &paid, policy).tenant_status,
            TenantStatus::Active
        );
    }

    fn apply(state: &BillingState, e: &StripeEvent, policy: BillingPolicy) -> BillingState {
        match transition(e, state, &prices(), policy) {
            BillingOutcome::Apply { state, .. } => state,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subscription_lifecycle() {
        let policy = BillingPolicy::default();
        let free = BillingState::new(Plan::Free);
        let s = apply(
            &free,
            &subscription("customer.subscription.created", 10, "active", "price_pro"),
            policy,
        );
        assert_eq!(
            (s.plan, s.status),
            (Plan::Professional, Some(SubscriptionStatus::Active))
        );
        assert_eq!(s.customer_id.as_deref(), Some("cus_1"));
        let failed = event(
            "invoice.payment_failed",
            20,
            json!({"customer": "cus_1", "subscription": "sub_1"}),
        );
        let s = apply(&s, &failed, policy);
        assert_eq!(
            (s.plan, s.status),
            (Plan::Professional, Some(SubscriptionStatus::PastDue))
        );
        let paid = event(
            "invoice.paid",
            30,
            json!({"customer": "cus_1", "subscription": "sub_1"}),
        );
        let s = apply(&s, &paid, policy);
        assert_eq!(s.status, Some(SubscriptionStatus::Active));
        let s = apply(
            &s,
            &subscription("customer.subscription.deleted", 40, "canceled", "price_pro"),
            policy,
        );
        assert_eq!(
            (s.plan, s.status),
            (Plan::Free, Some(SubscriptionStatus::Canceled))
        );
    }

    #[test]
    fn older_events_never_override_newer_state() {
        let policy = BillingPolicy::default();
        let s = apply(
            &BillingState::new(Plan::Free),
            &subscription("customer.subscription.updated", 100, "active", "price_pro"),
            policy,
        );
        let older = subscription(
            "customer.subscription.updated",
            99,
            "active",
            "price_starter",
        );
        assert_eq!(
            transition(&older, &s, &prices(), policy),
            BillingOutcome::Ignore(Ignored::Stale)
        );
        let same_second = subscription(
            "customer.subscription.updated",
            100,
            "active",
            "price_starter",
        );
        assert_eq!(apply(&s, &same_second, policy).plan, Plan::Starter);
    }

    #[test]
    fn unpaid_suspends_per_policy_and_payment_reactivates() {
        let suspend = BillingPolicy {
            suspend_when_unpaid: true,
        };
        let s = apply(
            &BillingState::new(Plan::Free),
            &subscription("customer.subscription.created", 1, "active", "price_pro"),
            suspend,
        );
        let unpaid = subscription("customer.subscription.updated", 2, "unpaid", "price_pro");
        let BillingOutcome::Apply {
            state,
            tenant_status,
        } = transition(&unpaid, &s, &prices(), suspend)
        else {
            panic!()
        };
        assert_eq!(tenant_status, Some(TenantStatus::Suspended));
        assert_eq!(
            state.plan,
            Plan::Free,
            "unpaid does not keep the paid plan's limits"
        );
        let paid = event(
            "invoice.paid",
            3,
            json!({"customer": "cus_1", "subscription": "sub_1"}),
        );
        let BillingOutcome::Apply { tenant_status, .. } =
            transition(&paid, &state, &prices(), suspend)
        else {
            panic!()
        };
        assert_eq!(tenant_status, Some(TenantStatus::Active));
        let BillingOutcome::Apply { tenant_status, .. } =
            transition(&unpaid, &s, &prices(), BillingPolicy::default())
        else {
            panic!()
        };
        assert_eq!(tenant_status, None);
    }

    #[test]
    fn locating_the_tenant() {
        let by_metadata = subscription("customer.subscription.created", 1, "active", "price_pro");
        assert_eq!(
            locate_tenant(&by_metadata),
            Ok(TenantLocator::TenantId("t_paris".into()))
        );
        let checkout = event(
            "checkout.session.completed",
            1,
            json!({"client_reference_id": "t_lyon", "customer": "cus_9", "subscription": "sub_9"}),
        );
        assert_eq!(
            locate_tenant(&checkout),
            Ok(TenantLocator::TenantId("t_lyon".into()))
        );
        let s = apply(
            &BillingState::new(Plan::Free),
            &checkout,
            BillingPolicy::default(),
        );
        assert_eq!(
            (s.customer_id.as_deref(), s.subscription_id.as_deref()),
            (Some("cus_9"), Some("sub_9"))
        );
        let invoice = event("invoice.paid", 1, json!({"customer": "cus_9"}));
        assert_eq!(
            locate_tenant(&invoice),
            Ok(TenantLocator::Customer("cus_9".into()))
        );
        assert_eq!(
            locate_tenant(&event("invoice.paid", 1, json!({}))),
            Err(BillingError::NoTenant)
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), map in "\\PC{0,60}") {
            if let Ok(event) = StripeEvent::parse(&body) {
                let _ = locate_tenant(&event);
                let _ = transition(&event, &BillingState::new(Plan::Free), &prices(), BillingPolicy::default());
            }
            let _ = PricePlans::parse(&map);
        }
    }

    #[test]
    fn ignored_and_malformed() {
        let policy = BillingPolicy::default();
        let s = BillingState::new(Plan::Free);
        let unknown_price =
            subscription("customer.subscription.created", 1, "active", "price_nope");
        assert_eq!(
            transition(&unknown_price, &s, &prices(), policy),
            BillingOutcome::Ignore(Ignored::UnknownPrice)
        );
        let other = event("charge.refunded", 1, json!({}));
        assert_eq!(
            transition(&other, &s, &prices(), policy),
            BillingOutcome::Ignore(Ignored::Irrelevant)
        );
        assert!(StripeEvent::parse(b"{\"id\":\"evt\"}").is_err());
        assert!(PricePlans::parse(r#"{"p":"platinum"}"#).is_err());
        assert!(PricePlans::parse("[]").is_err());
        let mut current = apply(
            &s,
            &subscription("customer.subscription.created", 1, "active", "price_pro"),
            policy,
        );
        current.subscription_id = Some("sub_2".into());
        let stale_sub = event(
            "invoice.payment_failed",
            5,
            json!({"customer": "cus_1", "subscription": "sub_1"}),
        );
        assert_eq!(
            transition(&stale_sub, &current, &prices(), policy),
            BillingOutcome::Ignore(Ignored::OtherSubscription)
        );
    }
}
