//! `tenantry-relay`: the SMTP relay (MX) for every tenant mail domain.

mod admin;
mod auth;
mod certificates;
mod clock;
mod config;
mod dkim;
mod dovecot;
mod dovecot_auth;
mod ids;
mod inbound;
mod login_throttle;
mod maildir;
mod metrics;
mod mta_sts;
mod outbound;
mod outbox;
mod peers;
mod proofs;
mod queue;
mod queue_cli;
mod relay;
mod sealed;
mod session;
mod smtp;
mod spam;
mod state;
mod sync;
mod tls;
mod tls_reports;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::Config;
use relay::Relay;
use session::Role;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

/// The SMTP relay for every Tenantry tenant mail domain.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file; `TENANTRY_RELAY_*` variables override it.
    #[arg(long, short, env = "TENANTRY_RELAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve SMTP, sync the directory and push usage in the background.
    Serve,
    /// Pull the directory from the gateway once, print what changed, and exit.
    SyncOnce,
    /// Load and validate the configuration and certificates, print them (without the
    /// API key), and exit.
    CheckConfig,
    /// Inspect and act on the outbound queue of a running relay (through its admin port).
    Queue {
        #[command(subcommand)]
        action: queue_cli::Action,
    },
    /// Dovecot's checkpassword program (passdb and userdb): run by Dovecot as
    /// `tenantry-relay dovecot-auth DIR`, with `DIR` the relay's `dovecot.dir`.
    DovecotAuth {
        /// The relay's `dovecot.dir`.
        dir: PathBuf,
        /// The reply program and its arguments, added by Dovecot.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        reply: Vec<std::ffi::OsString>,
    },
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let env = std::env::vars().filter(|(k, _)| k != "TENANTRY_RELAY_CONFIG");
    Config::load(cli.config.as_deref(), env)
}

fn load_tls(config: &Config) -> anyhow::Result<Option<tls::SniResolver>> {
    let Some(dir) = &config.cert_dir else {
        return Ok(None);
    };
    let resolver = tls::SniResolver::load(dir)?;
    let mut names: Vec<&str> = resolver.files().map(|(name, _)| name).collect();
    names.sort_unstable();
    info!(certificates = ?names, "TLS certificate files loaded");
    Ok(Some(resolver))
}

async fn open(config: &Config) -> anyhow::Result<(Arc<state::State>, Arc<Relay>)> {
    std::fs::create_dir_all(&config.mail_root)
        .with_context(|| format!("creating {}", config.mail_root.display()))?;
    let state = state::State::open(
        &config.state_db_url(),
        config.state_db_auth_token.as_deref(),
    )
    .await?;
    let (directory, synced_at) = state.load_directory().await?;
    let relay = Relay::new(config.clone(), directory, synced_at, load_tls(config)?)?;
    Ok((Arc::new(state), relay))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let (state, relay) = open(&config).await?;
    let gateway = Arc::new(sync::Gateway::new(
        &config.gateway_url,
        &config.relay_api_key,
    )?);
    match sync::sync_once(&relay, &state, &gateway).await {
        Ok(summary) => info!(
            version = relay.directory().version(),
            upserted = summary.upserted,
            removed = summary.removed,
            "directory synced at start"
        ),
        Err(error) => warn!(
            error = format!("{error:#}"),
            "directory sync at start failed; serving from the stored replica"
        ),
    }
    // Certificates and Dovecot's files follow the replica, stored or just synced (only
    // `serve` writes them: a `sync-once` beside it would race it).
    certificates::refresh(&relay);
    sync::spawn_background(relay.clone(), state.clone(), gateway);
    let admin = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding {}", config.admin_listen))?;
    tokio::spawn(admin::serve(admin, relay.clone()));
    outbound::spawn(relay.clone());
    tls_reports::spawn(relay.clone());
    let listeners = config
        .listen
        .iter()
        .map(|a| (a, Role::Mx, false))
        .chain(
            config
                .submission_listen
                .iter()
                .map(|a| (a, Role::Submission, false)),
        )
        .chain(
            config
                .submissions_listen
                .iter()
                .map(|a| (a, Role::Submission, true)),
        );
    for (address, role, implicit_tls) in listeners {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address}"))?;
        info!(%address, ?role, implicit_tls, "listening for SMTP");
        tokio::spawn(accept_loop(listener, relay.clone(), role, implicit_tls));
    }
    info!(admin = %config.admin_listen, mail_root = %config.mail_root.display(), "tenantry-relay ready");
    shutdown_signal().await;
    info!("shutting down: saving counted usage to the outbox");
    state.add_usage(&relay.take_usage()).await?;
    Ok(())
}

async fn accept_loop(listener: TcpListener, relay: Arc<Relay>, role: Role, implicit_tls: bool) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: pause instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        relay.metrics.connections_total.inc();
        let Some(slot) = relay.admit(peer.ip()) else {
            relay.metrics.connections_refused_total.inc();
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
                    .await;
            });
            continue;
        };
        let relay = relay.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (stream, certificate): (Box<dyn smtp::Io>, _) = if implicit_tls {
                match smtp::accept_tls(&relay, stream, peer).await {
                    Some((tls, certificate)) => (tls, Some(certificate)),
                    None => {
                        drop(slot);
                        return;
                    }
                }
            } else {
                (Box::new(stream), None)
            };
            if let Err(error) = smtp::run(relay, stream, peer, role, certificate).await {
                info!(%peer, %error, "session ended with an I/O error");
            }
            drop(slot);
        });
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Run by Dovecot for every login: no configuration, no runtime, no log set-up.
    if let Command::DovecotAuth { dir, reply } = &cli.command {
        let status = dovecot_auth::run(dir, reply);
        return std::process::ExitCode::from(u8::try_from(status).unwrap_or(111));
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => {
            eprintln!("tenantry-relay: starting the runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = async {
        let config = load_config(&cli)?;
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Queue { action } => queue_cli::run(&config, action).await,
            Command::DovecotAuth { .. } => unreachable!("run before the runtime starts"),
            Command::CheckConfig => {
                load_tls(&config)?;
                println!("{}", config.describe());
                println!("configuration OK");
                Ok(())
            }
            Command::SyncOnce => {
                let (state, relay) = open(&config).await?;
                let gateway = sync::Gateway::new(&config.gateway_url, &config.relay_api_key)?;
                let before = relay.directory().version();
                let summary = sync::sync_once(&relay, &state, &gateway).await?;
                let directory = relay.directory();
                println!(
                    "directory version {before} -> {}: {} upserted, {} removed{}; {} domains, {} mailboxes, {} aliases",
                    directory.version(),
                    summary.upserted,
                    summary.removed,
                    if summary.full { " (full snapshot)" } else { "" },
                    directory.domains().count(),
                    directory.mailboxes().count(),
                    directory.aliases().count()
                );
                Ok(())
            }
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            error!(error = format!("{err:#}"), "tenantry-relay failed");
            eprintln!("tenantry-relay: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
