//! The relay's shared state: configuration, the directory replica in memory, storage
//! and usage counters, metrics, TLS.

use crate::auth::Authenticator;
use crate::clock;
use crate::config::Config;
use crate::maildir::Maildir;
use crate::metrics::Metrics;
use crate::outbound::Router;
use crate::peers::Peers;
use crate::queue::Queue;
use crate::sealed::RelayKeyring;
use crate::state::UsageItem;
use crate::tls::SniResolver;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use tenantry_core::mail::submission::Sent;
use tenantry_core::mail::{Directory, RecipientPolicy, StorageUsage};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Messages a tenant sent in the current UTC day and minute.
#[derive(Debug, Default, Clone, Copy)]
struct SentCounter {
    day: i64,
    today: u64,
    minute: i64,
    this_minute: u64,
}

/// Bytes stored per mailbox and per domain.
#[derive(Debug, Default)]
pub struct Storage {
    mailboxes: HashMap<String, u64>,
    domains: HashMap<String, u64>,
}

impl Storage {
    /// Counts `bytes` more in a mailbox (and its domain).
    pub fn add(&mut self, mailbox: &str, bytes: u64) {
        *self.mailboxes.entry(mailbox.to_string()).or_default() += bytes;
        let domain = mailbox.rsplit_once('@').map_or("", |(_, d)| d);
        *self.domains.entry(domain.to_string()).or_default() += bytes;
    }
}

impl StorageUsage for Storage {
    fn domain_bytes(&self, domain: &str) -> u64 {
        self.domains.get(domain).copied().unwrap_or(0)
    }
    fn mailbox_bytes(&self, address: &str) -> u64 {
        self.mailboxes.get(address).copied().unwrap_or(0)
    }
}

/// Everything sessions and background tasks share.
pub struct Relay {
    /// Configuration.
    pub config: Config,
    /// The recipient policy built from the limits.
    pub policy: RecipientPolicy,
    /// Delivery.
    pub maildir: Maildir,
    /// Metrics.
    pub metrics: Metrics,
    /// STARTTLS, when certificates are configured.
    pub tls: Option<TlsAcceptor>,
    /// The certificates served by SNI (files and uploads), with `tls`.
    pub certificates: Option<Arc<SniResolver>>,
    /// Client certificate verification, with `tls.client_ca`.
    pub peers: Option<Arc<Peers>>,
    /// Opens what the gateway sealed for relays.
    pub keyring: Arc<RelayKeyring>,
    /// Dovecot's certificates were not written or reloaded: try again at the next tick.
    pub dovecot_refresh_pending: std::sync::atomic::AtomicBool,
    /// The outbound spool.
    pub queue: Arc<Queue>,
    /// Routes for remote domains.
    pub router: Router,
    /// SPF, DKIM, ARC and DMARC of mail from outside, over the router's resolver.
    pub sender_checks: crate::inbound::SenderChecks,
    /// Spam scores, when `spam.rspamd_url` is set.
    pub rspamd: Option<crate::spam::Rspamd>,
    /// Destinations' MTA-STS policies.
    pub mta_sts: crate::mta_sts::MtaSts,
    /// The period's counts for SMTP TLS reports.
    pub tls_reports: crate::tls_reports::TlsReports,
    /// The TLS client of remote deliveries.
    pub outbound_tls: tokio_rustls::TlsConnector,
    /// SMTP AUTH: throttling, verified credentials, last uses.
    pub authenticator: Authenticator,
    /// DKIM signing.
    pub signer: crate::dkim::Signer,
    sent: Mutex<HashMap<String, SentCounter>>,
    destinations: Mutex<HashMap<String, Arc<Semaphore>>>,
    directory: RwLock<Arc<Directory>>,
    storage: Mutex<Storage>,
    usage: Mutex<HashMap<(String, String), (i64, i64)>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    connections: Arc<Semaphore>,
    data_budget: Arc<Semaphore>,
}

/// The unit in which DATA is charged against `max_inflight_data_bytes`.
pub const DATA_BUDGET_UNIT: u64 = 64 * 1024;

/// Bytes of DATA a session holds, charged against the relay-wide budget and given back
/// when dropped.
#[derive(Default)]
pub struct DataReservation {
    permit: Option<OwnedSemaphorePermit>,
    units: u64,
}

impl DataReservation {
    /// Whether `bytes` fit in what is reserved, reserving more if the budget allows.
    pub fn cover(&mut self, relay: &Relay, bytes: u64) -> bool {
        let needed = bytes.div_ceil(DATA_BUDGET_UNIT);
        if needed <= self.units {
            return true;
        }
        let more = needed - self.units;
        let Ok(more_u32) = u32::try_from(more) else {
            return false;
        };
        match relay.data_budget.clone().try_acquire_many_owned(more_u32) {
            Ok(permit) => {
                match &mut self.permit {
                    Some(held) => held.merge(permit),
                    None => self.permit = Some(permit),
                }
                self.units = needed;
                true
            }
            Err(_) => false,
        }
    }
}

/// A connection slot; frees the per-address count when dropped.
pub struct ConnectionSlot {
    relay: Arc<Relay>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_ip = self.relay.per_ip.lock().expect("per-ip lock");
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.relay.metrics.connections_active.dec();
    }
}

impl Relay {
    /// Builds the shared state around a loaded directory.
    pub fn new(
        config: Config,
        directory: Directory,
        synced_at: Option<i64>,
        certificates: Option<SniResolver>,
    ) -> anyhow::Result<Arc<Self>> {
        let peers = Peers::load(&config.tls)?;
        let certificates = certificates.map(Arc::new);
        let tls = certificates
            .as_ref()
            .map(|resolver| {
                resolver
                    .server_config(peers.as_ref().map(|p| p.handshake_verifier()))
                    .map(TlsAcceptor::from)
            })
            .transpose()?;
        let keyring = Arc::new(RelayKeyring::new(config.seal_key.as_deref())?);
        let maildir = Maildir::new(config.mail_root.clone(), &config.hostname);
        let mut storage = Storage::default();
        for (mailbox, bytes) in maildir.scan_usage()? {
            storage.add(&mailbox, bytes);
        }
        let policy = RecipientPolicy {
            max_recipients: config.limits.max_recipients,
            max_replica_age_secs: config.limits.max_replica_age_secs,
            max_message_bytes: config.limits.max_message_bytes,
        };
        let queue = Arc::new(Queue::open(&config.queue_dir())?);
        let router = Router::new(
            &config.outbound.dns_servers,
            config.outbound.transport.clone(),
            config.outbound.mx_port,
        )?;
        let rspamd = crate::spam::Rspamd::new(&config.spam)?;
        let mta_sts = crate::mta_sts::MtaSts::new(&config.outbound)?;
        let sender_checks =
            crate::inbound::SenderChecks::new(router.resolver().clone(), &config.hostname);
        let signer =
            crate::dkim::Signer::new(keyring.clone(), config.outbound.platform_dkim.as_ref())?;
        if config.outbound.platform_dkim.is_none() {
            tracing::warn!(
                "outbound.platform_dkim is not set: the platform's own mail (invitations, \
                 password resets, notices) leaves without a DKIM signature, and receivers \
                 enforcing DMARC may refuse it"
            );
        }
        let metrics = Metrics::default();
        metrics
            .replica_version
            .set(i64::try_from(directory.version()).unwrap_or(i64::MAX));
        metrics.replica_synced_at.set(synced_at.unwrap_or(0));
        let budget_units =
            usize::try_from(config.limits.max_inflight_data_bytes / DATA_BUDGET_UNIT)
                .unwrap_or(Semaphore::MAX_PERMITS)
                .clamp(1, Semaphore::MAX_PERMITS);
        Ok(Arc::new(Relay {
            connections: Arc::new(Semaphore::new(config.limits.max_connections)),
            data_budget: Arc::new(Semaphore::new(budget_units)),
            config,
            policy,
            maildir,
            metrics,
            tls,
            certificates,
            peers,
            keyring,
            dovecot_refresh_pending: std::sync::atomic::AtomicBool::new(false),
            queue,
            sender_checks,
            rspamd,
            mta_sts,
            tls_reports: Default::default(),
            router,
            outbound_tls: crate::outbound::tls_connector(),
            authenticator: Authenticator::default(),
            signer,
            sent: Mutex::new(HashMap::new()),
            destinations: Mutex::new(HashMap::new()),
            directory: RwLock::new(Arc::new(directory)),
            storage: Mutex::new(storage),
            usage: Mutex::new(HashMap::new()),
            per_ip: Mutex::new(HashMap::new()),
        }))
    }

    /// A connection slot for a client, or `None` when a connection limit is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let permit = self.connections.clone().try_acquire_owned().ok()?;
        let mut per_ip = self.per_ip.lock().expect("per-ip lock");
        let count = per_ip.entry(ip).or_default();
        if *count >= self.config.limits.max_connections_per_ip {
            return None;
        }
        *count += 1;
        self.metrics.connections_active.inc();
        Some(ConnectionSlot {
            relay: self.clone(),
            ip,
            _permit: permit,
        })
    }

    /// The replica as it is now.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.read().expect("directory lock").clone()
    }

    /// Replaces the replica after a successful sync.
    pub fn set_directory(&self, directory: Directory, synced_at: i64) {
        self.metrics
            .replica_version
            .set(i64::try_from(directory.version()).unwrap_or(i64::MAX));
        self.metrics.replica_synced_at.set(synced_at);
        *self.directory.write().expect("directory lock") = Arc::new(directory);
    }

    /// The certificates served by SNI and their expiry, for the metrics.
    pub fn set_certificate_expiry(&self, not_after: Vec<(String, i64)>) {
        self.metrics.certificates(not_after);
    }

    /// Records a sync that brought nothing new: the replica is fresh again.
    pub fn mark_synced(&self, synced_at: i64) {
        self.metrics.replica_synced_at.set(synced_at);
    }

    /// Seconds since the last successful sync, `None` if never.
    pub fn replica_age(&self, now: i64) -> Option<u64> {
        match self.metrics.replica_synced_at.get() {
            0 => None,
            at => Some(u64::try_from(now - at).unwrap_or(0)),
        }
    }

    /// Runs `f` with the storage counters.
    pub fn with_storage<T>(&self, f: impl FnOnce(&mut Storage) -> T) -> T {
        f(&mut self.storage.lock().expect("storage lock"))
    }

    /// Counts a delivered copy for the usage report.
    pub fn count_delivery(&self, mailbox: &str, bytes: u64, now: i64) {
        let domain = mailbox.rsplit_once('@').map_or("", |(_, d)| d).to_string();
        self.with_storage(|s| s.add(mailbox, bytes));
        let mut usage = self.usage.lock().expect("usage lock");
        let entry = usage.entry((domain, clock::utc_day(now))).or_default();
        entry.0 += 1;
        entry.1 += i64::try_from(bytes).unwrap_or(i64::MAX);
        self.metrics.messages_delivered_total.inc();
        self.metrics.bytes_delivered_total.inc_by(bytes);
    }

    /// A connection slot for a destination domain (`outbound.max_connections_per_destination`
    /// at once); unused destinations are forgotten.
    pub async fn destination_slot(&self, domain: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut destinations = self.destinations.lock().expect("destinations lock");
            if destinations.len() > 10_000 {
                destinations.retain(|_, s| Arc::strong_count(s) > 1);
            }
            destinations
                .entry(domain.to_string())
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(
                        self.config.outbound.max_connections_per_destination,
                    ))
                })
                .clone()
        };
        semaphore.acquire_owned().await.expect("never closed")
    }

    /// What a tenant has sent this UTC day and minute (counted by this relay since it
    /// started).
    pub fn sent(&self, tenant_id: &str, now: i64) -> Sent {
        let sent = self.sent.lock().expect("sent lock");
        let c = sent.get(tenant_id).copied().unwrap_or_default();
        Sent {
            today: if c.day == now.div_euclid(86_400) {
                c.today
            } else {
                0
            },
            this_minute: if c.minute == now.div_euclid(60) {
                c.this_minute
            } else {
                0
            },
        }
    }

    /// Counts one message of a tenant if its limits allow it, in one step (concurrent
    /// sessions cannot all pass a limit that has room for one).
    pub fn count_sent(
        &self,
        tenant_id: &str,
        limits: &tenantry_core::mail::SendingLimits,
        now: i64,
    ) -> Result<(), tenantry_core::mail::Reply> {
        let mut sent = self.sent.lock().expect("sent lock");
        let c = sent.entry(tenant_id.to_string()).or_default();
        let (day, minute) = (now.div_euclid(86_400), now.div_euclid(60));
        if c.day != day {
            (c.day, c.today) = (day, 0);
        }
        if c.minute != minute {
            (c.minute, c.this_minute) = (minute, 0);
        }
        limits.check_message(Sent {
            today: c.today,
            this_minute: c.this_minute,
        })?;
        c.today += 1;
        c.this_minute += 1;
        Ok(())
    }

    /// Gives back a message counted by [`Relay::count_sent`] that was not accepted after all.
    pub fn uncount_sent(&self, tenant_id: &str) {
        if let Some(c) = self.sent.lock().expect("sent lock").get_mut(tenant_id) {
            c.today = c.today.saturating_sub(1);
            c.this_minute = c.this_minute.saturating_sub(1);
        }
    }

    /// Takes the usage counted since the last call, with each domain's stored bytes.
    pub fn take_usage(&self) -> Vec<UsageItem> {
        let counted = std::mem::take(&mut *self.usage.lock().expect("usage lock"));
        let storage = self.storage.lock().expect("storage lock");
        counted
            .into_iter()
            .map(|((domain, day), (messages, bytes))| UsageItem {
                storage_bytes: i64::try_from(storage.domain_bytes(&domain)).unwrap_or(i64::MAX),
                domain,
                day,
                messages,
                bytes,
            })
            .collect()
    }
}
