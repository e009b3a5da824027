//! WhatsApp Cloud API webhook payloads → messages and status updates.
//!
//! Meta adds fields and message types over time, so parsing is tolerant: an entry
//! missing what it needs is skipped, an unknown type is kept with its type name and no
//! text. Only the envelope being something other than a JSON object is an error.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::Value;

/// Why a payload cannot be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WhatsAppError {
    /// Not a JSON object.
    #[error("the webhook body is not a JSON object")]
    NotJson,
}

impl WhatsAppError {
    /// The error code answered: the sender's body is wrong.
    pub const fn code(self) -> crate::problem::ErrorCode {
        crate::problem::ErrorCode::InvalidRequest
    }
}

crate::problem::problem_from!(WhatsAppError);

/// A message a customer sent to the tenant's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The tenant's business number id that received it.
    pub phone_number_id: String,
    /// The sender's WhatsApp id.
    pub from: String,
    /// The sender's profile name, when given.
    pub contact_name: Option<String>,
    /// `wamid...`, unique per message: the idempotency key.
    pub message_id: String,
    /// Seconds since the epoch.
    pub timestamp: i64,
    /// `text`, `image`, `button`, ... or whatever new type Meta sends.
    pub kind: String,
    /// The text, caption or button title, when there is one.
    pub text: Option<String>,
}

/// A delivery status of a message the tenant sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The tenant's business number id.
    pub phone_number_id: String,
    /// The message the status is about.
    pub message_id: String,
    /// `sent`, `delivered`, `read`, `failed`, ...
    pub status: String,
    /// Seconds since the epoch.
    pub timestamp: i64,
    /// The customer's WhatsApp id.
    pub recipient_id: Option<String>,
}

/// Everything one webhook call carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookBatch {
    /// Inbound messages.
    pub messages: Vec<InboundMessage>,
    /// Status updates.
    pub statuses: Vec<StatusUpdate>,
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Timestamps arrive as decimal strings; numbers are accepted too.
fn timestamp(value: &Value) -> i64 {
    match value.get("timestamp") {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn message_text(message: &Value, kind: &str) -> Option<String> {
    let text = match kind {
        "text" => text_at(message, "/text/body"),
        "button" => text_at(message, "/button/text"),
        "interactive" => text_at(message, "/interactive/button_reply/title")
            .or_else(|| text_at(message, "/interactive/list_reply/title")),
        "reaction" => text_at(message, "/reaction/emoji"),
        other => message
            .get(other)
            .and_then(|media| media.get("caption"))
            .and_then(Value::as_str),
    };
    text.map(ToString::to_string)
}

/// Reads a webhook body.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookBatch, WhatsAppError> {
    let root: Value = serde_json::from_slice(body).map_err(|_| WhatsAppError::NotJson)?;
    if !root.is_object() {
        return Err(WhatsAppError::NotJson);
    }
    let mut batch = WebhookBatch::default();
    let changes = root
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("changes").and_then(Value::as_array))
        .flatten();
    for change in changes {
        let Some(value) = change.get("value") else {
            continue;
        };
        let Some(phone_number_id) = text_at(value, "/metadata/phone_number_id") else {
            continue;
        };
        let contacts = value.get("contacts").and_then(Value::as_array);
        let name_of = |wa_id: &str| {
            contacts?
                .iter()
                .find(|c| c.get("wa_id").and_then(Value::as_str) == Some(wa_id))
                .and_then(|c| text_at(c, "/profile/name"))
                .map(ToString::to_string)
        };
        for message in value
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(from), Some(id)) = (text_at(message, "/from"), text_at(message, "/id"))
            else {
                continue;
            };
            let kind = text_at(message, "/type").unwrap_or("unknown");
            batch.messages.push(InboundMessage {
                phone_number_id: phone_number_id.to_string(),
                from: from.to_string(),
                contact_name: name_of(from),
                message_id: id.to_string(),
                timestamp: timestamp(message),
                kind: kind.to_string(),
                text: message_text(message, kind),
            });
        }
        for status in value
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(id), Some(state)) = (text_at(status, "/id"), text_at(status, "/status"))
            else {
                continue;
            };
            batch.statuses.push(StatusUpdate {
                phone_number_id: phone_number_id.to_string(),
                message_id: id.to_string(),
                status: state.to_string(),
                timestamp: timestamp(status),
                recipient_id: text_at(status, "/recipient_id").map(ToString::to_string),
            });
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const SAMPLE: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{
        "id": "102290129340398",
        "changes": [{
          "field": "messages",
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [
              {"from": "16505551234", "id": "wamid.1", "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}},
              {"from": "16505551234", "id": "wamid.2", "timestamp": "1749416384", "type": "image", "image": {"caption": "this one", "mime_type": "image/jpeg", "id": "m1"}},
              {"from": "16505551234", "id": "wamid.3", "timestamp": 1749416385, "type": "hologram", "hologram": {}},
              {"id": "wamid.no-sender", "type": "text", "text": {"body": "skipped"}}
            ],
            "statuses": [
              {"id": "wamid.out1", "status": "delivered", "timestamp": "1749416390", "recipient_id": "16505551234"},
              {"id": "wamid.out2"}
            ]
          }
        }]
      }]
    }"#;

    #[test]
    fn reads_messages_and_statuses_tolerantly() {
        let batch = parse_webhook(SAMPLE.as_bytes()).unwrap();
        assert_eq!(batch.messages.len(), 3);
        let first = &batch.messages[0];
        assert_eq!(first.phone_number_id, "106540352242922");
        assert_eq!(first.contact_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(
            first.text.as_deref(),
            Some("Does it come in another color?")
        );
        assert_eq!(first.timestamp, 1_749_416_383);
        assert_eq!(batch.messages[1].text.as_deref(), Some("this one"));
        assert_eq!(
            (
                batch.messages[2].kind.as_str(),
                batch.messages[2].text.as_deref()
            ),
            ("hologram", None)
        );
        assert_eq!(batch.messages[2].timestamp, 1_749_416_385);
        assert_eq!(batch.statuses.len(), 1);
        assert_eq!(batch.statuses[0].status, "delivered");
    }

    #[test]
    fn empty_and_invalid_bodies() {
        assert_eq!(parse_webhook(b"{}").unwrap(), WebhookBatch::default());
        assert_eq!(
            parse_webhook(br#"{"entry": "nope"}"#).unwrap(),
            WebhookBatch::default()
        );
        assert_eq!(parse_webhook(b"[1]"), Err(WhatsAppError::NotJson));
        assert_eq!(parse_webhook(b"not json"), Err(WhatsAppError::NotJson));
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_webhook(&body);
        }
    }
}
