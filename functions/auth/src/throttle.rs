//! Failed sign-ins, counted where they are exact: one Durable Object (`LoginThrottle`)
//! per account address and one per client address, each keeping the core's
//! `FailureLog` in its storage. The key is the address as typed, whether or not an
//! account has it, so the answer never tells them apart. An attempt is counted before
//! the password is hashed (`begin`) and taken back when it succeeds, so concurrent
//! guesses cannot slip past the limit.

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
        // One object serialises its key's requests: reading, deciding and writing here is
        // atomic for the key.
        let retry_after = match req.path().as_str() {
            "/begin" => log.begin(ask.now).err(),
            "/forgive" => {
                log.forgive();
                None
            }
            "/clear" => {
                log.clear();
                None
            }
            _ => return Response::error("no such operation", 404),
        };
        if log.is_empty() {
            storage.delete("log").await?;
        } else {
            storage.put("log", &log).await?;
        }
        Response::from_json(&Answer { retry_after })
    }
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
        format!("too many failed sign-ins; retry in {retry_after} s"),
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
