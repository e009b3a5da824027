//! `tenantry-relay queue list|show|retry|delete`: the operator's view of a running
//! relay's outbound queue, through its admin port (so the running relay's schedule and
//! the files on disk never disagree).

use crate::config::Config;
use anyhow::{Context, bail};
use clap::Subcommand;

/// What to do with the queue.
#[derive(Subcommand)]
pub enum Action {
    /// One line per queued message: id, age, sender, pending recipients and last reply.
    List,
    /// A message's envelope and each recipient's state, as JSON.
    Show { id: String },
    /// Makes every pending recipient of a message due now.
    Retry { id: String },
    /// Removes a message from the queue without delivering or bouncing it.
    Delete { id: String },
}

fn check_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!("{id:?} is not a queue id (letters and digits, as `queue list` shows)");
    }
    Ok(())
}

pub async fn run(config: &Config, action: Action) -> anyhow::Result<()> {
    let mut admin = config.admin_listen;
    if admin.ip().is_unspecified() {
        admin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base = format!("http://{admin}/queue");
    let http = reqwest::Client::new();
    let request = match &action {
        Action::List => http.get(&base),
        Action::Show { id } => {
            check_id(id)?;
            http.get(format!("{base}/{id}"))
        }
        Action::Retry { id } => {
            check_id(id)?;
            http.post(format!("{base}/{id}/retry"))
        }
        Action::Delete { id } => {
            check_id(id)?;
            http.delete(format!("{base}/{id}"))
        }
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("reaching the relay's admin port at {admin} (is it running?)"))?;
    let status = response.status();
    let body = response.text().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("{}", body.trim());
    }
    print!("{body}");
    Ok(())
}
