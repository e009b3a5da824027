//! The tokio adapter of the SMTP [`Session`]: it reads and writes the socket, upgrades
//! to TLS, checks passwords and delivers; the protocol is the session's. Messages for
//! hosted mailboxes go to Maildir, others into the outbound queue, both fsynced before
//! `250`.

use crate::clock;
use crate::inbound::Envelope;
use crate::maildir::Folder;
use crate::peers::PeerCertificate;
use crate::queue::{Entry, Origin, RecipientState, Status};
use crate::relay::{DataReservation, Relay};
use crate::session::{Policy, Recipient, Role, Session, SessionConfig, Step, Transaction};
use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_core::mail::authentication::{Disposition, folder, pvalue, settle, submitted_results};
use tenantry_core::mail::relay_fields::strip_relay_fields;
use tenantry_core::mail::spam::{self, Score};
use tenantry_core::mail::submission::{self, replies as submission_replies};
use tenantry_core::mail::{Address, Directory, RcptContext, RcptDecision, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tracing::{info, warn};

/// A stream the session can run on: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The relay's answers to the session's questions.
struct RelayPolicy {
    relay: Arc<Relay>,
    peer: SocketAddr,
    role: Role,
    reservation: DataReservation,
    certificate: PeerCertificate,
}

/// The TLS handshake of a connection (STARTTLS or implicit TLS), and what the client's
/// certificate turned out to be; `None` when the handshake failed or timed out.
pub async fn accept_tls<S: Io + 'static>(
    relay: &Relay,
    stream: S,
    peer: SocketAddr,
) -> Option<(Box<dyn Io>, PeerCertificate)> {
    let acceptor = relay.tls.clone()?;
    let wait = Duration::from_secs(relay.config.limits.command_timeout_secs);
    match timeout(wait, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let certificate = match &relay.peers {
                Some(peers) => peers.verify(tls.get_ref().1.peer_certificates()),
                None => PeerCertificate::None,
            };
            if let PeerCertificate::Unverified(reason) = &certificate {
                info!(%peer, %reason, "client certificate not verified");
            }
            Some((Box::new(tls), certificate))
        }
        Ok(Err(error)) => {
            info!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

impl RelayPolicy {
    /// The signed-in mailbox's tenant and sending limits, if it may still send.
    fn sender_limits(
        &self,
        mailbox: &str,
    ) -> Result<(String, tenantry_core::mail::SendingLimits), Reply> {
        let directory = self.relay.directory();
        let sign_in = submission::sign_in(&directory, mailbox)
            .map_err(|_| submission_replies::AUTH_FAILED)?;
        let domain = mailbox.rsplit_once('@').map_or("", |(_, d)| d);
        let limits = directory
            .domain(domain)
            .map(|d| d.sending)
            .unwrap_or_default();
        Ok((sign_in.tenant_id.to_string(), limits))
    }
}

impl Policy for RelayPolicy {
    fn sender(&mut self, authenticated: Option<&str>, from: &str, size: u64) -> Result<(), Reply> {
        self.relay.policy.check_size(size)?;
        let Some(mailbox) = authenticated else {
            if let Some(peers) = &self.relay.peers {
                peers.requirement.check(from, self.certificate.verified())?;
            }
            return Ok(());
        };
        // The replica may have changed since AUTH: a suspended domain stops here.
        let (tenant, limits) = self.sender_limits(mailbox)?;
        submission::check_sender(&self.relay.directory(), mailbox, from)?;
        limits.check_message(self.relay.sent(&tenant, clock::now_secs()))
    }

    fn recipient(
        &mut self,
        authenticated: Option<&str>,
        accepted: &[Recipient],
        declared_size: u64,
        path: &str,
    ) -> Result<Recipient, Reply> {
        let directory = self.relay.directory();
        if let Some(mailbox) = authenticated {
            let (_, limits) = self.sender_limits(mailbox)?;
            limits.check_recipient(accepted.len())?;
            let address =
                Address::parse_path(path).map_err(|_| tenantry_core::mail::replies::BAD_ADDRESS)?;
            if accepted.len() >= self.relay.policy.max_recipients {
                return Err(tenantry_core::mail::replies::TOO_MANY_RECIPIENTS);
            }
            if directory.domain(address.domain()).is_none() {
                return Ok(Recipient::Remote {
                    address: address.as_str().to_string(),
                });
            }
        }
        let context = RcptContext {
            accepted: accepted.len(),
            replica_age_secs: self.relay.replica_age(clock::now_secs()),
            declared_size,
        };
        let decision = self
            .relay
            .with_storage(|storage| self.relay.policy.decide(&directory, path, context, storage));
        let reply = decision.reply();
        match decision {
            RcptDecision::Accept {
                recipient,
                tenant_id,
                mailboxes,
            } => {
                self.relay.metrics.recipient("accepted", reply.enhanced);
                info!(peer = %self.peer, %recipient, %tenant_id, "recipient accepted");
                Ok(Recipient::Local {
                    address: recipient,
                    mailboxes,
                })
            }
            RcptDecision::Defer(reply) => {
                self.relay.metrics.recipient("deferred", reply.enhanced);
                info!(peer = %self.peer, recipient = path, code = reply.code, enhanced = reply.enhanced, "recipient deferred");
                Err(reply)
            }
            RcptDecision::Reject(reply) => {
                self.relay.metrics.recipient("rejected", reply.enhanced);
                info!(peer = %self.peer, recipient = path, code = reply.code, enhanced = reply.enhanced, "recipient rejected");
                Err(reply)
            }
        }
    }

    fn reserve(&mut self, bytes: u64) -> bool {
        let ok = self.reservation.cover(&self.relay, bytes);
        if !ok {
            self.relay.metrics.data_budget_refusals_total.inc();
            warn!(peer = %self.peer, "in-flight DATA budget exhausted; message deferred");
        }
        ok
    }

    fn release(&mut self) {
        self.reservation = DataReservation::default();
    }

    fn content(&mut self, authenticated: Option<&str>, message: &[u8]) -> Result<(), Reply> {
        let Some(mailbox) = authenticated else {
            let Some(peers) = &self.relay.peers else {
                return Ok(());
            };
            let parsed = mail_parser::MessageParser::new().parse_headers(message);
            let from = parsed
                .as_ref()
                .map(|parsed| originator_addresses(parsed, mail_parser::HeaderName::From))
                .unwrap_or_default();
            let from: Vec<&str> = from.iter().flatten().copied().collect();
            return peers
                .requirement
                .check_header_from(&from, self.certificate.verified());
        };
        debug_assert_eq!(self.role, Role::Submission);
        let parsed = mail_parser::MessageParser::new()
            .parse_headers(message)
            .ok_or(submission_replies::ORIGINATOR_FIELDS)?;
        let fields = submission::Originators {
            from: originator_addresses(&parsed, mail_parser::HeaderName::From),
            sender: originator_addresses(&parsed, mail_parser::HeaderName::Sender),
        };
        submission::check_originators(&self.relay.directory(), mailbox, &fields)
    }
}

/// The addresses of every `name` field (`From:`, `Sender:`), field by field: every
/// field, not the parser's choice of one, so that a second `From:` does not slip by.
fn originator_addresses<'m>(
    parsed: &'m mail_parser::Message<'m>,
    name: mail_parser::HeaderName<'static>,
) -> Vec<Vec<&'m str>> {
    parsed
        .header_values(name)
        .map(|value| {
            value
                .as_address()
                .map(|a| a.iter().filter_map(|addr| addr.address()).collect())
                .unwrap_or_default()
        })
        .collect()
}

/// Delivers an accepted message: hosted mailboxes first, then the queue for the rest.
async fn deliver(
    relay: &Arc<Relay>,
    peer: SocketAddr,
    certificate: &PeerCertificate,
    t: Transaction,
) -> (u16, &'static str, String) {
    let started = Instant::now();
    let now = clock::now_secs();
    let id = crate::ids::random_id();
    let protocol = match (t.tls, t.authenticated.is_some()) {
        (true, true) => "ESMTPSA",
        (false, true) => "ESMTPA",
        (true, false) => "ESMTPS",
        (false, false) => "ESMTP",
    };
    // The subject was verified against the configured authorities; what could end the
    // comment or the field (quotes, parentheses, line breaks, non-ASCII) is replaced.
    let verified = match certificate {
        PeerCertificate::Verified(subject) if t.tls => format!(
            "\r\n\t(verified client certificate \"{}\")",
            subject.replace(
                |c: char| !c.is_ascii() || c.is_ascii_control() || "\"\\()".contains(c),
                "?"
            )
        ),
        _ => String::new(),
    };
    let received = format!(
        "Received: from {} ({}){verified}\r\n\tby {} (tenantry-relay) with {protocol} id {id};\r\n\t{}\r\n",
        pvalue(&t.helo),
        peer.ip(),
        relay.config.hostname,
        clock::rfc5322(now),
    );
    let size = (received.len() + t.message.len()) as u64;
    let mut remote: Vec<String> = Vec::new();
    for recipient in &t.recipients {
        if let Recipient::Remote { address } = recipient
            && !remote.contains(address)
        {
            remote.push(address.clone());
        }
    }
    // Quotas again with the real size: SIZE= is optional and may understate.
    let directory = relay.directory();
    let refused = relay.with_storage(|storage| {
        t.recipients.iter().find_map(|recipient| {
            let Recipient::Local { address, .. } = recipient else {
                return None;
            };
            let context = RcptContext {
                accepted: 0,
                replica_age_secs: Some(0),
                declared_size: size,
            };
            match relay.policy.decide(&directory, address, context, storage) {
                RcptDecision::Accept { .. } => None,
                other => Some(other.reply()),
            }
        })
    });
    if let Some(reply) = refused {
        return (reply.code, reply.enhanced, reply.text.to_string());
    }
    // Only the relay writes results under its own name (RFC 8601 section 5).
    let stripped = match strip_relay_fields(&t.message, &relay.config.hostname) {
        Cow::Owned(message) => Some(message),
        Cow::Borrowed(_) => None,
    };
    let message = stripped.unwrap_or(t.message);
    let envelope = Envelope {
        ip: peer.ip(),
        helo: &t.helo,
        mail_from: &t.from,
    };
    let (results, copies) = match authenticate(
        relay,
        &directory,
        &envelope,
        t.authenticated.as_deref(),
        &t.recipients,
        &message,
    )
    .await
    {
        Ok(local) => local,
        Err(reply) => {
            info!(peer = %peer, %id, code = reply.code, enhanced = reply.enhanced, "refused by inbound authentication");
            return (reply.code, reply.enhanced, reply.text.to_string());
        }
    };
    let local_header = format!("Return-Path: <{}>\r\n{results}{received}", t.from);
    let size = (local_header.len() + message.len()) as u64;
    // A signed-in mailbox must still be allowed to send now, and its message is counted
    // against the tenant's limits before it is written (given back if writing fails).
    let tenant = match t.authenticated.as_deref() {
        None => None,
        Some(mailbox) => {
            let Ok(sign_in) = submission::sign_in(&directory, mailbox) else {
                let reply = submission_replies::NO_LONGER_ALLOWED;
                return (reply.code, reply.enhanced, reply.text.to_string());
            };
            let domain = mailbox.rsplit_once('@').map_or("", |(_, d)| d);
            let limits = directory
                .domain(domain)
                .map(|d| d.sending)
                .unwrap_or_default();
            if let Err(reply) = relay.count_sent(sign_in.tenant_id, &limits, now) {
                return (reply.code, reply.enhanced, reply.text.to_string());
            }
            Some(sign_in.tenant_id.to_string())
        }
    };
    let uncount = |relay: &Relay| {
        if let Some(tenant) = &tenant {
            relay.uncount_sent(tenant);
        }
    };
    // Remote copies carry the signature of the `From:` domain's active key.
    let signature = if remote.is_empty() {
        None
    } else {
        let domain = header_from_domain(&message).unwrap_or_else(|| {
            t.from
                .rsplit_once('@')
                .map_or("", |(_, d)| d)
                .to_ascii_lowercase()
        });
        match relay.signer.sign_tenant(&directory, &domain, &message) {
            Ok(signature) => {
                if signature.is_some() {
                    relay.metrics.dkim("signed");
                }
                signature
            }
            Err(error) => {
                uncount(relay);
                relay.metrics.dkim("failed");
                warn!(peer = %peer, %id, %domain, error = format!("{error:#}"), "DKIM signing failed; message deferred");
                return (
                    451,
                    "4.7.5",
                    "Cannot sign the message now, try again later".into(),
                );
            }
        }
    };
    let writer = relay.clone();
    let local_targets = copies.clone();
    let entry = (!remote.is_empty()).then(|| Entry {
        id: id.clone(),
        from: t.from.clone(),
        origin: Origin::Submission {
            tenant_id: tenant.clone().unwrap_or_default(),
            mailbox: t.authenticated.clone().unwrap_or_default(),
        },
        queued_at: now,
        size: (received.len() + message.len()) as u64,
        recipients: remote
            .iter()
            .map(|address| RecipientState {
                address: address.clone(),
                status: Status::Pending,
                failures: 0,
                next_attempt_at: now,
                last_reply: None,
                last_status: None,
                remote_mta: None,
            })
            .collect(),
    });
    let written = tokio::task::spawn_blocking(move || {
        local_targets.iter().try_for_each(|copy| {
            writer
                .maildir
                .deliver_in(
                    &copy.mailbox,
                    copy.folder,
                    &[
                        copy.spam_fields.as_bytes(),
                        local_header.as_bytes(),
                        &message,
                    ],
                )
                .map(|_| ())
        })?;
        if let Some(entry) = &entry {
            let mut queued = Vec::with_capacity(received.len() + message.len() + 1024);
            queued.extend_from_slice(received.as_bytes());
            if let Some(signature) = &signature {
                queued.extend_from_slice(signature.as_bytes());
            }
            queued.extend_from_slice(&message);
            writer.queue.enqueue(entry, &queued)?;
        }
        io::Result::Ok(())
    })
    .await;
    match written {
        Ok(Ok(())) => {
            for copy in &copies {
                relay.count_delivery(&copy.mailbox, size + copy.spam_fields.len() as u64, now);
            }
            relay
                .metrics
                .delivery_latency(started.elapsed().as_secs_f64());
            info!(peer = %peer, %id, size, mailboxes = copies.len(), queued = remote.len(), "accepted");
            (250, "2.0.0", format!("OK queued as {id}"))
        }
        Ok(Err(error)) => {
            uncount(relay);
            warn!(peer = %peer, %id, %error, "delivery failed");
            (
                451,
                "4.3.0",
                "Local delivery failed, try again later".into(),
            )
        }
        Err(error) => {
            uncount(relay);
            warn!(peer = %peer, %id, %error, "delivery task failed");
            (
                451,
                "4.3.0",
                "Local delivery failed, try again later".into(),
            )
        }
    }
}

/// One mailbox's copy of a message from outside: where it goes, and the `X-Spam-*`
/// fields of its domain's thresholds.
#[derive(Clone)]
struct Copy {
    mailbox: String,
    folder: Folder,
    spam_fields: String,
}

/// The `Authentication-Results` field of a message's local copies and the copies, each
/// in its folder; or the reply refusing or deferring the whole message. Submitted mail is
/// vouched for by the session's sign-in; mail from outside is checked and scored, and
/// each recipient's domain decides, through the core, what a failure or a score means.
async fn authenticate(
    relay: &Relay,
    directory: &Directory,
    envelope: &Envelope<'_>,
    authenticated: Option<&str>,
    recipients: &[Recipient],
    message: &[u8],
) -> Result<(String, Vec<Copy>), Reply> {
    let local: Vec<(&String, &Vec<String>)> = recipients
        .iter()
        .filter_map(|r| match r {
            Recipient::Local { address, mailboxes } => Some((address, mailboxes)),
            Recipient::Remote { .. } => None,
        })
        .collect();
    let mut copies: Vec<Copy> = Vec::new();
    let mut add = |mailboxes: &[String], folder: Folder, spam_fields: &str| {
        for mailbox in mailboxes {
            if !copies.iter().any(|c| &c.mailbox == mailbox) {
                copies.push(Copy {
                    mailbox: mailbox.clone(),
                    folder,
                    spam_fields: spam_fields.to_string(),
                });
            }
        }
    };
    if let Some(mailbox) = authenticated {
        local
            .iter()
            .for_each(|(_, mailboxes)| add(mailboxes, Folder::Inbox, ""));
        return Ok((submitted_results(&relay.config.hostname, mailbox), copies));
    }
    if local.is_empty() {
        return Ok((String::new(), copies));
    }
    let started = Instant::now();
    let checked = match relay.sender_checks.check(envelope, message).await {
        Ok(checked) => checked,
        Err(reply) => {
            relay.metrics.inbound("refused");
            return Err(reply);
        }
    };
    let addresses: Vec<&str> = local.iter().map(|(a, _)| a.as_str()).collect();
    let score = spam_score(relay, envelope, &addresses, message).await;
    relay
        .metrics
        .inbound_checks(started.elapsed().as_secs_f64());
    let unscored = relay.config.spam.when_unscored;
    let decided: Vec<(Disposition, String)> = local
        .iter()
        .map(|(address, _)| {
            let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
            let entry = directory.domain(domain);
            let handling = entry.map(|d| d.dmarc_handling).unwrap_or_default();
            let thresholds = entry.map(|d| d.spam).unwrap_or_default();
            let dmarc = checked.verdict.disposition(handling);
            match score {
                None => (dmarc, String::new()),
                Some(score) => (
                    dmarc.stricter(spam::disposition(score, thresholds, unscored)),
                    spam::header_fields(score, thresholds),
                ),
            }
        })
        .collect();
    let dispositions: Vec<Disposition> = decided.iter().map(|(d, _)| *d).collect();
    match settle(&dispositions) {
        Some(Disposition::Refuse(reply)) => {
            relay.metrics.inbound("refused");
            return Err(reply);
        }
        Some(Disposition::Defer(reply)) => {
            relay.metrics.inbound("deferred");
            return Err(reply);
        }
        _ => {}
    }
    for ((_, mailboxes), (disposition, spam_fields)) in local.iter().zip(decided) {
        let folder = match folder(disposition) {
            Disposition::Junk => Folder::Junk,
            _ => Folder::Inbox,
        };
        relay.metrics.inbound(match folder {
            Folder::Junk => "junk",
            Folder::Inbox => "inbox",
        });
        add(mailboxes, folder, &spam_fields);
    }
    Ok((checked.header, copies))
}

/// Rspamd's score of a message from outside: `None` without Rspamd, unscored (logged and
/// counted) when it could not answer.
async fn spam_score(
    relay: &Relay,
    envelope: &Envelope<'_>,
    recipients: &[&str],
    message: &[u8],
) -> Option<Score> {
    let rspamd = relay.rspamd.as_ref()?;
    Some(match rspamd.score(envelope, recipients, message).await {
        Ok(score) => {
            relay.metrics.spam("scored");
            score
        }
        Err(error) => {
            relay.metrics.spam("unscored");
            warn!(peer = %envelope.ip, %error, when_unscored = ?relay.config.spam.when_unscored, "message not scored for spam");
            Score::Unscored
        }
    })
}

/// The domain of the first `From:` address, lowercase.
fn header_from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    let address = parsed.from()?.first()?.address()?;
    Some(address.rsplit_once('@')?.1.to_ascii_lowercase())
}

async fn write_output(stream: &mut Box<dyn Io>, session: &mut Session) -> io::Result<()> {
    let out = session.take_output();
    if !out.is_empty() {
        stream.write_all(&out).await?;
        stream.flush().await?;
    }
    Ok(())
}

/// Runs a session on an accepted connection (already TLS for implicit-TLS submission)
/// until it ends.
pub async fn run(
    relay: Arc<Relay>,
    mut stream: Box<dyn Io>,
    peer: SocketAddr,
    role: Role,
    implicit_tls: Option<PeerCertificate>,
) -> io::Result<()> {
    let limits = relay.config.limits.clone();
    let mut session = Session::new(
        SessionConfig {
            role,
            hostname: relay.config.hostname.clone(),
            max_message_bytes: limits.max_message_bytes,
            max_line_bytes: limits.max_line_bytes,
            max_errors: limits.max_errors,
            tls_available: relay.tls.is_some(),
        },
        implicit_tls.is_some(),
    );
    let mut policy = RelayPolicy {
        relay: relay.clone(),
        peer,
        role,
        reservation: DataReservation::default(),
        certificate: implicit_tls.unwrap_or_default(),
    };
    let command_wait = Duration::from_secs(limits.command_timeout_secs);
    let data_wait = Duration::from_secs(limits.data_timeout_secs);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match session.next(&mut policy) {
            Step::NeedInput => {
                write_output(&mut stream, &mut session).await?;
                let wait = if session.in_data() {
                    data_wait
                } else {
                    command_wait
                };
                match timeout(wait, stream.read(&mut buf)).await {
                    Err(_) => {
                        info!(%peer, "timeout");
                        session.timed_out();
                        return write_output(&mut stream, &mut session).await;
                    }
                    Ok(Ok(0)) => return write_output(&mut stream, &mut session).await,
                    Ok(Ok(n)) => session.receive(&buf[..n]),
                    Ok(Err(error)) => return Err(error),
                }
            }
            Step::StartTls => {
                write_output(&mut stream, &mut session).await?;
                let Some((tls, certificate)) = accept_tls(&relay, stream, peer).await else {
                    return Ok(());
                };
                (stream, policy.certificate) = (tls, certificate);
                session.tls_started();
            }
            Step::Authenticate { username, password } => {
                let outcome =
                    crate::auth::authenticate(&relay, peer.ip(), &username, &password).await;
                session.authenticated(outcome);
            }
            Step::Deliver(transaction) => {
                let (code, enhanced, text) =
                    deliver(&relay, peer, &policy.certificate, transaction).await;
                policy.release();
                session.delivered((code, enhanced, &text));
            }
            Step::Close => return write_output(&mut stream, &mut session).await,
        }
    }
}
