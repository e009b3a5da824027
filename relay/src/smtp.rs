//! One SMTP session: commands parsed by smtp-proto, recipients decided by the core's
//! policy, messages delivered to Maildir before `250`.
//!
//! Replies to pipelined commands are collected and written when the client has nothing
//! more buffered, as RFC 2920 expects. Command lines must end in CRLF; a bare LF, an
//! over-long line, a stall past the timeout or too many errors end badly for the
//! client, never for the relay.

use crate::clock;
use crate::relay::{DataReservation, Relay};
use smtp_proto::{Error as ProtoError, Request};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_core::mail::{DataDecoder, DataLine, RcptContext, RcptDecision, Reply};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::timeout;
use tracing::{info, warn};

/// A stream the session can run on: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Reader = BufReader<Box<dyn Io>>;

/// Cap on one line of message content; a longer line makes the message oversize.
const MAX_DATA_LINE: usize = 1024 * 1024;

/// A line buffer grown past this by one long line is given back rather than kept for
/// the rest of the session.
const MAX_KEPT_LINE_CAPACITY: usize = 64 * 1024;

enum Line {
    Complete,
    TooLong,
    Eof,
}

async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long {
            if buf.len() + n > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(n);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

struct Envelope {
    from: String,
    declared_size: u64,
    recipients: Vec<String>,
    mailboxes: Vec<String>,
}

struct Session {
    relay: Arc<Relay>,
    peer: SocketAddr,
    helo: Option<String>,
    tls: bool,
    envelope: Option<Envelope>,
    errors: u32,
    out: Vec<u8>,
}

enum Next {
    Continue,
    StartTls,
    Data,
    Close,
}

impl Session {
    fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        self.out
            .extend_from_slice(format!("{code} {enhanced} {text}\r\n").as_bytes());
        if code >= 500 {
            self.errors += 1;
        }
    }

    fn send(&mut self, reply: Reply) {
        self.reply(reply.code, reply.enhanced, reply.text);
    }

    fn ehlo(&mut self, host: &str, extended: bool) {
        self.helo = Some(host.to_string());
        self.envelope = None;
        let hostname = self.relay.config.hostname.clone();
        if !extended {
            self.out
                .extend_from_slice(format!("250 {hostname}\r\n").as_bytes());
            return;
        }
        let mut lines = vec![
            hostname,
            format!("SIZE {}", self.relay.config.limits.max_message_bytes),
            "PIPELINING".into(),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.relay.tls.is_some() && !self.tls {
            lines.push("STARTTLS".into());
        }
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.out
                .extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
        }
    }

    fn command(&mut self, line: &[u8]) -> Next {
        if !line.ends_with(b"\r\n") {
            self.reply(500, "5.5.2", "Syntax error: command lines must end in CRLF");
            return Next::Continue;
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(error) => {
                let (code, enhanced, text) = match error {
                    ProtoError::UnknownCommand => (500, "5.5.1", "Command unrecognized"),
                    ProtoError::InvalidSenderAddress => (501, "5.1.7", "Bad sender address syntax"),
                    ProtoError::InvalidRecipientAddress => {
                        (501, "5.1.3", "Bad recipient address syntax")
                    }
                    ProtoError::InvalidParameter { .. } => {
                        (501, "5.5.4", "Invalid command parameter")
                    }
                    ProtoError::UnsupportedParameter { .. } => {
                        (555, "5.5.4", "Unsupported command parameter")
                    }
                    _ => (501, "5.5.2", "Syntax error"),
                };
                self.reply(code, enhanced, text);
                return Next::Continue;
            }
        };
        match request {
            Request::Ehlo { host } => self.ehlo(&host, true),
            Request::Helo { host } => self.ehlo(&host, false),
            Request::Lhlo { .. } => self.reply(500, "5.5.1", "This is not an LMTP server"),
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.reply(503, "5.5.1", "Send EHLO or HELO first");
                } else if self.envelope.is_some() {
                    self.reply(503, "5.5.1", "Nested MAIL command");
                } else if let Err(reply) = self.relay.policy.check_size(from.size as u64) {
                    self.send(reply);
                } else {
                    self.envelope = Some(Envelope {
                        from: from.address.to_string(),
                        declared_size: from.size as u64,
                        recipients: Vec::new(),
                        mailboxes: Vec::new(),
                    });
                    self.reply(250, "2.1.0", "Sender OK");
                }
            }
            Request::Rcpt { to } => self.recipient(&to.address),
            Request::Data => match &self.envelope {
                None => self.reply(503, "5.5.1", "Send MAIL first"),
                Some(e) if e.recipients.is_empty() => {
                    self.reply(554, "5.5.1", "No valid recipients")
                }
                Some(_) => {
                    self.out
                        .extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                    return Next::Data;
                }
            },
            Request::Rset => {
                self.envelope = None;
                self.reply(250, "2.0.0", "Reset OK");
            }
            Request::Noop { .. } => self.reply(250, "2.0.0", "OK"),
            Request::Vrfy { .. } => {
                self.reply(252, "2.5.0", "Cannot VRFY user, but will accept message")
            }
            Request::Help { .. } => self.reply(214, "2.0.0", "See RFC 5321"),
            Request::Quit => {
                self.reply(221, "2.0.0", "Bye");
                return Next::Close;
            }
            Request::StartTls => {
                if self.tls {
                    self.reply(503, "5.5.1", "TLS already active");
                } else if self.relay.tls.is_none() {
                    self.reply(502, "5.5.1", "STARTTLS not available");
                } else {
                    self.reply(220, "2.0.0", "Ready to start TLS");
                    return Next::StartTls;
                }
            }
            Request::Expn { .. }
            | Request::Auth { .. }
            | Request::Bdat { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.reply(502, "5.5.1", "Command not implemented"),
        }
        Next::Continue
    }

    fn recipient(&mut self, path: &str) {
        let Some(envelope) = self.envelope.as_ref() else {
            self.reply(503, "5.5.1", "Send MAIL first");
            return;
        };
        let context = RcptContext {
            accepted: envelope.recipients.len(),
            replica_age_secs: self.relay.replica_age(clock::now_secs()),
            declared_size: envelope.declared_size,
        };
        let directory = self.relay.directory();
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
                let envelope = self.envelope.as_mut().expect("checked above");
                envelope.recipients.push(recipient);
                for mailbox in mailboxes {
                    if !envelope.mailboxes.contains(&mailbox) {
                        envelope.mailboxes.push(mailbox);
                    }
                }
            }
            RcptDecision::Defer(_) => {
                self.relay.metrics.recipient("deferred", reply.enhanced);
                info!(peer = %self.peer, recipient = path, code = reply.code, enhanced = reply.enhanced, "recipient deferred");
            }
            RcptDecision::Reject(_) => {
                self.relay.metrics.recipient("rejected", reply.enhanced);
                info!(peer = %self.peer, recipient = path, code = reply.code, enhanced = reply.enhanced, "recipient rejected");
            }
        }
        self.send(reply);
    }

    async fn flush(&mut self, reader: &mut Reader) -> io::Result<()> {
        if !self.out.is_empty() {
            reader.get_mut().write_all(&self.out).await?;
            reader.get_mut().flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads the message after 354 and answers it.
    async fn data(&mut self, reader: &mut Reader) -> io::Result<bool> {
        let limits = &self.relay.config.limits;
        let wait = Duration::from_secs(limits.data_timeout_secs);
        let mut message = Vec::new();
        let mut line = Vec::new();
        let mut decoder = DataDecoder::new(limits.max_message_bytes);
        let mut over_budget = false;
        // Memory for the message is charged against the relay-wide budget as it grows.
        let mut reservation = DataReservation::default();
        loop {
            match timeout(wait, read_line(reader, &mut line, MAX_DATA_LINE)).await {
                Err(_) => return self.timed_out(reader).await.map(|_| false),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Line::Eof)) => return Ok(false),
                Ok(Ok(Line::TooLong)) => decoder.line_too_long(),
                Ok(Ok(Line::Complete)) => match decoder.line(&line) {
                    DataLine::End => break,
                    DataLine::Skip => {}
                    DataLine::Content(content) => {
                        let needed = (message.len() + content.len()) as u64;
                        if !over_budget && !reservation.cover(&self.relay, needed) {
                            over_budget = true;
                        }
                        if !over_budget {
                            message.extend_from_slice(content);
                        }
                    }
                },
            }
            if decoder.refused() || over_budget {
                // Refused already: nothing is held, so nothing stays charged either.
                message = Vec::new();
                reservation = DataReservation::default();
            }
            if line.capacity() > MAX_KEPT_LINE_CAPACITY {
                line = Vec::new();
            }
        }
        let envelope = self.envelope.take().expect("DATA only follows an envelope");
        if let Some(reply) = decoder.outcome().reply() {
            self.send(reply);
        } else if over_budget {
            self.relay
                .metrics
                .data_budget_refusals_total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            warn!(peer = %self.peer, "in-flight DATA budget exhausted; message deferred");
            self.reply(
                452,
                "4.3.1",
                "Insufficient system resources, try again later",
            );
        } else {
            self.deliver(envelope, message).await;
        }
        Ok(true)
    }

    async fn deliver(&mut self, envelope: Envelope, message: Vec<u8>) {
        let started = Instant::now();
        let now = clock::now_secs();
        let id = crate::ids::random_id();
        let helo = self.helo.clone().unwrap_or_default();
        let protocol = if self.tls { "ESMTPS" } else { "ESMTP" };
        let header = format!(
            "Return-Path: <{}>\r\nReceived: from {helo} ({})\r\n\tby {} (tenantry-relay) with {protocol} id {id};\r\n\t{}\r\n",
            envelope.from,
            self.peer.ip(),
            self.relay.config.hostname,
            clock::rfc5322(now),
        );
        let size = (header.len() + message.len()) as u64;
        let directory = self.relay.directory();
        // Quotas again with the real size: SIZE= is optional and may understate.
        let refused = self.relay.with_storage(|storage| {
            envelope.recipients.iter().find_map(|recipient| {
                let context = RcptContext {
                    accepted: 0,
                    replica_age_secs: Some(0),
                    declared_size: size,
                };
                match self
                    .relay
                    .policy
                    .decide(&directory, recipient, context, storage)
                {
                    RcptDecision::Accept { .. } => None,
                    other => Some(other.reply()),
                }
            })
        });
        if let Some(reply) = refused {
            self.send(reply);
            return;
        }
        let relay = self.relay.clone();
        let mailboxes = envelope.mailboxes.clone();
        let written = tokio::task::spawn_blocking(move || {
            mailboxes.iter().try_for_each(|mailbox| {
                relay
                    .maildir
                    .deliver(mailbox, &[header.as_bytes(), &message])
                    .map(|_| ())
            })
        })
        .await;
        match written {
            Ok(Ok(())) => {
                for mailbox in &envelope.mailboxes {
                    self.relay.count_delivery(mailbox, size, now);
                }
                self.relay
                    .metrics
                    .delivery_latency(started.elapsed().as_secs_f64());
                info!(peer = %self.peer, %id, size, mailboxes = envelope.mailboxes.len(), "delivered");
                self.reply(250, "2.0.0", &format!("OK queued as {id}"));
            }
            Ok(Err(error)) => {
                warn!(peer = %self.peer, %id, %error, "delivery failed");
                self.reply(451, "4.3.0", "Local delivery failed, try again later");
            }
            Err(error) => {
                warn!(peer = %self.peer, %id, %error, "delivery task failed");
                self.reply(451, "4.3.0", "Local delivery failed, try again later");
            }
        }
    }

    async fn timed_out(&mut self, reader: &mut Reader) -> io::Result<()> {
        info!(peer = %self.peer, "timeout");
        self.reply(421, "4.4.2", "Timeout, closing connection");
        self.flush(reader).await
    }
}

/// Runs a session on an accepted connection until it ends.
pub async fn run(relay: Arc<Relay>, stream: Box<dyn Io>, peer: SocketAddr) -> io::Result<()> {
    let mut reader: Reader = BufReader::with_capacity(16 * 1024, stream);
    let mut session = Session {
        relay: relay.clone(),
        peer,
        helo: None,
        tls: false,
        envelope: None,
        errors: 0,
        out: format!("220 {} ESMTP tenantry-relay\r\n", relay.config.hostname).into_bytes(),
    };
    let limits = relay.config.limits.clone();
    let wait = Duration::from_secs(limits.command_timeout_secs);
    let mut line = Vec::with_capacity(512);
    loop {
        if reader.buffer().is_empty() {
            session.flush(&mut reader).await?;
        }
        let read = match timeout(
            wait,
            read_line(&mut reader, &mut line, limits.max_line_bytes),
        )
        .await
        {
            Err(_) => return session.timed_out(&mut reader).await,
            Ok(read) => read?,
        };
        let next = match read {
            Line::Eof => return session.flush(&mut reader).await,
            Line::TooLong => {
                session.reply(500, "5.5.2", "Line too long");
                Next::Continue
            }
            Line::Complete => session.command(&line),
        };
        if session.errors >= limits.max_errors {
            session.reply(421, "4.7.0", "Too many errors, closing connection");
            return session.flush(&mut reader).await;
        }
        match next {
            Next::Continue => {}
            Next::Close => return session.flush(&mut reader).await,
            Next::Data => {
                session.flush(&mut reader).await?;
                if !session.data(&mut reader).await? {
                    return Ok(());
                }
            }
            Next::StartTls => {
                session.flush(&mut reader).await?;
                let acceptor = relay
                    .tls
                    .clone()
                    .expect("STARTTLS is only offered with TLS");
                // Anything the client pipelined after STARTTLS is discarded with the
                // buffer (the CVE-2011-0411 class of injection).
                let plain = reader.into_inner();
                let tls = match timeout(wait, acceptor.accept(plain)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        info!(peer = %peer, %error, "TLS handshake failed");
                        return Ok(());
                    }
                    Err(_) => return Ok(()),
                };
                reader = BufReader::with_capacity(16 * 1024, Box::new(tls));
                session.tls = true;
                session.helo = None;
                session.envelope = None;
            }
        }
    }
}
