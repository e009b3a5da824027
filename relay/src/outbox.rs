//! The platform's outbox (invitations, verifications, resets, welcomes): claimed from the
//! gateway with a lease, delivered into the hosted mailboxes under the same recipient
//! policy as mail arriving by SMTP, then acknowledged. A message for a domain this relay
//! does not host goes into the outbound queue (with the null sender: nobody reads the
//! bounces of automated notices) and is acknowledged once fsynced there; one the policy
//! refuses for good (no such mailbox) is failed. An acknowledgement that does not arrive
//! leaves the message to be claimed again after the lease: at least once.

use crate::clock;
use crate::relay::Relay;
use crate::sync::Gateway;
use anyhow::Context;
use serde::Deserialize;
use tenantry_core::mail::{RcptContext, RcptDecision, replies};
use tenantry_core::notify::{Delivery, DeliveryReport};
use tracing::{info, warn};

/// Seconds before a message the policy deferred (quota, stale replica) is offered again.
const DEFERRED_RETRY_SECS: i64 = 300;

#[derive(Deserialize)]
struct Claim {
    claim_id: String,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    id: String,
    recipient: String,
    message: String,
}

impl Gateway {
    async fn claim_outbox(&self) -> anyhow::Result<Claim> {
        let response = self.get("/v1/relay/outbox?limit=50").await?;
        response.json().await.context("reading the outbox claim")
    }

    async fn acknowledge_outbox(
        &self,
        claim_id: &str,
        results: &[DeliveryReport],
    ) -> anyhow::Result<()> {
        self.post(
            "/v1/relay/outbox/ack",
            &serde_json::json!({"claim_id": claim_id, "results": results}),
        )
        .await?;
        Ok(())
    }
}

/// What became of one message.
async fn deliver(relay: &std::sync::Arc<Relay>, message: &Message) -> Delivery {
    let now = clock::now_secs();
    let id = crate::ids::random_id();
    let header = format!(
        "Return-Path: <>\r\nReceived: from the platform outbox by {} (tenantry-relay) id {id};\r\n\t{}\r\n",
        relay.config.hostname,
        clock::rfc5322(now),
    );
    let size = (header.len() + message.message.len()) as u64;
    let context = RcptContext {
        accepted: 0,
        replica_age_secs: relay.replica_age(now),
        declared_size: size,
    };
    let directory = relay.directory();
    let decision = relay.with_storage(|storage| {
        relay
            .policy
            .decide(&directory, &message.recipient, context, storage)
    });
    let mailboxes = match decision {
        RcptDecision::Accept { mailboxes, .. } => mailboxes,
        RcptDecision::Reject(reply) if reply == replies::RELAY_DENIED => {
            return enqueue(relay, message, now).await;
        }
        RcptDecision::Reject(reply) => {
            return Delivery::Failed {
                detail: reply.to_string(),
            };
        }
        RcptDecision::Defer(reply) => {
            return Delivery::Deferred {
                retry_after_secs: DEFERRED_RETRY_SECS,
                detail: Some(reply.to_string()),
            };
        }
    };
    let writer = relay.clone();
    let targets = mailboxes.clone();
    let body = message.message.clone().into_bytes();
    let written = tokio::task::spawn_blocking(move || {
        targets.iter().try_for_each(|mailbox| {
            writer
                .maildir
                .deliver(mailbox, &[header.as_bytes(), &body])
                .map(|_| ())
        })
    })
    .await;
    match written {
        Ok(Ok(())) => {
            for mailbox in &mailboxes {
                relay.count_delivery(mailbox, size, now);
            }
            info!(outbox_id = %message.id, %id, size, "outbox message delivered");
            Delivery::Delivered
        }
        Ok(Err(error)) => {
            warn!(outbox_id = %message.id, %error, "outbox delivery failed");
            Delivery::Deferred {
                retry_after_secs: DEFERRED_RETRY_SECS,
                detail: Some("local delivery failed".into()),
            }
        }
        Err(error) => {
            warn!(outbox_id = %message.id, %error, "outbox delivery task failed");
            Delivery::Deferred {
                retry_after_secs: DEFERRED_RETRY_SECS,
                detail: Some("local delivery failed".into()),
            }
        }
    }
}

/// Hands a message for a remote recipient to the outbound queue.
async fn enqueue(relay: &std::sync::Arc<Relay>, message: &Message, now: i64) -> Delivery {
    let Ok(recipient) = tenantry_core::mail::Address::parse(&message.recipient) else {
        return Delivery::Failed {
            detail: replies::BAD_ADDRESS.to_string(),
        };
    };
    match queue_platform_mail(
        relay,
        &message.id,
        &recipient,
        message.message.as_bytes(),
        now,
    )
    .await
    {
        Ok(id) => {
            info!(outbox_id = %message.id, %id, "outbox message queued for remote delivery");
            Delivery::Delivered
        }
        Err(detail) => Delivery::Deferred {
            retry_after_secs: DEFERRED_RETRY_SECS,
            detail: Some(detail.into()),
        },
    }
}

/// Queues the platform's own mail (`source_id` names it in the logs: an outbox id, a
/// report id) for one remote recipient, signed with the platform key, from the null
/// sender; the queue id, or why not.
pub(crate) async fn queue_platform_mail(
    relay: &std::sync::Arc<Relay>,
    source_id: &str,
    recipient: &tenantry_core::mail::Address,
    message: &[u8],
    now: i64,
) -> Result<String, &'static str> {
    let id = crate::ids::random_id();
    let received = format!(
        "Received: from the platform outbox by {} (tenantry-relay) id {id};\r\n\t{}\r\n",
        relay.config.hostname,
        clock::rfc5322(now),
    );
    let mut content = received.into_bytes();
    match relay.signer.sign_platform(message) {
        Ok(Some(signature)) => {
            relay.metrics.dkim("signed");
            content.extend_from_slice(signature.as_bytes());
        }
        Ok(None) => {}
        Err(error) => {
            relay.metrics.dkim("failed");
            warn!(%source_id, error = format!("{error:#}"), "platform DKIM signing failed");
            return Err("signing failed");
        }
    }
    content.extend_from_slice(message);
    let entry = crate::queue::Entry {
        id: id.clone(),
        from: String::new(),
        origin: crate::queue::Origin::Platform {
            outbox_id: source_id.to_string(),
        },
        queued_at: now,
        size: content.len() as u64,
        recipients: vec![crate::queue::RecipientState {
            address: recipient.as_str().to_string(),
            status: crate::queue::Status::Pending,
            failures: 0,
            next_attempt_at: now,
            last_reply: None,
            last_status: None,
            remote_mta: None,
        }],
    };
    let queue = relay.queue.clone();
    match tokio::task::spawn_blocking(move || queue.enqueue(&entry, &content)).await {
        Ok(Ok(())) => Ok(id),
        Ok(Err(error)) => {
            warn!(%source_id, %error, "queueing a platform message failed");
            Err("queueing failed")
        }
        Err(error) => {
            warn!(%source_id, %error, "queueing task failed");
            Err("queueing failed")
        }
    }
}

/// Claims and delivers until the outbox has nothing for this relay; the number of
/// messages delivered.
pub async fn drain_once(relay: &std::sync::Arc<Relay>, gateway: &Gateway) -> anyhow::Result<usize> {
    let mut delivered = 0;
    loop {
        let claim = gateway.claim_outbox().await?;
        if claim.messages.is_empty() {
            return Ok(delivered);
        }
        let mut results = Vec::with_capacity(claim.messages.len());
        for message in &claim.messages {
            let delivery = deliver(relay, message).await;
            delivered += usize::from(delivery == Delivery::Delivered);
            results.push(DeliveryReport {
                id: message.id.clone(),
                delivery,
            });
        }
        gateway
            .acknowledge_outbox(&claim.claim_id, &results)
            .await?;
    }
}
