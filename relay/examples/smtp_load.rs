//! The load of `scripts/bench.sh smtp` (with `--starttls`) and `smtp-out` (with `--auth`):
//! `--sessions` concurrent clients, one message per connection as Postfix's smtp-source
//! sends them, each session encrypted and signed in when asked, by Stalwart's `mail-send`
//! (the same client for every server measured). Prints the messages acknowledged with 250
//! per second and the failures.

use clap::Parser;
use mail_send::Credentials;
use mail_send::SmtpClient;
use mail_send::smtp::AssertReply;
use mail_send::smtp::message::Message;
use mail_send::smtp::tls::build_tls_connector;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Parser)]
struct Args {
    /// Server port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 5120)]
    size: usize,
    /// STARTTLS on every session (required).
    #[arg(long)]
    starttls: bool,
    /// AUTH PLAIN as `user:password` (needs --starttls).
    #[arg(long)]
    auth: Option<String>,
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    /// Send this file (a whole message, e.g. signed) instead of a generated one.
    #[arg(long)]
    message_file: Option<std::path::PathBuf>,
}

fn body(from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut text = format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: load\r\n\r\n");
    while text.len() + 78 <= size {
        text.push_str(&"x".repeat(76));
        text.push_str("\r\n");
    }
    text.into_bytes()
}

async fn one(args: &Args, message: &[u8], tls: &TlsConnector) -> mail_send::Result<()> {
    // Built by hand rather than with SmtpClientBuilder, to turn Nagle's algorithm off: the
    // client writes the content and the final dot separately, and with Nagle the dot
    // waits for the server's delayed ACK (40 ms a message).
    let stream = TcpStream::connect(("127.0.0.1", args.port)).await?;
    stream.set_nodelay(true)?;
    let mut client = SmtpClient {
        stream,
        timeout: Duration::from_secs(60),
    };
    client.read().await?.assert_positive_completion()?;
    let mail = Message::new(args.from.as_str(), [args.to.as_str()], message);
    let credentials = args
        .auth
        .as_deref()
        .and_then(|a| a.split_once(':'))
        .map(|(user, password)| Credentials::new(user, password));
    if args.starttls {
        client.ehlo("load.test").await?;
        let mut client = client.start_tls(tls, "localhost").await?;
        let capabilities = client.capabilities("load.test", false).await?;
        if let Some(credentials) = &credentials {
            client.authenticate(credentials, &capabilities).await?;
        }
        client.send(mail).await?;
        client.quit().await
    } else {
        client.ehlo("load.test").await?;
        client.send(mail).await?;
        client.quit().await
    }
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let message: Arc<[u8]> = match &args.message_file {
        Some(path) => std::fs::read(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .into(),
        None => body(&args.from, &args.to, args.size).into(),
    };
    // Any certificate: the servers measured use throwaway self-signed ones.
    let tls = build_tls_connector(true);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.sessions)
        .map(|_| {
            let (args, message, next, failures, tls) = (
                args.clone(),
                message.clone(),
                next.clone(),
                failures.clone(),
                tls.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < args.messages {
                    if let Err(error) = one(&args, &message, &tls).await
                        && failures.fetch_add(1, Ordering::Relaxed) < 3
                    {
                        eprintln!("smtp_load: {error}");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a session task panicked");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failed = failures.load(Ordering::Relaxed);
    let sent = args.messages - failed;
    println!(
        "{{\"sent\": {sent}, \"failed\": {failed}, \"seconds\": {elapsed:.3}, \"per_second\": {:.1}}}",
        sent as f64 / elapsed
    );
}
