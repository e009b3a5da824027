//! Failed sign-ins, counted where they are exact: one Durable Object (`LoginThrottle`)
//! per account address and one per client address, each keeping the core's
//! `FailureLog` in its storage. The key is the address as typed, whether or not an
//! account has it, so the answer never tells them apart.

use futures_util::future::join;
use serde::{Deserialize, Serialize};
use tenantry_core::auth::throttle::FailureLog;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::{Outcome, internal};
use worker::{
    DurableObject, Env, Method, Request, RequestInit, Response, Result, State, durable_object,
};

const BINDING: &str = "THROTTLE";

#[durable_object]
pub struct LoginThrottle {
    state: State,
}

#[derive(Serialize, Deserialize)]
struct Ask {
    now: i64,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    retry_after: Option<i64>,
}

impl DurableObject for LoginThrottle {
    fn new(state: State, _env: Env) -> Self {
        LoginThrottle { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let ask: Ask = req.json().await?;
        let storage = self.state.storage();
        let mut log: FailureLog = storage.get("log").await?.unwrap_or_default();
        match req.path().as_str() {
            "/check" => {}
            "/fail" => log.record(ask.now),
            "/clear" => log.clear(),
            _ => return Response::error("no such operation", 404),
        }
        let retry_after = log.retry_after(ask.now);
        if log.is_empty() {
            storage.delete("log").await?;
        } else if req.path() != "/check" {
            storage.put("log", &log).await?;
        }
        Response::from_json(&Answer { retry_after })
    }
}

/// The throttle keys of one sign-in attempt: the typed address and the client's.
pub struct Keys {
    account: String,
    client: String,
}

impl Keys {
    pub fn new(email: &str, client_address: &str) -> Keys {
        Keys {
            account: format!("account:{}", email.trim().to_ascii_lowercase()),
            client: format!("client:{client_address}"),
        }
    }
}

async fn call(env: &Env, key: &str, op: &str, now: i64) -> Outcome<Option<i64>> {
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
        format!("too many failed sign-ins; retry in {retry_after} s"),
    )
    .with("retry_after", retry_after)
}

/// 429 `too_many_attempts` (with `retry_after`) when either key is locked.
pub async fn check(env: &Env, keys: &Keys, now: i64) -> Outcome<()> {
    let (account, client) = join(
        call(env, &keys.account, "check", now),
        call(env, &keys.client, "check", now),
    )
    .await;
    match account?.max(client?) {
        Some(retry_after) => Err(too_many(retry_after)),
        None => Ok(()),
    }
}

/// Records a failure under both keys.
pub async fn fail(env: &Env, keys: &Keys, now: i64) -> Outcome<()> {
    let (account, client) = join(
        call(env, &keys.account, "fail", now),
        call(env, &keys.client, "fail", now),
    )
    .await;
    account.and(client).map(|_| ())
}

/// Forgets the account's failures after a successful sign-in (the client's stay).
pub async fn succeed(env: &Env, keys: &Keys, now: i64) -> Outcome<()> {
    call(env, &keys.account, "clear", now).await.map(|_| ())
}
