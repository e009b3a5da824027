//! What a spam score means for a message from outside: the tenant's two thresholds
//! (settings `spam_junk_score` and `spam_reject_score`) against the score Rspamd gave, or
//! the relay's choice when Rspamd could not be asked; and the `X-Spam-*` fields that say so.

use super::authentication::Disposition;
use super::policy::Reply;
use alloc::format;
use alloc::string::String;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The setting: from this score on, a message goes to the Junk folder.
pub const JUNK_SCORE_SETTING: &str = "spam_junk_score";
/// The setting: from this score on, a message is refused.
pub const REJECT_SCORE_SETTING: &str = "spam_reject_score";
/// The highest threshold a tenant may set (Rspamd's GTUBE scores 15).
pub const MAX_THRESHOLD: f64 = 1000.0;

/// The replies of spam scoring.
pub mod replies {
    use super::Reply;

    /// Scored at or over the tenant's reject threshold.
    pub const SPAM_REJECTED: Reply =
        Reply::new(550, "5.7.1", "Refused: the message scores as spam");
    /// Rspamd could not be asked and the relay is configured to wait for it.
    pub const SPAM_UNSCORED: Reply = Reply::new(
        451,
        "4.7.1",
        "Cannot score the message for spam now, try again later",
    );
}

/// A tenant's thresholds, carried with each of its domains to the relays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpamThresholds {
    /// Junk from this score on.
    #[serde(serialize_with = "write_score")]
    pub junk_at: f64,
    /// Refused from this score on.
    #[serde(serialize_with = "write_score")]
    pub reject_at: f64,
}

/// A whole score as an integer (`6`, not `6.0`), as the API writes every integer.
fn write_score<S: serde::Serializer>(score: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    let whole = *score as i64;
    if whole as f64 == *score && (-MAX_THRESHOLD..=MAX_THRESHOLD).contains(score) {
        serializer.serialize_i64(whole)
    } else {
        serializer.serialize_f64(*score)
    }
}

impl Default for SpamThresholds {
    /// Rspamd's own defaults for "add header" and "reject".
    fn default() -> Self {
        SpamThresholds {
            junk_at: 6.0,
            reject_at: 15.0,
        }
    }
}

/// Why a threshold setting is refused.
pub const THRESHOLD_FORM: &str = "must be a number from 0 to 1000 (a spam score)";

/// Whether `value` may be set as a threshold.
pub fn threshold_ok(value: &Value) -> bool {
    value
        .as_f64()
        .is_some_and(|score| (0.0..=MAX_THRESHOLD).contains(&score))
}

impl SpamThresholds {
    /// From the tenant's settings (each absent or unreadable one at its default).
    pub fn from_settings(junk: Option<&Value>, reject: Option<&Value>) -> Self {
        let defaults = SpamThresholds::default();
        let read = |value: Option<&Value>, default: f64| {
            value
                .filter(|v| threshold_ok(v))
                .and_then(Value::as_f64)
                .unwrap_or(default)
        };
        SpamThresholds {
            junk_at: read(junk, defaults.junk_at),
            reject_at: read(reject, defaults.reject_at),
        }
    }
}

/// What Rspamd said of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    /// Its score.
    Scored(f64),
    /// Rspamd was not configured, unreachable or answered nonsense.
    Unscored,
}

/// The relay's choice when a message cannot be scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnscored {
    /// Fail open: delivered, marked as unscored (and counted).
    #[default]
    Deliver,
    /// Fail closed: deferred with `451 4.7.1`.
    Defer,
}

/// Where a message with `score` goes under `thresholds`.
pub fn disposition(
    score: Score,
    thresholds: SpamThresholds,
    unscored: WhenUnscored,
) -> Disposition {
    match score {
        Score::Unscored => match unscored {
            WhenUnscored::Deliver => Disposition::Inbox,
            WhenUnscored::Defer => Disposition::Defer(replies::SPAM_UNSCORED),
        },
        Score::Scored(score) if score >= thresholds.reject_at => {
            Disposition::Refuse(replies::SPAM_REJECTED)
        }
        Score::Scored(score) if score >= thresholds.junk_at => Disposition::Junk,
        Score::Scored(_) => Disposition::Inbox,
    }
}

/// The `X-Spam-*` fields of a delivered copy (SpamAssassin's names, which mail clients
/// filter on).
pub fn header_fields(score: Score, thresholds: SpamThresholds) -> String {
    match score {
        Score::Unscored => String::from("X-Spam-Status: Unscored\r\n"),
        Score::Scored(score) => {
            let spam = score >= thresholds.junk_at;
            format!(
                "X-Spam-Flag: {}\r\nX-Spam-Score: {score:.2}\r\nX-Spam-Status: {}, score={score:.2} junk={:.2} reject={:.2}\r\n",
                if spam { "YES" } else { "NO" },
                if spam { "Yes" } else { "No" },
                thresholds.junk_at,
                thresholds.reject_at,
            )
        }
    }
}

/// Whether a header field name is one of those the relay writes, so that a copy arriving
/// with them is stripped of them first (a sender's `X-Spam-Flag: NO` means nothing).
pub fn is_spam_field(name: &[u8]) -> bool {
    [&b"x-spam-flag"[..], b"x-spam-score", b"x-spam-status"]
        .iter()
        .any(|own| name.trim_ascii().eq_ignore_ascii_case(own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const DEFAULTS: SpamThresholds = SpamThresholds {
        junk_at: 6.0,
        reject_at: 15.0,
    };

    #[test]
    fn scores_against_the_thresholds() {
        let deliver = WhenUnscored::Deliver;
        let cases = [
            (Score::Scored(-2.0), Disposition::Inbox),
            (Score::Scored(5.99), Disposition::Inbox),
            (Score::Scored(6.0), Disposition::Junk),
            (Score::Scored(14.9), Disposition::Junk),
            (
                Score::Scored(15.0),
                Disposition::Refuse(replies::SPAM_REJECTED),
            ),
            (Score::Unscored, Disposition::Inbox),
        ];
        for (score, want) in cases {
            assert_eq!(disposition(score, DEFAULTS, deliver), want, "{score:?}");
        }
        assert_eq!(
            disposition(Score::Unscored, DEFAULTS, WhenUnscored::Defer),
            Disposition::Defer(replies::SPAM_UNSCORED)
        );
        let lenient = SpamThresholds {
            junk_at: 10.0,
            reject_at: 1000.0,
        };
        assert_eq!(
            disposition(Score::Scored(15.0), lenient, deliver),
            Disposition::Junk
        );
    }

    #[test]
    fn thresholds_come_from_settings_with_defaults() {
        assert_eq!(SpamThresholds::from_settings(None, None), DEFAULTS);
        let set = SpamThresholds::from_settings(Some(&json!(4.5)), Some(&json!(100)));
        assert_eq!((set.junk_at, set.reject_at), (4.5, 100.0));
        let bad = SpamThresholds::from_settings(Some(&json!("high")), Some(&json!(-1)));
        assert_eq!(
            bad, DEFAULTS,
            "what the settings check refuses is never applied"
        );
        assert!(threshold_ok(&json!(0)) && threshold_ok(&json!(1000)));
        assert!(!threshold_ok(&json!(1000.5)) && !threshold_ok(&json!(true)));
        let written = serde_json::to_string(&SpamThresholds {
            junk_at: 6.0,
            reject_at: 100.5,
        })
        .unwrap();
        assert_eq!(written, r#"{"junk_at":6,"reject_at":100.5}"#);
        assert_eq!(
            serde_json::from_str::<SpamThresholds>(&written)
                .unwrap()
                .junk_at,
            6.0
        );
    }

    #[test]
    fn header_fields_say_what_was_decided() {
        assert_eq!(
            header_fields(Score::Scored(0.4), DEFAULTS),
            "X-Spam-Flag: NO\r\nX-Spam-Score: 0.40\r\nX-Spam-Status: No, score=0.40 junk=6.00 reject=15.00\r\n"
        );
        assert!(header_fields(Score::Scored(7.0), DEFAULTS).starts_with("X-Spam-Flag: YES\r\n"));
        assert_eq!(
            header_fields(Score::Unscored, DEFAULTS),
            "X-Spam-Status: Unscored\r\n"
        );
        assert!(is_spam_field(b"X-Spam-Flag") && is_spam_field(b"x-spam-status "));
        assert!(!is_spam_field(b"X-Spam-Report") && !is_spam_field(b"Subject"));
    }
}
