//! Spam scores from Rspamd, through its HTTP protocol (`POST /checkv2`): the message as
//! received, its envelope in Rspamd's request headers, and its SPF, DKIM, DMARC and ARC
//! rules switched off (the relay has checked those itself). The core decides what the
//! score means for the tenant.

use crate::config::Spam;
use crate::inbound::Envelope;
use serde::Deserialize;
use std::time::Duration;
use tenantry_core::mail::spam::Score;

/// Rspamd's authentication rules, which the relay's own checks replace.
const SETTINGS: &str = r#"{"groups_disabled":["policies"]}"#;

/// The part of Rspamd's answer the relay reads.
#[derive(Deserialize)]
struct Checked {
    score: f64,
}

/// A client of one Rspamd normal worker.
pub struct Rspamd {
    client: reqwest::Client,
    check_url: String,
}

impl Rspamd {
    /// The client `config` asks for, if any (`spam.rspamd_url`).
    pub fn new(config: &Spam) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.rspamd_url else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()?;
        Ok(Some(Rspamd {
            client,
            check_url: format!("{}/checkv2", url.trim_end_matches('/')),
        }))
    }

    /// The message's score, or why there is none (for the log: never the message).
    pub async fn score(
        &self,
        envelope: &Envelope<'_>,
        recipients: &[&str],
        message: &[u8],
    ) -> Result<Score, String> {
        let mut request = self
            .client
            .post(&self.check_url)
            .header("IP", envelope.ip.to_string())
            .header("Settings", SETTINGS);
        // What the sender chose goes along only as a valid header value: a name HTTP
        // cannot carry must not make the scan fail (and the message pass unscored).
        let sendable =
            |value: &str| !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic());
        for (name, value) in [("Helo", envelope.helo), ("From", envelope.mail_from)] {
            if sendable(value) {
                request = request.header(name, value);
            }
        }
        for recipient in recipients.iter().filter(|r| sendable(r)) {
            request = request.header("Rcpt", *recipient);
        }
        let response = request
            .body(message.to_vec())
            .send()
            .await
            .map_err(|e| format!("asking Rspamd: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("Rspamd answered {}", response.status()));
        }
        let checked: Checked = response
            .json()
            .await
            .map_err(|e| format!("reading Rspamd's answer: {e}"))?;
        if !checked.score.is_finite() {
            return Err("Rspamd answered a score that is not a number".into());
        }
        Ok(Score::Scored(checked.score))
    }
}
