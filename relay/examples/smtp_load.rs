//! The load of `scripts/bench.sh smtp` (with `--starttls`) and `smtp-out` (with `--auth`):
//! `--sessions` concurrent clients, one message per connection as Postfix's smtp-source
//! sends them, each session encrypted and signed in when asked, by Stalwart's `mail-send`
//! (the same client for every server measured). Prints the messages acknowledged with 250
//! per second and the failures.

use clap::Parser;
use mail_send::SmtpClientBuilder;
use mail_send::smtp::message::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
}

fn body(from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut text = format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: load\r\n\r\n");
    while text.len() + 78 <= size {
        text.push_str(&"x".repeat(76));
        text.push_str("\r\n");
    }
    text.into_bytes()
}

async fn one(args: &Args, message: &[u8]) -> mail_send::Result<()> {
    let mut builder = SmtpClientBuilder::new("127.0.0.1".to_string(), args.port)
        .implicit_tls(false)
        .allow_invalid_certs()
        .helo_host("load.test")
        .timeout(Duration::from_secs(60));
    if let Some((user, password)) = args.auth.as_deref().and_then(|a| a.split_once(':')) {
        builder = builder.credentials((user.to_string(), password.to_string()));
    }
    let mail = Message::new(args.from.as_str(), [args.to.as_str()], message);
    if args.starttls {
        let mut client = builder.connect().await?;
        client.send(mail).await?;
        client.quit().await
    } else {
        let mut client = builder.connect_plain().await?;
        client.send(mail).await?;
        client.quit().await
    }
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let message: Arc<[u8]> = body(&args.from, &args.to, args.size).into();
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.sessions)
        .map(|_| {
            let (args, message, next, failures) = (
                args.clone(),
                message.clone(),
                next.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < args.messages {
                    if let Err(error) = one(&args, &message).await
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
