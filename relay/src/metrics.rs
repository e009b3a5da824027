//! Prometheus metrics, in the text exposition format, served on the admin port.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Upper bounds of the delivery latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Every metric of the relay.
#[derive(Default)]
pub struct Metrics {
    /// Connections accepted.
    pub connections_total: AtomicU64,
    /// Connections refused by a connection limit.
    pub connections_refused_total: AtomicU64,
    /// Connections open now.
    pub connections_active: AtomicI64,
    /// Messages written to a mailbox (one per mailbox).
    pub messages_delivered_total: AtomicU64,
    /// Bytes written to mailboxes.
    pub bytes_delivered_total: AtomicU64,
    /// Messages deferred because the in-flight DATA budget was exhausted.
    pub data_budget_refusals_total: AtomicU64,
    /// Version of the directory replica.
    pub replica_version: AtomicU64,
    /// Last successful sync, seconds since the epoch (0: never).
    pub replica_synced_at: AtomicI64,
    recipients: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    auth: Mutex<BTreeMap<&'static str, u64>>,
    outbound: Mutex<BTreeMap<(&'static str, String), u64>>,
    queue_depth: AtomicU64,
    latency: Mutex<([u64; LATENCY_BUCKETS.len()], u64, f64)>,
}

impl Metrics {
    /// Counts a recipient decision: `outcome` is accepted, rejected or deferred, `reason`
    /// the enhanced status code.
    pub fn recipient(&self, outcome: &'static str, reason: &'static str) {
        let mut map = self.recipients.lock().expect("metrics lock");
        *map.entry((outcome, reason)).or_default() += 1;
    }

    /// Counts an AUTH attempt: succeeded, failed or throttled.
    pub fn auth(&self, outcome: &'static str) {
        *self
            .auth
            .lock()
            .expect("metrics lock")
            .entry(outcome)
            .or_default() += 1;
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
        *self
            .outbound
            .lock()
            .expect("metrics lock")
            .entry((outcome, status))
            .or_default() += 1;
    }

    /// The outbound queue's depth now.
    pub fn queue_depth(&self, depth: usize) {
        self.queue_depth.store(depth as u64, Ordering::Relaxed);
    }

    /// Records the time from end of DATA to durable delivery.
    pub fn delivery_latency(&self, seconds: f64) {
        let mut latency = self.latency.lock().expect("metrics lock");
        for (bucket, bound) in latency.0.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        latency.1 += 1;
        latency.2 += seconds;
    }

    /// The exposition text at time `now` (seconds since the epoch).
    pub fn render(&self, now: i64) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, kind: &str, value: String| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        counter(
            &mut out,
            "relay_connections_total",
            "SMTP connections accepted.",
            "counter",
            self.connections_total.load(Ordering::Relaxed).to_string(),
        );
        counter(
            &mut out,
            "relay_connections_refused_total",
            "Connections refused by a connection limit.",
            "counter",
            self.connections_refused_total
                .load(Ordering::Relaxed)
                .to_string(),
        );
        counter(
            &mut out,
            "relay_connections_active",
            "SMTP connections open now.",
            "gauge",
            self.connections_active.load(Ordering::Relaxed).to_string(),
        );
        counter(
            &mut out,
            "relay_messages_delivered_total",
            "Messages written to a mailbox.",
            "counter",
            self.messages_delivered_total
                .load(Ordering::Relaxed)
                .to_string(),
        );
        counter(
            &mut out,
            "relay_bytes_delivered_total",
            "Bytes written to mailboxes.",
            "counter",
            self.bytes_delivered_total
                .load(Ordering::Relaxed)
                .to_string(),
        );
        counter(
            &mut out,
            "relay_data_budget_refusals_total",
            "Messages deferred (452 4.3.1) because the in-flight DATA budget was exhausted.",
            "counter",
            self.data_budget_refusals_total
                .load(Ordering::Relaxed)
                .to_string(),
        );
        counter(
            &mut out,
            "relay_replica_version",
            "Version of the directory replica.",
            "gauge",
            self.replica_version.load(Ordering::Relaxed).to_string(),
        );
        let synced = self.replica_synced_at.load(Ordering::Relaxed);
        let age = if synced == 0 { -1 } else { now - synced };
        counter(
            &mut out,
            "relay_replica_age_seconds",
            "Seconds since the last successful directory sync (-1: never).",
            "gauge",
            age.to_string(),
        );
        out.push_str("# HELP relay_recipients_total RCPT decisions by outcome and enhanced status code.\n# TYPE relay_recipients_total counter\n");
        for ((outcome, reason), n) in self.recipients.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "relay_recipients_total{{outcome=\"{outcome}\",reason=\"{reason}\"}} {n}"
            );
        }
        counter(
            &mut out,
            "relay_queue_depth",
            "Messages in the outbound queue.",
            "gauge",
            self.queue_depth.load(Ordering::Relaxed).to_string(),
        );
        out.push_str("# HELP relay_auth_total SMTP AUTH attempts by outcome.\n# TYPE relay_auth_total counter\n");
        for (outcome, n) in self.auth.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "relay_auth_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP relay_outbound_attempts_total Remote delivery attempts per recipient by outcome and enhanced status code.\n# TYPE relay_outbound_attempts_total counter\n");
        for ((outcome, status), n) in self.outbound.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "relay_outbound_attempts_total{{outcome=\"{outcome}\",status=\"{status}\"}} {n}"
            );
        }
        let latency = self.latency.lock().expect("metrics lock");
        out.push_str("# HELP relay_delivery_seconds Time from end of DATA to every copy fsynced in new/.\n# TYPE relay_delivery_seconds histogram\n");
        for (bound, n) in LATENCY_BUCKETS.iter().zip(latency.0) {
            let _ = writeln!(out, "relay_delivery_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "relay_delivery_seconds_bucket{{le=\"+Inf\"}} {}",
            latency.1
        );
        let _ = writeln!(out, "relay_delivery_seconds_sum {}", latency.2);
        let _ = writeln!(out, "relay_delivery_seconds_count {}", latency.1);
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
        metrics.delivery_latency(0.003);
        metrics.replica_synced_at.store(100, Ordering::Relaxed);
        let text = metrics.render(130);
        assert!(text.contains("relay_recipients_total{outcome=\"rejected\",reason=\"5.7.1\"} 2"));
        assert!(text.contains("relay_delivery_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("relay_delivery_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("relay_replica_age_seconds 30"));
    }
}
