//! Delivers the outbound queue: per destination domain, the route (the configured
//! `transport` map, or MX records through `hickory-resolver`), then Stalwart's
//! `mail-send` client with opportunistic STARTTLS; each recipient's outcome is written
//! back to the queue as soon as the remote answers. Finished messages with failed
//! recipients bounce (RFC 3464) into the sender's mailbox.

use crate::clock;
use crate::queue::{Attempt, Entry, Origin, Status};
use crate::relay::Relay;
use hickory_resolver::TokioResolver;
use mail_send::smtp::AssertReply;
use mail_send::smtp::tls::build_tls_connector;
use mail_send::{SmtpClient, smtp::message::Parameters};
use smtp_proto::EXT_START_TLS;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tenantry_core::mail::mta_sts;
use tenantry_core::mail::tls_report::ResultType;
use tenantry_core::mail::{AttemptOutcome, FailedRecipient, FailureReport, header_block};
use tokio::net::TcpStream;
use tracing::{info, warn};

impl Attempt {
    fn temporary(reply: impl Into<String>, mta: Option<&str>) -> Self {
        Attempt {
            outcome: AttemptOutcome::Temporary,
            reply: reply.into(),
            status: "4.4.1".into(),
            remote_mta: mta.map(str::to_owned),
        }
    }

    fn permanent(reply: impl Into<String>, status: &str) -> Self {
        Attempt {
            outcome: AttemptOutcome::Permanent,
            reply: reply.into(),
            status: status.into(),
            remote_mta: None,
        }
    }

    fn from_response(response: &smtp_proto::Response<String>, mta: &str) -> Self {
        let [a, b, c] = response.esc;
        let status = if a == 0 {
            format!("{}.0.0", response.code / 100)
        } else {
            format!("{a}.{b}.{c}")
        };
        Attempt {
            outcome: AttemptOutcome::from_code(response.code),
            reply: format!("{} {} {}", response.code, status, response.message.trim()),
            status,
            remote_mta: Some(mta.to_string()),
        }
    }

    fn from_error(error: &mail_send::Error, mta: &str) -> Self {
        match error {
            mail_send::Error::UnexpectedReply(response) => Attempt::from_response(response, mta),
            other => Attempt::temporary(format!("{other}"), Some(mta)),
        }
    }
}

/// Whether a failed lookup was the server saying the name or record does not exist.
pub(crate) fn answered_no_record(error: &hickory_resolver::ResolveError) -> bool {
    match error.kind() {
        hickory_resolver::ResolveErrorKind::Proto(proto) => match proto.kind() {
            hickory_resolver::proto::ProtoErrorKind::NoRecordsFound { response_code, .. } => {
                no_such_record(*response_code)
            }
            _ => false,
        },
        _ => false,
    }
}

pub(crate) fn no_such_record(code: hickory_resolver::proto::op::ResponseCode) -> bool {
    matches!(
        code,
        hickory_resolver::proto::op::ResponseCode::NXDomain
            | hickory_resolver::proto::op::ResponseCode::NoError
    )
}

/// Where a domain's mail goes.
pub struct Router {
    resolver: TokioResolver,
    transport: BTreeMap<String, String>,
    mx_port: u16,
}

/// The hosts to try, in order, or the outcome for every recipient of the domain.
type Route = Result<Vec<(String, SocketAddr)>, Attempt>;

impl Router {
    /// A router asking `dns_servers` (or the system's resolvers when empty).
    pub fn new(
        dns_servers: &[SocketAddr],
        transport: BTreeMap<String, String>,
        mx_port: u16,
    ) -> anyhow::Result<Self> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::name_server::TokioConnectionProvider;
        use hickory_resolver::proto::xfer::Protocol;
        let builder = if dns_servers.is_empty() {
            TokioResolver::builder_tokio()?
        } else {
            let mut config = ResolverConfig::new();
            for server in dns_servers {
                config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
            }
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        };
        Ok(Router {
            resolver: builder.build(),
            transport,
            mx_port,
        })
    }

    /// The resolver, shared with inbound authentication (and so its cache).
    pub fn resolver(&self) -> &TokioResolver {
        &self.resolver
    }

    pub(crate) async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        match self.resolver.lookup_ip(host).await {
            Ok(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(ip, port)).collect()),
            Err(error) => Err(format!("resolving {host}: {error}")),
        }
    }

    /// The TXT values at `name`, each record's strings joined (RFC 7208 3.3): empty when
    /// the name or its TXT records do not exist, an error for a temporary failure.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn.as_str()).await {
            Ok(records) => Ok(records
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>()
                })
                .collect()),
            // SERVFAIL and REFUSED come as "no records" too: those are failures.
            Err(error) if answered_no_record(&error) => Ok(Vec::new()),
            Err(error) => Err(format!("TXT lookup of {name}: {error}")),
        }
    }

    /// Whether the transport map routes `domain` (the operator's choice, which a
    /// destination's MTA-STS policy does not override).
    pub fn has_transport(&self, domain: &str) -> bool {
        self.transport.contains_key(domain)
    }

    /// The route of `domain`: the transport map's entry, else its MX hosts by
    /// preference, else (no MX) the domain itself.
    pub async fn route(&self, domain: &str) -> Route {
        if let Some(target) = self.transport.get(domain) {
            let (host, port) = target
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse().ok()?)))
                .unwrap_or((target.as_str(), self.mx_port));
            let addrs = self
                .addresses(host, port)
                .await
                .map_err(|e| Attempt::temporary(e, None))?;
            return Ok(addrs.into_iter().map(|a| (host.to_string(), a)).collect());
        }
        let fqdn = format!("{domain}.");
        let hosts: Vec<String> = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(mx) => {
                let mut records: Vec<_> = mx
                    .iter()
                    .map(|r| (r.preference(), r.exchange().to_utf8()))
                    .collect();
                records.sort();
                // RFC 7505: a single MX of "." says the domain takes no mail.
                if records.len() == 1 && records[0].1 == "." {
                    return Err(Attempt::permanent(
                        format!("{domain} accepts no mail (null MX)"),
                        "5.1.10",
                    ));
                }
                records
                    .into_iter()
                    .map(|(_, h)| h.trim_end_matches('.').to_string())
                    .collect()
            }
            Err(error) if error.is_nx_domain() => {
                return Err(Attempt::permanent(
                    format!("{domain}: no such domain"),
                    "5.1.2",
                ));
            }
            Err(error) if error.is_no_records_found() => vec![domain.to_string()],
            Err(error) => {
                return Err(Attempt::temporary(
                    format!("MX lookup of {domain}: {error}"),
                    None,
                ));
            }
        };
        let mut route = Vec::new();
        let mut last_error = None;
        for host in hosts {
            match self.addresses(&host, self.mx_port).await {
                Ok(addrs) => route.extend(addrs.into_iter().map(|a| (host.clone(), a))),
                Err(error) => last_error = Some(error),
            }
        }
        if route.is_empty() {
            return Err(Attempt::temporary(
                last_error.unwrap_or_else(|| format!("{domain}: no address")),
                None,
            ));
        }
        Ok(route)
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// One SMTP transaction on an open client: every recipient's attempt.
async fn transact<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    mta: &str,
    from: &str,
    recipients: &[String],
    message: &[u8],
) -> Vec<Attempt> {
    let none = Parameters::default();
    if let Err(error) = client.mail_from(from, &none).await {
        return vec![Attempt::from_error(&error, mta); recipients.len()];
    }
    let mut attempts: Vec<Option<Attempt>> = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        match client.rcpt_to(recipient, &none).await {
            Ok(()) => attempts.push(None),
            Err(error @ mail_send::Error::UnexpectedReply(_)) => {
                attempts.push(Some(Attempt::from_error(&error, mta)));
            }
            Err(error) => {
                let failed = Attempt::from_error(&error, mta);
                attempts.resize(recipients.len(), Some(failed));
                return attempts.into_iter().map(Option::unwrap).collect();
            }
        }
    }
    if attempts.iter().all(Option::is_some) {
        let _ = client.rset().await;
        return attempts.into_iter().map(Option::unwrap).collect();
    }
    // mail-send ends the content with CRLF.CRLF itself: give it the message without its
    // final CRLF, or the remote would store an extra empty line.
    let content = message.strip_suffix(b"\r\n").unwrap_or(message);
    let outcome = match client.data(content).await {
        Ok(()) => Attempt {
            outcome: AttemptOutcome::Delivered,
            reply: "250 2.0.0 accepted".into(),
            status: "2.0.0".into(),
            remote_mta: Some(mta.to_string()),
        },
        Err(error) => Attempt::from_error(&error, mta),
    };
    attempts
        .into_iter()
        .map(|a| a.unwrap_or_else(|| outcome.clone()))
        .collect()
}

/// The route's hosts a destination's MTA-STS policy lets mail go to, and whether they
/// must be reached over verified TLS; or the attempt that waits for a better day.
async fn under_policy(
    relay: &Relay,
    domain: &str,
    route: Vec<(String, SocketAddr)>,
) -> Result<(Vec<(String, SocketAddr)>, Option<mta_sts::Policy>), Attempt> {
    if relay.router.has_transport(domain) {
        return Ok((route, None));
    }
    let Some(policy) = relay.mta_sts.policy(relay, domain).await else {
        return Ok((route, None));
    };
    let mut hosts: Vec<String> = route.iter().map(|(h, _)| h.clone()).collect();
    hosts.dedup();
    let delivery = mta_sts::delivery(Some(&policy), &hosts);
    for host in &delivery.would_refuse {
        warn!(%domain, %host, "MTA-STS (testing): this MX is not in the domain's policy");
        relay
            .tls_reports
            .failure(domain, Some(&policy), ResultType::ValidationFailure, host);
    }
    let allowed: Vec<(String, SocketAddr)> = route
        .into_iter()
        .filter(|(h, _)| delivery.hosts.contains(h))
        .collect();
    if allowed.is_empty() {
        let first = hosts.first().map_or("", String::as_str);
        relay
            .tls_reports
            .failure(domain, Some(&policy), ResultType::ValidationFailure, first);
        return Err(Attempt::temporary(
            format!("no MX host of {domain} is listed in its MTA-STS policy"),
            None,
        ));
    }
    Ok((allowed, delivery.verified_tls.then_some(policy)))
}

/// Tries the route's hosts in order until one answers; under `enforced` (the domain and
/// its MTA-STS policy in `enforce` mode) only over TLS whose certificate is valid for
/// the host's name, never in clear, each session counted for the domain's TLS report.
async fn deliver_route(
    relay: &Relay,
    route: &[(String, SocketAddr)],
    enforced: Option<(&str, &mta_sts::Policy)>,
    from: &str,
    recipients: &[String],
    message: &[u8],
) -> Vec<Attempt> {
    let helo = relay.config.hostname.as_str();
    let mut last = Attempt::temporary("no host to try", None);
    for (host, addr) in route {
        let mta = host.as_str();
        let mut client = match SmtpClient::connect(*addr, CONNECT_TIMEOUT).await {
            Ok(client) => {
                // mail-send writes the content and the final dot separately: without this
                // the dot waits for the remote's delayed ACK.
                let _ = client.stream.set_nodelay(true);
                client
            }
            Err(error) => {
                last = Attempt::temporary(
                    format!("connecting to {host} ({addr}): {error}"),
                    Some(mta),
                );
                continue;
            }
        };
        let ehlo = async {
            client.read().await?.assert_positive_completion()?;
            client.ehlo(helo).await
        };
        let capabilities = match tokio::time::timeout(COMMAND_TIMEOUT, ehlo).await {
            Ok(Ok(ehlo)) => ehlo,
            Ok(Err(error)) => {
                last = Attempt::from_error(&error, mta);
                if last.outcome == AttemptOutcome::Permanent {
                    return vec![last; recipients.len()];
                }
                continue;
            }
            Err(_) => {
                last = Attempt::temporary(format!("{host}: greeting timed out"), Some(mta));
                continue;
            }
        };
        let offers_tls = capabilities.has_capability(EXT_START_TLS);
        let verified_tls = enforced.is_some();
        if let Some((domain, policy)) = enforced.filter(|_| !offers_tls) {
            relay
                .tls_reports
                .failure(domain, Some(policy), ResultType::StartTlsNotSupported, host);
            last = Attempt::temporary(
                format!("{host} offers no STARTTLS, which the domain's MTA-STS policy requires"),
                Some(mta),
            );
            continue;
        }
        if offers_tls {
            // Under an enforced MTA-STS policy the certificate must be valid for the host's
            // name; otherwise opportunistic (RFC 7435): encrypt when offered, without
            // authenticating the certificate, as MX-to-MX mail does without DANE or MTA-STS.
            let connector = if verified_tls {
                &relay.mta_sts.verified_tls
            } else {
                &relay.outbound_tls
            };
            match client.start_tls(connector, host).await {
                Ok(mut tls) => {
                    if let Some((domain, policy)) = enforced {
                        relay.tls_reports.success(domain, policy);
                    }
                    if let Err(error) = tls.ehlo(helo).await {
                        last = Attempt::from_error(&error, mta);
                        continue;
                    }
                    let attempts = transact(&mut tls, mta, from, recipients, message).await;
                    let _ = tls.quit().await;
                    return attempts;
                }
                Err(error) if verified_tls => {
                    warn!(%host, %error, "TLS refused under the domain's MTA-STS policy; no clear fallback");
                    if let Some((domain, policy)) = enforced {
                        relay.tls_reports.failure(
                            domain,
                            Some(policy),
                            crate::tls_reports::classify(&error),
                            host,
                        );
                    }
                    last = Attempt::temporary(
                        format!(
                            "{host}: TLS as the domain's MTA-STS policy requires failed: {error}"
                        ),
                        Some(mta),
                    );
                    continue;
                }
                Err(error) => {
                    warn!(%host, %error, "STARTTLS failed; trying in clear");
                    match plain_again(*addr, helo).await {
                        Ok(mut plain) => {
                            let attempts =
                                transact(&mut plain, mta, from, recipients, message).await;
                            let _ = plain.quit().await;
                            return attempts;
                        }
                        Err(error) => {
                            last = Attempt::from_error(&error, mta);
                            continue;
                        }
                    }
                }
            }
        }
        let attempts = transact(&mut client, mta, from, recipients, message).await;
        let _ = client.quit().await;
        return attempts;
    }
    vec![last; recipients.len()]
}

async fn plain_again(addr: SocketAddr, helo: &str) -> mail_send::Result<SmtpClient<TcpStream>> {
    let client = SmtpClient::connect(addr, CONNECT_TIMEOUT).await?;
    let _ = client.stream.set_nodelay(true);
    let mut client = client;
    client.read().await?.assert_positive_completion()?;
    client.ehlo(helo).await?;
    Ok(client)
}

/// The TLS client configuration for opportunistic STARTTLS.
pub fn tls_connector() -> tokio_rustls::TlsConnector {
    build_tls_connector(true)
}

/// Writes the bounce of a finished entry into its sender's mailbox, when the sender is
/// a hosted mailbox and some recipient failed.
fn bounce(relay: &Relay, entry: &Entry, message: &[u8]) {
    let failed: Vec<_> = entry
        .recipients
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if failed.is_empty() || entry.from.is_empty() {
        return;
    }
    // The signed-in mailbox reads the bounce, whichever of its addresses it sent as.
    let sender = match &entry.origin {
        Origin::Submission { mailbox, .. } if !mailbox.is_empty() => mailbox.clone(),
        _ => entry.from.to_ascii_lowercase(),
    };
    let directory = relay.directory();
    let Some(mailbox) = directory.mailbox(&sender) else {
        warn!(id = %entry.id, "bounce for a sender not hosted here dropped");
        return;
    };
    let now = clock::now_secs();
    let recipients: Vec<FailedRecipient<'_>> = failed
        .iter()
        .map(|r| FailedRecipient {
            address: &r.address,
            status: r.last_status.as_deref().unwrap_or("5.0.0"),
            diagnostic: r.last_reply.as_deref().unwrap_or("failed"),
            remote_mta: r.remote_mta.as_deref(),
        })
        .collect();
    let message_id = format!("{}.dsn@{}", entry.id, relay.config.hostname);
    let report = FailureReport {
        reporting_mta: &relay.config.hostname,
        sender: &entry.from,
        queue_id: &entry.id,
        date: &clock::rfc5322(now),
        arrival_date: &clock::rfc5322(entry.queued_at),
        message_id: &message_id,
        recipients: &recipients,
        original_headers: header_block(message),
    }
    .render();
    match relay.maildir.deliver(
        &mailbox.address,
        &[b"Return-Path: <>\r\n", report.as_bytes()],
    ) {
        Ok(_) => {
            relay.count_delivery(&mailbox.address, report.len() as u64, now);
            info!(id = %entry.id, sender = %entry.from, failed = recipients.len(), "bounce delivered");
        }
        Err(error) => warn!(id = %entry.id, %error, "bounce could not be written"),
    }
}

/// One pass over a due entry: every due recipient, domain by domain.
async fn attempt(relay: Arc<Relay>, id: String) -> anyhow::Result<()> {
    let queue = relay.queue.clone();
    let load = queue.clone();
    let load_id = id.clone();
    let (mut entry, message) = tokio::task::spawn_blocking(move || {
        anyhow::Ok((load.load(&load_id)?, load.message(&load_id)?))
    })
    .await??;
    let now = clock::now_secs();
    let mut removed = false;
    let mut by_domain: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in entry.recipients.iter().enumerate() {
        if r.status == Status::Pending && r.next_attempt_at <= now {
            by_domain.entry(r.domain().to_string()).or_default().push(i);
        }
    }
    for (domain, indices) in by_domain {
        let addresses: Vec<String> = indices
            .iter()
            .map(|&i| entry.recipients[i].address.clone())
            .collect();
        // At most a few connections to one destination at once, whatever the number of
        // messages waiting for it (the remote's limits, and fairness between domains).
        let _slot = relay.destination_slot(&domain).await;
        let route = match relay.router.route(&domain).await {
            Ok(route) => under_policy(&relay, &domain, route).await,
            Err(outcome) => Err(outcome),
        };
        let attempts = match route {
            Ok((route, enforced)) => {
                let enforced = enforced.as_ref().map(|policy| (domain.as_str(), policy));
                deliver_route(&relay, &route, enforced, &entry.from, &addresses, &message).await
            }
            Err(outcome) => vec![outcome; indices.len()],
        };
        let now = clock::now_secs();
        let mut outcomes = Vec::with_capacity(indices.len());
        for (&i, a) in indices.iter().zip(attempts) {
            relay.metrics.outbound(outcome_label(a.outcome), &a.status);
            outcomes.push((i, a.outcome, a.reply.clone()));
            entry.record(i, a, &relay.config.outbound.retry, now);
        }
        // Written at once, so a recipient that got its 250 is never sent to again; a
        // message finished without a failure is removed instead (its commit point).
        let finished_clean = entry.is_done()
            && entry
                .recipients
                .iter()
                .all(|r| r.status == Status::Delivered);
        let save = queue.clone();
        let saved = entry.clone();
        tokio::task::spawn_blocking(move || {
            if finished_clean {
                save.remove(&saved.id)
            } else {
                save.save(&saved)
            }
        })
        .await??;
        removed |= finished_clean;
        // Logged once recorded: a "delivered" line means the queue will not send again.
        for (i, outcome, reply) in outcomes {
            info!(%id, recipient = %entry.recipients[i].address, outcome = outcome_label(outcome), %reply, "outbound attempt");
        }
    }
    let all_delivered = entry
        .recipients
        .iter()
        .all(|r| r.status == Status::Delivered);
    if !entry.is_done() {
        queue.reschedule(&entry);
        return Ok(());
    }
    if !removed {
        // With a failure (or finished before a crash): the bounce, then the removal.
        let relay2 = relay.clone();
        let done = entry.clone();
        tokio::task::spawn_blocking(move || {
            if !all_delivered {
                bounce(&relay2, &done, &message);
            }
            relay2.queue.remove(&done.id)
        })
        .await??;
    }
    if let Origin::Platform { outbox_id } = &entry.origin {
        info!(%id, %outbox_id, "platform message finished");
    }
    Ok(())
}

fn outcome_label(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Temporary => "deferred",
        AttemptOutcome::Permanent => "failed",
    }
}

/// Delivers the queue for as long as the relay runs.
pub fn spawn(relay: Arc<Relay>) {
    tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(
            relay.config.outbound.max_concurrent_deliveries,
        ));
        loop {
            let now = clock::now_secs();
            let free = slots.available_permits();
            for id in relay.queue.take_due(now, free) {
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let relay = relay.clone();
                tokio::spawn(async move {
                    if let Err(error) = attempt(relay.clone(), id.clone()).await {
                        warn!(%id, error = format!("{error:#}"), "queue attempt failed");
                        // Left on disk; tried again after the first retry interval.
                        if let Ok(mut entry) = relay.queue.load(&id) {
                            let later = clock::now_secs()
                                + relay.config.outbound.retry.first_retry_secs as i64;
                            for r in &mut entry.recipients {
                                r.next_attempt_at = r.next_attempt_at.max(later);
                            }
                            relay.queue.reschedule(&entry);
                        }
                    }
                    relay.queue.release(&id);
                    drop(permit);
                });
            }
            relay
                .metrics
                .queue(relay.queue.depth(), relay.queue.oldest(), clock::now_secs());
            let wait = relay
                .queue
                .next_due()
                .map_or(60, |at| (at - clock::now_secs()).clamp(0, 60));
            let wait = if free == 0 { wait.max(1) } else { wait };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
                _ = relay.queue.changed() => {}
            }
        }
    });
}
