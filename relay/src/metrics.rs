//! The relay's metrics, kept and exposed (OpenMetrics text) by the `prometheus-client`
//! crate and served on the admin port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the delivery latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeReason {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Domain {
    domain: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeStatus {
    outcome: &'static str,
    status: String,
}

/// Every metric of the relay.
pub struct Metrics {
    /// Connections accepted.
    pub connections_total: Counter,
    /// Connections refused by a connection limit.
    pub connections_refused_total: Counter,
    /// Connections open now.
    pub connections_active: Gauge,
    /// Messages written to a mailbox (one per mailbox).
    pub messages_delivered_total: Counter,
    /// Bytes written to mailboxes.
    pub bytes_delivered_total: Counter,
    /// Messages deferred because the in-flight DATA budget was exhausted.
    pub data_budget_refusals_total: Counter,
    /// Version of the directory replica.
    pub replica_version: Gauge,
    /// Last successful sync, seconds since the epoch (0: never).
    pub replica_synced_at: Gauge,
    replica_age: Gauge,
    queue_depth: Gauge,
    queue_oldest_age: Gauge,
    recipients: Family<OutcomeReason, Counter>,
    auth: Family<Outcome, Counter>,
    dkim: Family<Outcome, Counter>,
    inbound: Family<Outcome, Counter>,
    spam: Family<Outcome, Counter>,
    outbound: Family<OutcomeStatus, Counter>,
    latency: Histogram,
    inbound_checks: Histogram,
    certificate_expiry: Family<Domain, Gauge>,
    certificate_not_after: std::sync::Mutex<Vec<(String, i64)>>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            connections_total: Counter::default(),
            connections_refused_total: Counter::default(),
            connections_active: Gauge::default(),
            messages_delivered_total: Counter::default(),
            bytes_delivered_total: Counter::default(),
            data_budget_refusals_total: Counter::default(),
            replica_version: Gauge::default(),
            replica_synced_at: Gauge::default(),
            replica_age: Gauge::default(),
            queue_depth: Gauge::default(),
            queue_oldest_age: Gauge::default(),
            recipients: Family::default(),
            auth: Family::default(),
            dkim: Family::default(),
            inbound: Family::default(),
            spam: Family::default(),
            outbound: Family::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
            inbound_checks: Histogram::new(LATENCY_BUCKETS),
            certificate_expiry: Family::default(),
            certificate_not_after: std::sync::Mutex::default(),
            registry: Registry::default(),
        };
        // Every name starts with `tenantry_`: `tenantry_relay_queue_depth`.
        let mut registry = Registry::with_prefix("tenantry");
        // Counters are exposed with `_total` appended.
        let counters = [
            (
                "relay_connections",
                "SMTP connections accepted.",
                &m.connections_total,
            ),
            (
                "relay_connections_refused",
                "Connections refused by a connection limit.",
                &m.connections_refused_total,
            ),
            (
                "relay_messages_delivered",
                "Messages written to a mailbox.",
                &m.messages_delivered_total,
            ),
            (
                "relay_bytes_delivered",
                "Bytes written to mailboxes.",
                &m.bytes_delivered_total,
            ),
            (
                "relay_data_budget_refusals",
                "Messages deferred (452 4.3.1) because the in-flight DATA budget was exhausted.",
                &m.data_budget_refusals_total,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        let gauges = [
            (
                "relay_connections_active",
                "SMTP connections open now.",
                &m.connections_active,
            ),
            (
                "relay_replica_version",
                "Version of the directory replica.",
                &m.replica_version,
            ),
            (
                "relay_replica_age_seconds",
                "Seconds since the last successful directory sync (-1: never).",
                &m.replica_age,
            ),
            (
                "relay_queue_depth",
                "Messages in the outbound queue.",
                &m.queue_depth,
            ),
            (
                "relay_queue_oldest_age_seconds",
                "Age of the oldest message in the outbound queue (0: empty).",
                &m.queue_oldest_age,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "relay_recipients",
            "RCPT decisions by outcome and enhanced status code.",
            m.recipients.clone(),
        );
        registry.register(
            "relay_auth",
            "SMTP AUTH attempts by outcome.",
            m.auth.clone(),
        );
        registry.register(
            "relay_dkim_signatures",
            "DKIM signatures by outcome.",
            m.dkim.clone(),
        );
        registry.register(
            "relay_inbound_messages",
            "Messages from outside by where authentication sent them: inbox, junk, refused, deferred.",
            m.inbound.clone(),
        );
        registry.register(
            "relay_spam_checks",
            "Rspamd scans of messages from outside: scored, or unscored (Rspamd down, slow or confused).",
            m.spam.clone(),
        );
        registry.register(
            "relay_outbound_attempts",
            "Remote delivery attempts per recipient by outcome and enhanced status code.",
            m.outbound.clone(),
        );
        registry.register(
            "relay_delivery_seconds",
            "Time from end of DATA to every copy fsynced (mailboxes and queue).",
            m.latency.clone(),
        );
        registry.register(
            "relay_inbound_check_seconds",
            "Time a message from outside waits for SPF, DKIM, ARC, DMARC and its spam score.",
            m.inbound_checks.clone(),
        );
        registry.register(
            "relay_certificate_expiry_seconds",
            "Seconds until each domain's served certificate expires (negative: expired).",
            m.certificate_expiry.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a recipient decision: `outcome` is accepted, rejected or deferred, `reason`
    /// the enhanced status code.
    pub fn recipient(&self, outcome: &'static str, reason: &'static str) {
        self.recipients
            .get_or_create(&OutcomeReason { outcome, reason })
            .inc();
    }

    /// Counts an AUTH attempt: succeeded, failed or throttled.
    pub fn auth(&self, outcome: &'static str) {
        self.auth.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a DKIM signature: signed or failed.
    pub fn dkim(&self, outcome: &'static str) {
        self.dkim.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a message from outside by its disposition.
    pub fn inbound(&self, outcome: &'static str) {
        self.inbound.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a spam scan: scored or unscored.
    pub fn spam(&self, outcome: &'static str) {
        self.spam.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts one outbound attempt for one recipient, by outcome and enhanced code.
    pub fn outbound(&self, outcome: &'static str, status: &str) {
        // Remote servers choose the codes: keep the label set small and well-formed.
        let status = if status.len() <= 7 && status.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            status.to_string()
        } else {
            "other".to_string()
        };
        self.outbound
            .get_or_create(&OutcomeStatus { outcome, status })
            .inc();
    }

    /// The outbound queue's depth and its oldest message's queueing time.
    pub fn queue(&self, depth: usize, oldest_queued_at: Option<i64>, now: i64) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.queue_oldest_age
            .set(oldest_queued_at.map_or(0, |at| (now - at).max(0)));
    }

    /// Records the time from end of DATA to durable delivery.
    pub fn delivery_latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    /// Records how long a message from outside waited for its checks (SPF, DKIM, ARC,
    /// DMARC and the spam score): what the MX adds to each message.
    pub fn inbound_checks(&self, seconds: f64) {
        self.inbound_checks.observe(seconds);
    }

    /// The certificates served by SNI: domain (or file name) and expiry.
    pub fn certificates(&self, not_after: Vec<(String, i64)>) {
        *self.certificate_not_after.lock().expect("metrics lock") = not_after;
    }

    /// The certificates served by SNI, as last recorded.
    pub fn certificate_expiry(&self) -> Vec<(String, i64)> {
        self.certificate_not_after
            .lock()
            .expect("metrics lock")
            .clone()
    }

    /// The exposition text at time `now` (seconds since the epoch).
    pub fn render(&self, now: i64) -> String {
        self.certificate_expiry.clear();
        for (domain, not_after) in self
            .certificate_not_after
            .lock()
            .expect("metrics lock")
            .iter()
        {
            self.certificate_expiry
                .get_or_create(&Domain {
                    domain: domain.clone(),
                })
                .set(not_after - now);
        }
        let synced = self.replica_synced_at.get();
        self.replica_age
            .set(if synced == 0 { -1 } else { now - synced });
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_histogram() {
        let metrics = Metrics::default();
        metrics.recipient("rejected", "5.7.1");
        metrics.recipient("rejected", "5.7.1");
        metrics.recipient("accepted", "2.1.5");
        metrics.outbound("deferred", "4.7.1\r\ninjected");
        metrics.delivery_latency(0.003);
        metrics.replica_synced_at.set(100);
        metrics.queue(3, Some(40), 130);
        let text = metrics.render(130);
        assert!(
            text.contains("relay_recipients_total{outcome=\"rejected\",reason=\"5.7.1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("relay_delivery_seconds_bucket{le=\"0.0025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("relay_delivery_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(text.contains("relay_replica_age_seconds 30"), "{text}");
        assert!(text.contains("relay_queue_oldest_age_seconds 90"), "{text}");
        assert!(
            text.contains("relay_outbound_attempts_total{outcome=\"deferred\",status=\"other\"} 1"),
            "{text}"
        );
    }
}
