//! Failed sign-ins and second-factor codes, counted where they are exact: one Durable
//! Object (`LoginThrottle`, the auth Worker's class) per key, each keeping the core's
//! `FailureLog`. The keys are the account's address as typed (whether or not an account
//! has it, so the answer never tells them apart) or, for codes, its id; and the client's
//! address. An attempt is counted before it is checked (`begin`) and taken back when it
//! succeeds, so concurrent guesses cannot slip past the limit.

use crate::{Outcome, internal};
use futures_util::future::join;
use serde::{Deserialize, Serialize};
use tenantry_core::{ErrorCode, Problem};
use worker::{Env, Method, Request, RequestInit};

const BINDING: &str = "THROTTLE";

/// What the object is asked: `POST /begin`, `/forgive` or `/clear`.
#[derive(Serialize, Deserialize)]
pub struct Ask {
    pub now: i64,
}

/// What it answers: the seconds to wait when the attempt is refused.
#[derive(Serialize, Deserialize)]
pub struct Answer {
    pub retry_after: Option<i64>,
}

/// The throttle keys of one sign-in attempt: the typed address and the client's (none
/// when the runtime gives no client address: one shared bucket would let anyone lock
/// everyone out).
pub struct Keys {
    account: String,
    client: Option<String>,
}

impl Keys {
    pub fn new(email: &str, client_address: Option<&str>) -> Keys {
        Keys {
            account: format!("account:{}", email.trim().to_ascii_lowercase()),
            client: client_address.map(|a| format!("client:{a}")),
        }
    }

    /// The keys of a second-factor code typed for the account `user_id`.
    pub fn second_factor(user_id: &str, client_address: Option<&str>) -> Keys {
        Keys {
            account: format!("factor:{user_id}"),
            client: client_address.map(|a| format!("client:{a}")),
        }
    }
}

async fn call(env: &Env, key: Option<&str>, op: &str, now: i64) -> Outcome<Option<i64>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let stub = env
        .durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(key))
        .map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(
        serde_json::to_string(&Ask { now })
            .map_err(internal)?
            .into(),
    ));
    let req = Request::new_with_init(&format!("https://throttle/{op}"), &init).map_err(internal)?;
    let mut response = stub.fetch_with_request(req).await.map_err(internal)?;
    let answer: Answer = response.json().await.map_err(internal)?;
    Ok(answer.retry_after)
}

fn too_many(retry_after: i64) -> Problem {
    Problem::new(
        ErrorCode::TooManyAttempts,
        format!("too many failed attempts; retry in {retry_after} s"),
    )
    .with("retry_after", retry_after)
}

/// Lets one attempt through under both keys (counted as a failure until it succeeds), or
/// 429 `too_many_attempts` with `retry_after`.
pub async fn begin(env: &Env, keys: &Keys, now: i64) -> Outcome<()> {
    let (account, client) = join(
        call(env, Some(&keys.account), "begin", now),
        call(env, keys.client.as_deref(), "begin", now),
    )
    .await;
    match account?.max(client?) {
        Some(retry_after) => Err(too_many(retry_after)),
        None => Ok(()),
    }
}

/// The attempt succeeded: the account's failures are forgotten, the client's attempt
/// taken back.
pub async fn succeed(env: &Env, keys: &Keys, now: i64) -> Outcome<()> {
    let (account, client) = join(
        call(env, Some(&keys.account), "clear", now),
        call(env, keys.client.as_deref(), "forgive", now),
    )
    .await;
    account.and(client).map(|_| ())
}
