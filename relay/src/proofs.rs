//! Domain proofs: the gateway lists the challenge names due for a lookup, the relay looks
//! them up with the same DNS client that finds MX hosts, and reports what it saw. The
//! gateway's core decides what a result means (a claim proven, a contest won, a record
//! missing, a domain lapsed); a failed lookup proves and lapses nothing.

use crate::relay::Relay;
use crate::sync::Gateway;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

#[derive(Deserialize)]
struct Checks {
    checks: Vec<Check>,
}

#[derive(Deserialize)]
struct Check {
    domain: String,
    name: String,
}

#[derive(Serialize)]
struct Observed<'a> {
    domain: &'a str,
    /// `records`, `none` or `failed`.
    outcome: &'static str,
    values: Vec<String>,
}

/// One round: the due names, looked up, reported. Returns how many were looked up.
pub async fn check_once(relay: &Relay, gateway: &Gateway) -> anyhow::Result<usize> {
    let response = gateway.get("/v1/relay/proofs").await?;
    let due: Checks = response.json().await.context("reading the due proofs")?;
    if due.checks.is_empty() {
        return Ok(0);
    }
    let mut results = Vec::with_capacity(due.checks.len());
    for check in &due.checks {
        let observed = match relay.router.txt(&check.name).await {
            Ok(values) if values.is_empty() => Observed {
                domain: &check.domain,
                outcome: "none",
                values,
            },
            Ok(values) => Observed {
                domain: &check.domain,
                outcome: "records",
                values,
            },
            Err(error) => {
                warn!(domain = %check.domain, error, "challenge lookup failed; retried next round");
                Observed {
                    domain: &check.domain,
                    outcome: "failed",
                    values: Vec::new(),
                }
            }
        };
        results.push(observed);
    }
    let response = gateway
        .post(
            "/v1/relay/proofs",
            &serde_json::json!({ "results": results }),
        )
        .await?;
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if let Some(settled) = answer["settled"].as_array().filter(|s| !s.is_empty()) {
        info!(looked_up = results.len(), settled = %serde_json::Value::Array(settled.clone()), "domain proofs checked");
    }
    Ok(results.len())
}
