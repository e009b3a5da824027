//! Stripe webhook fixtures signed by Stripe's official Python SDK
//! (`core/tests/fixtures/stripe/generate.py`), verified by the core.

use serde_json::Value;
use tenantry_core::billing::{
    BillingOutcome, BillingPolicy, BillingState, PricePlans, StripeEvent, TenantLocator,
    locate_tenant, transition,
};
use tenantry_core::limits::Plan;
use tenantry_core::webhook::{StripeVerifier, WebhookError};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const FIXTURES: &str = include_str!("fixtures/stripe/webhooks.json");

fn fixtures() -> Value {
    serde_json::from_str(FIXTURES).unwrap()
}

fn verifier(fixtures: &Value) -> StripeVerifier {
    let secrets: Vec<&str> = fixtures["secrets"]["configured"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    StripeVerifier::new(&secrets).unwrap()
}

#[test]
fn every_sdk_signed_case_gets_the_expected_verdict() {
    let fixtures = fixtures();
    let verifier = verifier(&fixtures);
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let payload = case["payload"].as_str().unwrap().as_bytes();
        let header = case["header"].as_str();
        let now = case["now"].as_i64().unwrap();
        let verdict = verifier.verify(payload, header, now);
        let expected = match case["expect"].as_str().unwrap() {
            "ok" => Ok(()),
            "signature_mismatch" => Err(WebhookError::SignatureMismatch),
            "timestamp_too_old" => Err(WebhookError::TimestampTooOld),
            "timestamp_in_future" => Err(WebhookError::TimestampInFuture),
            other => panic!("unknown expectation {other}"),
        };
        assert_eq!(verdict.map(|_| ()), expected, "case {name}");
    }
}

#[test]
fn a_verified_subscription_event_upgrades_the_plan() {
    let fixtures = fixtures();
    let case = fixtures["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "valid")
        .unwrap();
    let payload = case["payload"].as_str().unwrap().as_bytes();
    verifier(&fixtures)
        .verify(
            payload,
            case["header"].as_str(),
            case["now"].as_i64().unwrap(),
        )
        .unwrap();
    let event = StripeEvent::parse(payload).unwrap();
    assert_eq!(
        locate_tenant(&event),
        Ok(TenantLocator::TenantId("t_fixture".into()))
    );
    let prices = PricePlans::parse(r#"{"price_professional":"professional"}"#).unwrap();
    let outcome = transition(
        &event,
        &BillingState::new(Plan::Free),
        &prices,
        BillingPolicy::default(),
    );
    let BillingOutcome::Apply { state, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(state.plan, Plan::Professional);
    assert_eq!(state.customer_id.as_deref(), Some("cus_fixture"));
}
