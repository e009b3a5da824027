//! The SMTP server session as a sans-I/O state machine: bytes in, replies and
//! decisions out, no sockets, no clock, no tokio (as rustls is for TLS).
//!
//! The adapter (`smtp.rs`) feeds what it reads with [`Session::receive`], writes what
//! [`Session::take_output`] gives, and acts on each [`Step`]: read more, upgrade to TLS,
//! check a password, or deliver a message; it answers the last two with
//! [`Session::authenticated`] and [`Session::delivered`]. Policy questions that need no
//! I/O (recipients, senders, `From:`) are asked synchronously through [`Policy`].
//!
//! Replies to pipelined commands are collected and handed out when no complete line is
//! left in the input, as RFC 2920 expects. Command lines must end in CRLF; an over-long
//! line or too many errors end badly for the client, never for the relay.

use smtp_proto::{
    AUTH_LOGIN, AUTH_PLAIN, EXT_8BIT_MIME, EXT_AUTH, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING,
    EXT_SIZE, EXT_START_TLS, EhloResponse, Error as ProtoError, Request, Response,
};
use tenantry_core::mail::submission::replies as submission;
use tenantry_core::mail::{DataDecoder, DataLine, Reply};

/// Cap on one line of message content; a longer line makes the message oversize.
const MAX_DATA_LINE: usize = 1024 * 1024;

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Port 25: mail for hosted domains, from anyone, without AUTH.
    Mx,
    /// Ports 587 and 465: mail from signed-in mailboxes to anywhere, AUTH over TLS only.
    Submission,
}

/// What a session is configured with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The service.
    pub role: Role,
    /// Host name in the greeting and EHLO.
    pub hostname: String,
    /// SIZE advertised and enforced.
    pub max_message_bytes: u64,
    /// Longest command line, CRLF included.
    pub max_line_bytes: usize,
    /// Errors before the session is closed with 421.
    pub max_errors: u32,
    /// Whether STARTTLS can be offered.
    pub tls_available: bool,
}

/// A recipient the policy accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A hosted address: deliver into these mailboxes.
    Local {
        /// The address as given, normalised.
        address: String,
        /// Mailboxes to deliver into (several for an alias).
        mailboxes: Vec<String>,
    },
    /// Anywhere else: the outbound queue delivers it (submission only).
    Remote {
        /// The address, normalised.
        address: String,
    },
}

/// The envelope and content of a message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// MAIL FROM, without brackets.
    pub from: String,
    /// Accepted recipients.
    pub recipients: Vec<Recipient>,
    /// The message as received (dot-unstuffed, CRLF).
    pub message: Vec<u8>,
    /// The EHLO name.
    pub helo: String,
    /// Whether the session is encrypted.
    pub tls: bool,
    /// The signed-in mailbox (submission).
    pub authenticated: Option<String>,
}

/// The questions a session asks that need no I/O.
pub trait Policy {
    /// `MAIL FROM` with its declared SIZE (0 when none), by the signed-in mailbox if any.
    fn sender(&mut self, authenticated: Option<&str>, from: &str, size: u64) -> Result<(), Reply>;
    /// One `RCPT TO` path, after `accepted` earlier recipients.
    fn recipient(
        &mut self,
        authenticated: Option<&str>,
        accepted: &[Recipient],
        declared_size: u64,
        path: &str,
    ) -> Result<Recipient, Reply>;
    /// Whether `bytes` of DATA may be held in memory (the relay-wide budget).
    fn reserve(&mut self, bytes: u64) -> bool;
    /// Gives back what [`Policy::reserve`] reserved (the message was refused or handed over).
    fn release(&mut self);
    /// The received content, before it is handed over (the `From:` rule of submission).
    fn content(&mut self, authenticated: Option<&str>, message: &[u8]) -> Result<(), Reply>;
}

/// What the adapter does next.
#[derive(PartialEq, Eq)]
pub enum Step {
    /// Write the output, then read more input.
    NeedInput,
    /// Write the output, then start TLS (buffered input is already discarded).
    StartTls,
    /// Check these credentials and answer with [`Session::authenticated`].
    Authenticate {
        /// The username (an address).
        username: String,
        /// The password.
        password: String,
    },
    /// Deliver, then answer with [`Session::delivered`].
    Deliver(Transaction),
    /// Write the output and close.
    Close,
}

impl std::fmt::Debug for Step {
    /// Never shows a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::NeedInput => f.write_str("NeedInput"),
            Step::StartTls => f.write_str("StartTls"),
            Step::Authenticate { username, .. } => f
                .debug_struct("Authenticate")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Step::Deliver(t) => f.debug_tuple("Deliver").field(t).finish(),
            Step::Close => f.write_str("Close"),
        }
    }
}

/// How the AUTH exchange stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthExchange {
    Plain,
    LoginUsername,
    LoginPassword(String),
}

/// What the next input line is.
#[derive(Debug)]
enum Mode {
    Command,
    Auth(AuthExchange),
    Data {
        decoder: DataDecoder,
        message: Vec<u8>,
        over_budget: bool,
    },
    /// Waiting for the adapter (AUTH check or delivery); input stays buffered.
    Waiting,
    Closed,
}

struct Envelope {
    from: String,
    declared_size: u64,
    recipients: Vec<Recipient>,
}

/// One SMTP server session.
pub struct Session {
    config: SessionConfig,
    mode: Mode,
    input: Vec<u8>,
    /// Where the unprocessed input starts (lines are not shifted out one by one: that
    /// would cost a copy of the rest of the buffer per line).
    consumed: usize,
    /// Up to where the input is known to hold no newline.
    scanned: usize,
    /// Bytes of an over-long command line are being thrown away up to its end.
    discarding: bool,
    output: Vec<u8>,
    helo: Option<String>,
    tls: bool,
    authenticated: Option<String>,
    envelope: Option<Envelope>,
    errors: u32,
}

fn write_reply(out: &mut Vec<u8>, code: u16, enhanced: &str, text: &str) {
    let mut esc = [0u8; 3];
    for (slot, part) in esc.iter_mut().zip(enhanced.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    Response::new(code, esc[0], esc[1], esc[2], text)
        .write(out)
        .expect("writing to a Vec cannot fail");
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_ascii())
        .ok()
}

/// `authzid NUL authcid NUL password` (RFC 4616); an authzid other than the authcid is
/// refused (no one signs in on behalf of another mailbox).
fn parse_plain(response: &[u8]) -> Option<(String, String)> {
    let decoded = decode_base64(response)?;
    let mut parts = decoded.split(|&b| b == 0);
    let (authz, authc, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || (!authz.is_empty() && authz != authc) {
        return None;
    }
    Some((
        String::from_utf8(authc.to_vec()).ok()?,
        String::from_utf8(password.to_vec()).ok()?,
    ))
}

impl Session {
    /// A session whose greeting is already in the output.
    pub fn new(config: SessionConfig, implicit_tls: bool) -> Self {
        let mut session = Session {
            mode: Mode::Command,
            input: Vec::new(),
            consumed: 0,
            scanned: 0,
            discarding: false,
            output: Vec::new(),
            helo: None,
            tls: implicit_tls,
            authenticated: None,
            envelope: None,
            errors: 0,
            config,
        };
        let greeting = format!("{} ESMTP tenantry-relay", session.config.hostname);
        session
            .output
            .extend_from_slice(format!("220 {greeting}\r\n").as_bytes());
        session
    }

    /// Bytes read from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.consumed > 0 {
            self.input.drain(..self.consumed);
            self.scanned -= self.consumed;
            self.consumed = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    fn clear_input(&mut self) {
        self.input.clear();
        self.consumed = 0;
        self.scanned = 0;
    }

    /// What to write to the client now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether message content is being received (the adapter's read timeout differs).
    pub fn in_data(&self) -> bool {
        matches!(self.mode, Mode::Data { .. })
    }

    /// The adapter's read timed out: say so and close.
    pub fn timed_out(&mut self) -> Step {
        self.reply(421, "4.4.2", "Timeout, closing connection");
        self.mode = Mode::Closed;
        Step::Close
    }

    /// TLS is up (after [`Step::StartTls`]): the session starts over (RFC 3207).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = None;
        self.envelope = None;
        self.authenticated = None;
        self.clear_input();
        self.mode = Mode::Command;
    }

    /// The answer to [`Step::Authenticate`]: the mailbox signed in, or the refusal.
    pub fn authenticated(&mut self, outcome: Result<String, Reply>) {
        self.mode = Mode::Command;
        match outcome {
            Ok(mailbox) => {
                self.authenticated = Some(mailbox);
                self.send(submission::AUTHENTICATED);
            }
            Err(reply) if reply == submission::AUTH_THROTTLED => {
                self.send(reply);
                self.mode = Mode::Closed;
            }
            // A 535 counts as an error like any 5xx, so guessing ends the session.
            Err(reply) => self.send(reply),
        }
    }

    /// The answer to [`Step::Deliver`].
    pub fn delivered(&mut self, reply: (u16, &str, &str)) {
        self.mode = Mode::Command;
        self.reply(reply.0, reply.1, reply.2);
    }

    fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        write_reply(&mut self.output, code, enhanced, text);
        if code >= 500 {
            self.errors += 1;
        }
    }

    fn send(&mut self, reply: Reply) {
        self.reply(reply.code, reply.enhanced, reply.text);
    }

    /// Runs until the adapter has something to do.
    pub fn next(&mut self, policy: &mut impl Policy) -> Step {
        loop {
            match self.mode {
                Mode::Closed => return Step::Close,
                Mode::Waiting => return Step::NeedInput,
                _ => {}
            }
            if self.errors >= self.config.max_errors {
                self.reply(421, "4.7.0", "Too many errors, closing connection");
                self.mode = Mode::Closed;
                return Step::Close;
            }
            let Some(line) = self.take_line() else {
                return Step::NeedInput;
            };
            let Some(line) = line else {
                continue;
            };
            if let Some(step) = self.line(&line, policy) {
                return step;
            }
        }
    }

    /// The next complete input line: `None` when there is none yet, `Some(None)` when an
    /// over-long command line was dropped (and answered).
    fn take_line(&mut self) -> Option<Option<Vec<u8>>> {
        let max = match self.mode {
            Mode::Data { .. } => MAX_DATA_LINE,
            _ => self.config.max_line_bytes,
        };
        let from = self.scanned.max(self.consumed);
        match self.input[from..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let end = from + offset;
                let line = self.input[self.consumed..=end].to_vec();
                self.consumed = end + 1;
                self.scanned = self.consumed;
                if self.discarding || line.len() > max {
                    self.discarding = false;
                    return Some(self.too_long());
                }
                Some(Some(line))
            }
            None => {
                self.scanned = self.input.len();
                if self.input.len() - self.consumed > max {
                    self.clear_input();
                    self.discarding = true;
                }
                None
            }
        }
    }

    fn too_long(&mut self) -> Option<Vec<u8>> {
        match &mut self.mode {
            Mode::Data { decoder, .. } => {
                decoder.line_too_long();
                None
            }
            _ => {
                // An over-long line also ends an AUTH exchange in progress.
                self.mode = Mode::Command;
                self.reply(500, "5.5.2", "Line too long");
                None
            }
        }
    }

    fn line(&mut self, line: &[u8], policy: &mut impl Policy) -> Option<Step> {
        match std::mem::replace(&mut self.mode, Mode::Waiting) {
            Mode::Command => {
                self.mode = Mode::Command;
                self.command(line, policy)
            }
            Mode::Auth(exchange) => {
                self.mode = Mode::Command;
                self.auth_line(exchange, line)
            }
            Mode::Data {
                mut decoder,
                mut message,
                mut over_budget,
            } => match decoder.line(line) {
                DataLine::End => Some(self.end_of_data(decoder, message, over_budget, policy)),
                DataLine::Skip => {
                    self.mode = Mode::Data {
                        decoder,
                        message,
                        over_budget,
                    };
                    None
                }
                DataLine::Content(content) => {
                    if !decoder.refused() && !over_budget {
                        let needed = (message.len() + content.len()) as u64;
                        if policy.reserve(needed) {
                            message.extend_from_slice(content);
                        } else {
                            over_budget = true;
                        }
                    }
                    if decoder.refused() || over_budget {
                        // Refused already: nothing is held, so nothing stays charged.
                        message = Vec::new();
                        policy.release();
                    }
                    self.mode = Mode::Data {
                        decoder,
                        message,
                        over_budget,
                    };
                    None
                }
            },
            other => {
                self.mode = other;
                None
            }
        }
    }

    fn end_of_data(
        &mut self,
        decoder: DataDecoder,
        message: Vec<u8>,
        over_budget: bool,
        policy: &mut impl Policy,
    ) -> Step {
        self.mode = Mode::Command;
        let envelope = self.envelope.take().expect("DATA only follows an envelope");
        if let Some(reply) = decoder.outcome().reply() {
            policy.release();
            self.send(reply);
            return Step::NeedInput;
        }
        if over_budget {
            policy.release();
            self.reply(
                452,
                "4.3.1",
                "Insufficient system resources, try again later",
            );
            return Step::NeedInput;
        }
        if let Err(reply) = policy.content(self.authenticated.as_deref(), &message) {
            policy.release();
            self.send(reply);
            return Step::NeedInput;
        }
        self.mode = Mode::Waiting;
        Step::Deliver(Transaction {
            from: envelope.from,
            recipients: envelope.recipients,
            message,
            helo: self.helo.clone().unwrap_or_default(),
            tls: self.tls,
            authenticated: self.authenticated.clone(),
        })
    }

    fn ehlo(&mut self, host: &str, extended: bool) {
        self.helo = Some(host.to_string());
        self.envelope = None;
        if !extended {
            let text = self.config.hostname.clone();
            self.output
                .extend_from_slice(format!("250 {text}\r\n").as_bytes());
            return;
        }
        let mut ehlo = EhloResponse::new(self.config.hostname.as_str());
        ehlo.capabilities = EXT_SIZE | EXT_PIPELINING | EXT_8BIT_MIME | EXT_ENHANCED_STATUS_CODES;
        ehlo.size = usize::try_from(self.config.max_message_bytes).unwrap_or(usize::MAX);
        if self.config.tls_available && !self.tls {
            ehlo.capabilities |= EXT_START_TLS;
        }
        // Passwords only ever cross an encrypted connection.
        if self.config.role == Role::Submission && self.tls {
            ehlo.capabilities |= EXT_AUTH;
            ehlo.auth_mechanisms = AUTH_PLAIN | AUTH_LOGIN;
        }
        ehlo.write(&mut self.output)
            .expect("writing to a Vec cannot fail");
    }

    fn auth(&mut self, mechanism: u64, initial: &str) -> Option<Step> {
        if self.config.role != Role::Submission {
            self.reply(502, "5.5.1", "Command not implemented");
            return None;
        }
        if !self.tls {
            self.send(submission::ENCRYPTION_REQUIRED);
            return None;
        }
        if self.helo.is_none() {
            self.reply(503, "5.5.1", "Send EHLO first");
            return None;
        }
        if self.authenticated.is_some() {
            self.send(submission::ALREADY_AUTHENTICATED);
            return None;
        }
        if self.envelope.is_some() {
            self.reply(503, "5.5.1", "AUTH not permitted during a mail transaction");
            return None;
        }
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => {
                self.output.extend_from_slice(b"334 \r\n");
                self.mode = Mode::Auth(AuthExchange::Plain);
                None
            }
            AUTH_PLAIN => self.auth_line(AuthExchange::Plain, initial.as_bytes()),
            AUTH_LOGIN if initial.is_empty() => {
                self.output.extend_from_slice(b"334 VXNlcm5hbWU6\r\n");
                self.mode = Mode::Auth(AuthExchange::LoginUsername);
                None
            }
            AUTH_LOGIN => self.auth_line(AuthExchange::LoginUsername, initial.as_bytes()),
            _ => {
                self.send(submission::AUTH_MECHANISM);
                None
            }
        }
    }

    fn auth_line(&mut self, exchange: AuthExchange, line: &[u8]) -> Option<Step> {
        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
        if line == b"*" {
            self.reply(501, "5.0.0", "Authentication cancelled");
            return None;
        }
        let credentials = match exchange {
            AuthExchange::Plain => parse_plain(line),
            AuthExchange::LoginUsername => {
                match decode_base64(line).and_then(|u| String::from_utf8(u).ok()) {
                    Some(username) => {
                        self.output.extend_from_slice(b"334 UGFzc3dvcmQ6\r\n");
                        self.mode = Mode::Auth(AuthExchange::LoginPassword(username));
                        return None;
                    }
                    None => None,
                }
            }
            AuthExchange::LoginPassword(username) => decode_base64(line)
                .and_then(|p| String::from_utf8(p).ok())
                .map(|password| (username, password)),
        };
        match credentials {
            Some((username, password)) => {
                self.mode = Mode::Waiting;
                Some(Step::Authenticate { username, password })
            }
            None => {
                self.send(submission::AUTH_MALFORMED);
                None
            }
        }
    }

    fn command(&mut self, line: &[u8], policy: &mut impl Policy) -> Option<Step> {
        if !line.ends_with(b"\r\n") {
            self.reply(500, "5.5.2", "Syntax error: command lines must end in CRLF");
            return None;
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
                return None;
            }
        };
        match request {
            Request::Ehlo { host } => self.ehlo(&host, true),
            Request::Helo { host } => self.ehlo(&host, false),
            Request::Lhlo { .. } => self.reply(500, "5.5.1", "This is not an LMTP server"),
            Request::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, &initial_response),
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.reply(503, "5.5.1", "Send EHLO or HELO first");
                } else if self.config.role == Role::Submission && self.authenticated.is_none() {
                    self.send(if self.tls {
                        submission::AUTH_REQUIRED
                    } else {
                        submission::ENCRYPTION_REQUIRED
                    });
                } else if self.envelope.is_some() {
                    self.reply(503, "5.5.1", "Nested MAIL command");
                } else {
                    let size = from.size as u64;
                    match policy.sender(self.authenticated.as_deref(), &from.address, size) {
                        Err(reply) => self.send(reply),
                        Ok(()) => {
                            self.envelope = Some(Envelope {
                                from: from.address.to_string(),
                                declared_size: size,
                                recipients: Vec::new(),
                            });
                            self.reply(250, "2.1.0", "Sender OK");
                        }
                    }
                }
            }
            Request::Rcpt { to } => match &mut self.envelope {
                None => self.reply(503, "5.5.1", "Send MAIL first"),
                Some(envelope) => {
                    match policy.recipient(
                        self.authenticated.as_deref(),
                        &envelope.recipients,
                        envelope.declared_size,
                        &to.address,
                    ) {
                        Ok(recipient) => {
                            envelope.recipients.push(recipient);
                            self.send(tenantry_core::mail::replies::ACCEPTED);
                        }
                        Err(reply) => self.send(reply),
                    }
                }
            },
            Request::Data => match &self.envelope {
                None => self.reply(503, "5.5.1", "Send MAIL first"),
                Some(e) if e.recipients.is_empty() => {
                    self.reply(554, "5.5.1", "No valid recipients")
                }
                Some(_) => {
                    self.output
                        .extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                    self.mode = Mode::Data {
                        decoder: DataDecoder::new(self.config.max_message_bytes),
                        message: Vec::new(),
                        over_budget: false,
                    };
                    // The reply must reach the client before it sends the content.
                    return (!self.input[self.consumed..].contains(&b'\n'))
                        .then_some(Step::NeedInput);
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
                self.mode = Mode::Closed;
                return Some(Step::Close);
            }
            Request::StartTls => {
                if self.tls {
                    self.reply(503, "5.5.1", "TLS already active");
                } else if !self.config.tls_available {
                    self.reply(502, "5.5.1", "STARTTLS not available");
                } else {
                    self.reply(220, "2.0.0", "Ready to start TLS");
                    // Anything the client pipelined after STARTTLS is discarded (the
                    // CVE-2011-0411 class of injection).
                    self.clear_input();
                    return Some(Step::StartTls);
                }
            }
            Request::Expn { .. }
            | Request::Bdat { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.reply(502, "5.5.1", "Command not implemented"),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_core::mail::replies;

    /// A policy that accepts `*@hosted.test` locally, anything else remotely (submission)
    /// or refuses it (MX), and lets `ann@hosted.test` send as herself only.
    #[derive(Default)]
    struct Fixed {
        reserved: u64,
        budget: Option<u64>,
    }

    impl Policy for Fixed {
        fn sender(&mut self, auth: Option<&str>, from: &str, _: u64) -> Result<(), Reply> {
            match auth {
                Some(mailbox) if mailbox != from => Err(submission::SENDER_NOT_OWNED),
                _ => Ok(()),
            }
        }
        fn recipient(
            &mut self,
            auth: Option<&str>,
            _: &[Recipient],
            _: u64,
            path: &str,
        ) -> Result<Recipient, Reply> {
            if path.ends_with("@hosted.test") {
                Ok(Recipient::Local {
                    address: path.into(),
                    mailboxes: vec![path.into()],
                })
            } else if auth.is_some() {
                Ok(Recipient::Remote {
                    address: path.into(),
                })
            } else {
                Err(replies::RELAY_DENIED)
            }
        }
        fn reserve(&mut self, bytes: u64) -> bool {
            self.reserved = bytes;
            self.budget.is_none_or(|b| bytes <= b)
        }
        fn release(&mut self) {
            self.reserved = 0;
        }
        fn content(&mut self, auth: Option<&str>, message: &[u8]) -> Result<(), Reply> {
            match auth {
                Some(mailbox) if !message.starts_with(format!("From: {mailbox}").as_bytes()) => {
                    Err(submission::HEADER_FROM_NOT_OWNED)
                }
                _ => Ok(()),
            }
        }
    }

    fn config(role: Role) -> SessionConfig {
        SessionConfig {
            role,
            hostname: "mx.test".into(),
            max_message_bytes: 1000,
            max_line_bytes: 512,
            max_errors: 5,
            tls_available: true,
        }
    }

    /// Feeds `input` and runs to the next step, returning it with the output as text.
    fn run(s: &mut Session, policy: &mut Fixed, input: &str) -> (Step, String) {
        s.receive(input.as_bytes());
        let step = s.next(policy);
        (step, String::from_utf8(s.take_output()).unwrap())
    }

    #[test]
    fn mx_delivers_to_hosted_recipients_and_refuses_relaying() {
        let mut s = Session::new(config(Role::Mx), false);
        let mut p = Fixed::default();
        let (step, out) = run(
            &mut s,
            &mut p,
            "EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<a@hosted.test>\r\nRCPT TO:<b@else.test>\r\nDATA\r\n",
        );
        assert_eq!(step, Step::NeedInput);
        assert!(out.starts_with("220 mx.test ESMTP"), "{out}");
        assert!(
            out.contains("250-STARTTLS\r\n") && !out.contains("AUTH"),
            "{out}"
        );
        assert!(out.contains("250 2.1.5 Recipient OK\r\n550 5.7.1 Relaying denied\r\n354 "));
        let (step, _) = run(&mut s, &mut p, "Subject: x\r\n\r\n..dot\r\n.\r\n");
        let Step::Deliver(t) = step else {
            panic!("{step:?}")
        };
        assert_eq!(t.from, "x@remote.test");
        assert_eq!(t.message, b"Subject: x\r\n\r\n.dot\r\n");
        assert_eq!(t.recipients.len(), 1);
        s.delivered((250, "2.0.0", "OK queued as 1"));
        let (step, out) = run(&mut s, &mut p, "AUTH PLAIN AGFubgBwdw==\r\nQUIT\r\n");
        assert_eq!(step, Step::Close);
        assert_eq!(
            out,
            "250 2.0.0 OK queued as 1\r\n502 5.5.1 Command not implemented\r\n221 2.0.0 Bye\r\n"
        );
    }

    #[test]
    fn submission_wants_tls_then_auth() {
        let mut s = Session::new(config(Role::Submission), false);
        let mut p = Fixed::default();
        let (_, out) = run(
            &mut s,
            &mut p,
            "EHLO c\r\nAUTH PLAIN AGFubgBwdw==\r\nMAIL FROM:<ann@hosted.test>\r\n",
        );
        assert!(!out.contains("AUTH"), "no AUTH offered in clear: {out}");
        assert!(out.contains("538 5.7.11 "), "{out}");
        assert!(out.ends_with(
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
        ));
        let (step, out) = run(&mut s, &mut p, "STARTTLS\r\nEHLO injected\r\n");
        assert_eq!(step, Step::StartTls);
        assert_eq!(out, "220 2.0.0 Ready to start TLS\r\n");
        s.tls_started();
        let (step, out) = run(&mut s, &mut p, "MAIL FROM:<ann@hosted.test>\r\nEHLO c\r\n");
        assert_eq!(step, Step::NeedInput, "the pipelined EHLO was discarded");
        assert!(out.starts_with("503 5.5.1 Send EHLO"), "{out}");
        assert!(
            out.contains("250-AUTH PLAIN LOGIN\r\n") || out.contains("250-AUTH LOGIN PLAIN\r\n"),
            "{out}"
        );
        assert!(!out.contains("STARTTLS"));
        let (_, out) = run(&mut s, &mut p, "MAIL FROM:<ann@hosted.test>\r\n");
        assert_eq!(out, "530 5.7.0 Authentication required\r\n");
    }

    fn signed_in(p: &mut Fixed, mechanism: &str) -> Session {
        let mut s = Session::new(config(Role::Submission), true);
        run(&mut s, p, "EHLO c\r\n");
        let step = match mechanism {
            "PLAIN" => run(&mut s, p, "AUTH PLAIN AGFubkBob3N0ZWQudGVzdABwdw==\r\n").0,
            _ => {
                let (step, out) = run(&mut s, p, "AUTH LOGIN\r\n");
                assert_eq!(
                    (step, out.as_str()),
                    (Step::NeedInput, "334 VXNlcm5hbWU6\r\n")
                );
                let (step, out) = run(&mut s, p, "YW5uQGhvc3RlZC50ZXN0\r\n");
                assert_eq!(
                    (step, out.as_str()),
                    (Step::NeedInput, "334 UGFzc3dvcmQ6\r\n")
                );
                run(&mut s, p, "cHc=\r\n").0
            }
        };
        assert_eq!(
            step,
            Step::Authenticate {
                username: "ann@hosted.test".into(),
                password: "pw".into()
            }
        );
        s.authenticated(Ok("ann@hosted.test".into()));
        assert_eq!(s.take_output(), b"235 2.7.0 Authentication succeeded\r\n");
        s
    }

    #[test]
    fn submission_sends_anywhere_as_the_mailbox_only() {
        for mechanism in ["PLAIN", "LOGIN"] {
            let mut p = Fixed::default();
            let mut s = signed_in(&mut p, mechanism);
            let (_, out) = run(
                &mut s,
                &mut p,
                "MAIL FROM:<bob@hosted.test>\r\nMAIL FROM:<ann@hosted.test>\r\nRCPT TO:<x@remote.test>\r\nRCPT TO:<b@hosted.test>\r\nDATA\r\n",
            );
            assert!(
                out.starts_with("553 5.7.1 Sender address not owned"),
                "{out}"
            );
            let (step, _) = run(&mut s, &mut p, "From: ann@hosted.test\r\n\r\nhi\r\n.\r\n");
            let Step::Deliver(t) = step else { panic!() };
            assert_eq!(t.authenticated.as_deref(), Some("ann@hosted.test"));
            assert!(
                matches!(&t.recipients[0], Recipient::Remote { address } if address == "x@remote.test")
            );
            assert!(matches!(&t.recipients[1], Recipient::Local { .. }));
            s.delivered((250, "2.0.0", "OK"));
            let (_, out) = run(
                &mut s,
                &mut p,
                "MAIL FROM:<ann@hosted.test>\r\nRCPT TO:<x@remote.test>\r\nDATA\r\nFrom: bob@hosted.test\r\n\r\nhi\r\n.\r\n",
            );
            assert!(
                out.ends_with(
                    "553 5.7.1 From: header address not owned by the authenticated mailbox\r\n"
                ),
                "{out}"
            );
        }
    }

    #[test]
    fn wrong_passwords_and_throttling_end_the_session() {
        let mut p = Fixed::default();
        let mut s = Session::new(config(Role::Submission), true);
        run(&mut s, &mut p, "EHLO c\r\n");
        for _ in 0..4 {
            let (step, _) = run(&mut s, &mut p, "AUTH PLAIN AGFubkBob3N0ZWQudGVzdAB4\r\n");
            assert!(matches!(step, Step::Authenticate { .. }));
            s.authenticated(Err(submission::AUTH_FAILED));
            assert_eq!(
                s.take_output(),
                b"535 5.7.8 Authentication credentials invalid\r\n"
            );
        }
        let (step, _) = run(&mut s, &mut p, "AUTH PLAIN AGFubkBob3N0ZWQudGVzdAB4\r\n");
        assert!(matches!(step, Step::Authenticate { .. }));
        s.authenticated(Err(submission::AUTH_THROTTLED));
        assert_eq!(s.next(&mut p), Step::Close);
        assert_eq!(
            s.take_output(),
            b"454 4.7.0 Too many failed authentications, try again later\r\n"
        );
        // Malformed exchanges, another identity, and a cancelled LOGIN.
        let mut s = Session::new(config(Role::Submission), true);
        let (_, out) = run(
            &mut s,
            &mut p,
            "EHLO c\r\nAUTH PLAIN !!!\r\nAUTH PLAIN Ym9iAGFubgBwdw==\r\nAUTH LOGIN\r\n*\r\nAUTH CRAM-MD5\r\n",
        );
        assert!(
            out.contains("501 5.5.2 Malformed authentication exchange\r\n501 5.5.2 Malformed"),
            "{out}"
        );
        assert!(
            out.contains("334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication cancelled\r\n504 5.5.4 "),
            "{out}"
        );
    }

    #[test]
    fn long_lines_bare_lf_and_error_limit() {
        let mut p = Fixed::default();
        let mut s = Session::new(config(Role::Mx), false);
        let long = "A".repeat(600);
        let (_, out) = run(&mut s, &mut p, &format!("NOOP {long}"));
        assert_eq!(out, "220 mx.test ESMTP tenantry-relay\r\n");
        let (_, out) = run(&mut s, &mut p, "tail\r\nNOOP\n");
        assert_eq!(
            out,
            "500 5.5.2 Line too long\r\n500 5.5.2 Syntax error: command lines must end in CRLF\r\n"
        );
        let (step, out) = run(&mut s, &mut p, "X\r\nX\r\nX\r\nX\r\n");
        assert_eq!(step, Step::Close);
        assert!(
            out.ends_with("421 4.7.0 Too many errors, closing connection\r\n"),
            "{out}"
        );
    }

    #[test]
    fn data_over_the_memory_budget_is_deferred_and_released() {
        let mut p = Fixed {
            budget: Some(10),
            ..Fixed::default()
        };
        let mut s = Session::new(config(Role::Mx), false);
        run(
            &mut s,
            &mut p,
            "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@hosted.test>\r\nDATA\r\n",
        );
        let (step, out) = run(&mut s, &mut p, "0123456789abcdef\r\n.\r\n");
        assert_eq!(step, Step::NeedInput);
        assert_eq!(
            out,
            "452 4.3.1 Insufficient system resources, try again later\r\n"
        );
        assert_eq!(p.reserved, 0);
    }
}
