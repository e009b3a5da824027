//! Failed sign-ins and second-factor codes, counted where they are exact: one object per
//! key (`tenantry_edge::throttle` names them and asks), each keeping the core's
//! `FailureLog` in its storage.

use tenantry_core::auth::throttle::FailureLog;
use tenantry_edge::throttle::{Answer, Ask};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

#[durable_object]
pub struct LoginThrottle {
    state: State,
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
