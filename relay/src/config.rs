//! Configuration: a TOML file, then `TENANTRY_RELAY_*` environment overrides.
//!
//! An override names a key in upper case (`TENANTRY_RELAY_MAIL_ROOT`); a nested key uses
//! `__` (`TENANTRY_RELAY_LIMITS__MAX_RECIPIENTS`). Its value is read as TOML when it
//! parses as a TOML value (`25`, `true`, `["a", "b"]`) and as a string otherwise.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tenantry_core::mail::RetrySchedule;
use tenantry_core::mail::spam::WhenUnscored;

const ENV_PREFIX: &str = "TENANTRY_RELAY_";

/// Everything the relay needs to run. `Debug` shows the secrets as `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The name the relay greets with and stamps in `Received:`.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// SMTP listen addresses.
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// Submission listeners where STARTTLS comes before AUTH (port 587); none by default.
    #[serde(default)]
    pub submission_listen: Vec<SocketAddr>,
    /// Submission listeners with implicit TLS (port 465); none by default.
    #[serde(default)]
    pub submissions_listen: Vec<SocketAddr>,
    /// Metrics and health (`/metrics`, `/healthz`).
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// Maildir root: `{mail_root}/{domain}/{local}/{tmp,new,cur}`.
    pub mail_root: PathBuf,
    /// `{cert_dir}/{domain}/cert.pem` + `key.pem`, and `{cert_dir}/default/`. Without it,
    /// STARTTLS is not offered.
    #[serde(default)]
    pub cert_dir: Option<PathBuf>,
    /// The libSQL database of the directory replica and the usage outbox: a `file:`
    /// URL (default `file:{mail_root}/.relay-state.db`), or a libSQL server's
    /// `libsql://`, `https://` or `http://` URL. One database per relay.
    #[serde(default)]
    pub state_db: Option<String>,
    /// The libSQL server's auth token (a remote `state_db` only). Prefer the environment
    /// variable `TENANTRY_RELAY_STATE_DB_AUTH_TOKEN` over the file.
    #[serde(default)]
    pub state_db_auth_token: Option<String>,
    /// The gateway's base URL, e.g. `https://api.example`.
    pub gateway_url: String,
    /// A relay key (`rk_...`, issued by a platform superadmin with
    /// `POST /v1/admin/relay-keys`). Prefer the environment variable
    /// `TENANTRY_RELAY_RELAY_API_KEY` over the file.
    pub relay_api_key: String,
    /// Seconds between directory pulls.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Seconds between usage pushes.
    #[serde(default = "default_usage_interval")]
    pub usage_push_interval_secs: u64,
    /// Seconds between rounds of domain-proof lookups (the gateway says which names are
    /// due: pending claims every minute, hosted domains daily).
    #[serde(default = "default_proof_interval")]
    pub proof_interval_secs: u64,
    /// The key the gateway seals DKIM keys for relays with (`RELAY_SEAL_KEY` there), 64
    /// hex characters; without it, tenant domains' keys cannot be opened and their mail
    /// is deferred. Prefer `TENANTRY_RELAY_SEAL_KEY` over the file.
    #[serde(default)]
    pub seal_key: Option<String>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// The outbound queue and remote delivery.
    #[serde(default)]
    pub outbound: Outbound,
    /// Verified peers: client certificates on incoming connections.
    #[serde(default)]
    pub tls: PeerTls,
    /// Dovecot's view of the accounts and certificates, kept true from the replica.
    #[serde(default)]
    pub dovecot: Dovecot,
    /// Spam scoring of mail from outside.
    #[serde(default)]
    pub spam: Spam,
}

/// Client certificates of peers (health-mail operators exchanging mail over TLS with
/// certificates from a sector authority).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerTls {
    /// A PEM bundle of the authorities whose client certificates are verified; when set,
    /// a client certificate is requested at STARTTLS.
    pub client_ca: Option<PathBuf>,
    /// PEM or DER CRLs checked with the bundle; reloaded when they change.
    pub crl: Vec<PathBuf>,
    /// Sending domains (or `*`) whose mail is refused without a verified client
    /// certificate (`530 5.7.0`).
    pub require_client_cert_from: Vec<String>,
}

/// Where the relay writes what Dovecot reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dovecot {
    /// `{dir}/accounts/{domain}` for `tenantry-relay dovecot-auth` (Dovecot's
    /// checkpassword passdb and userdb), and `{dir}/certificates.conf` with
    /// `{dir}/certificates/{domain}/` for Dovecot's SNI. Nothing is written without it.
    pub dir: Option<PathBuf>,
    /// Run (argv) when the certificates change, so Dovecot reads them again without a
    /// restart, e.g. `["doveadm", "reload"]`.
    pub reload_command: Vec<String>,
}

/// Spam scoring with Rspamd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spam {
    /// Rspamd's normal worker, e.g. `http://127.0.0.1:11333`; no scoring without it.
    pub rspamd_url: Option<String>,
    /// How long a scan may take before the message counts as unscored.
    pub timeout_secs: u64,
    /// What an unscored message (Rspamd down, slow or confused) becomes: `deliver`
    /// (marked `X-Spam-Status: Unscored`, counted, logged) or `defer` (`451 4.7.1`).
    pub when_unscored: WhenUnscored,
}

impl Default for Spam {
    fn default() -> Self {
        Spam {
            rspamd_url: None,
            timeout_secs: 10,
            when_unscored: WhenUnscored::Deliver,
        }
    }
}

/// The outbound queue and remote delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    /// The spool (default `{mail_root}/.queue`).
    pub queue_dir: Option<PathBuf>,
    /// Domain → `host:port` (or `host`): overrides MX lookup (smarthosts, tests).
    pub transport: BTreeMap<String, String>,
    /// DNS servers (`ip:port`) for MX and address lookups; the system's when empty.
    pub dns_servers: Vec<SocketAddr>,
    /// The port remote MX hosts are reached on.
    pub mx_port: u16,
    /// Deliveries in progress at once.
    pub max_concurrent_deliveries: usize,
    /// Connections to one destination domain at once.
    pub max_connections_per_destination: usize,
    /// When deferred recipients are tried again and when they bounce.
    pub retry: RetrySchedule,
    /// The key the platform's own mail (the gateway's outbox) is signed with.
    pub platform_dkim: Option<PlatformDkim>,
    /// Honour destinations' MTA-STS policies (RFC 8461).
    pub mta_sts: bool,
    /// The port policies are fetched from (443; another only for tests).
    pub mta_sts_port: u16,
    /// Certificates (PEM) trusted beside the web's roots, for MTA-STS policy hosts and
    /// enforced MX connections (a private PKI, tests).
    pub tls_ca_file: Option<PathBuf>,
    /// SMTP TLS reports (RFC 8460) to the destinations that ask for them.
    pub tls_reports: TlsReports,
}

/// Who sends TLS reports, and how often.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsReports {
    /// The reports' sender (and contact); no reports without it.
    pub from: Option<String>,
    /// The reporting period (a day).
    pub interval_secs: u64,
    /// The organisation the reports name.
    pub organization: String,
}

impl Default for TlsReports {
    fn default() -> Self {
        TlsReports {
            from: None,
            interval_secs: 86_400,
            organization: "Tenantry".into(),
        }
    }
}

/// The platform's DKIM key: a PKCS#8 PEM file (Ed25519 or RSA) on the relay's host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformDkim {
    /// The signing domain (`d=`), e.g. the platform's mail domain.
    pub domain: String,
    /// The selector (`s=`) whose TXT record holds the public key.
    pub selector: String,
    /// The private key file.
    pub private_key_file: PathBuf,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            queue_dir: None,
            transport: BTreeMap::new(),
            dns_servers: Vec::new(),
            mx_port: 25,
            max_concurrent_deliveries: 32,
            max_connections_per_destination: 20,
            retry: RetrySchedule::default(),
            platform_dkim: None,
            mta_sts: true,
            mta_sts_port: 443,
            tls_ca_file: None,
            tls_reports: TlsReports::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: Option<&str>| secret.map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("hostname", &self.hostname)
            .field("listen", &self.listen)
            .field("submission_listen", &self.submission_listen)
            .field("submissions_listen", &self.submissions_listen)
            .field("admin_listen", &self.admin_listen)
            .field("mail_root", &self.mail_root)
            .field("cert_dir", &self.cert_dir)
            .field("state_db", &self.state_db)
            .field(
                "state_db_auth_token",
                &redacted(self.state_db_auth_token.as_deref()),
            )
            .field("gateway_url", &self.gateway_url)
            .field("relay_api_key", &redacted(Some(&self.relay_api_key)))
            .field("seal_key", &redacted(self.seal_key.as_deref()))
            .field("sync_interval_secs", &self.sync_interval_secs)
            .field("usage_push_interval_secs", &self.usage_push_interval_secs)
            .field("proof_interval_secs", &self.proof_interval_secs)
            .field("limits", &self.limits)
            .field("outbound", &self.outbound)
            .field("tls", &self.tls)
            .field("dovecot", &self.dovecot)
            .finish()
    }
}

/// Session and message limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The SIZE advertised and enforced.
    pub max_message_bytes: u64,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// A command line, CRLF included.
    pub max_line_bytes: usize,
    /// Connections at once.
    pub max_connections: usize,
    /// Connections at once from one client address.
    pub max_connections_per_ip: usize,
    /// Seconds to wait for a command.
    pub command_timeout_secs: u64,
    /// Seconds to wait for each chunk of DATA.
    pub data_timeout_secs: u64,
    /// Errors in a session before it is closed with 421.
    pub max_errors: u32,
    /// How old the directory replica may be before recipients are deferred.
    pub max_replica_age_secs: u64,
    /// Message bytes all sessions may hold in memory at once while receiving DATA; a
    /// message that would go over is answered `452 4.3.1` (try again later), so many
    /// connections at the size limit cannot exhaust memory.
    pub max_inflight_data_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_bytes: 4096,
            max_connections: 2000,
            max_connections_per_ip: 50,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_errors: 10,
            max_replica_age_secs: 3600,
            max_inflight_data_bytes: 512 * 1024 * 1024,
        }
    }
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_listen() -> Vec<SocketAddr> {
    vec!["0.0.0.0:25".parse().expect("valid address")]
}
fn default_admin_listen() -> SocketAddr {
    "127.0.0.1:9925".parse().expect("valid address")
}
fn default_proof_interval() -> u64 {
    60
}

fn default_sync_interval() -> u64 {
    30
}
fn default_usage_interval() -> u64 {
    60
}

impl Config {
    /// Reads the file (if any), applies the environment and validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            let mut parts: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            let last = parts.pop().unwrap_or_default();
            let mut target = &mut table;
            for part in parts {
                target = target
                    .entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .with_context(|| format!("{name}: {part} is not a table"))?;
            }
            target.insert(last, parsed);
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(self.gateway_url.starts_with("http://") || self.gateway_url.starts_with("https://")) {
            bail!("gateway_url must be an http(s) URL");
        }
        if !self
            .relay_api_key
            .starts_with(tenantry_core::auth::RELAY_KEY_PREFIX)
        {
            bail!(
                "relay_api_key must be a relay key (rk_...), issued by a platform superadmin with POST /v1/admin/relay-keys"
            );
        }
        if self.listen.is_empty() {
            bail!("listen must name at least one address");
        }
        let l = &self.limits;
        if l.max_recipients == 0 || l.max_connections == 0 || l.max_connections_per_ip == 0 {
            bail!(
                "limits.max_recipients, max_connections and max_connections_per_ip must be positive"
            );
        }
        if l.max_line_bytes < 512 {
            bail!("limits.max_line_bytes must be at least 512 (RFC 5321 4.5.3.1.4)");
        }
        let submission = !self.submission_listen.is_empty() || !self.submissions_listen.is_empty();
        if submission && self.cert_dir.is_none() {
            bail!(
                "submission_listen and submissions_listen need cert_dir: AUTH is only offered over TLS"
            );
        }
        let o = &self.outbound;
        if o.max_concurrent_deliveries == 0
            || o.max_connections_per_destination == 0
            || o.retry.first_retry_secs == 0
        {
            bail!(
                "outbound.max_concurrent_deliveries, max_connections_per_destination and retry.first_retry_secs must be positive"
            );
        }
        if o.retry.max_retry_secs < o.retry.first_retry_secs {
            bail!("outbound.retry.max_retry_secs must be at least first_retry_secs");
        }
        for (domain, target) in &o.transport {
            if domain.is_empty() || target.is_empty() || domain != &domain.to_ascii_lowercase() {
                bail!(
                    "outbound.transport: {domain:?} = {target:?} must map a lowercase domain to host[:port]"
                );
            }
        }
        if self.tls.client_ca.is_none()
            && (!self.tls.crl.is_empty() || !self.tls.require_client_cert_from.is_empty())
        {
            bail!("tls.crl and tls.require_client_cert_from need tls.client_ca");
        }
        if self.tls.client_ca.is_some() && self.cert_dir.is_none() {
            bail!("tls.client_ca needs cert_dir: client certificates are asked for at STARTTLS");
        }
        for domain in &self.tls.require_client_cert_from {
            if domain != "*" && (domain.is_empty() || domain != &domain.to_ascii_lowercase()) {
                bail!("tls.require_client_cert_from: {domain:?} must be a lowercase domain or *");
            }
        }
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            bail!("hostname must be a single word");
        }
        Ok(())
    }

    /// The outbound spool directory.
    pub fn queue_dir(&self) -> PathBuf {
        self.outbound
            .queue_dir
            .clone()
            .unwrap_or_else(|| self.mail_root.join(".queue"))
    }

    /// The state database URL.
    pub fn state_db_url(&self) -> String {
        self.state_db
            .clone()
            .unwrap_or_else(|| format!("file:{}", self.mail_root.join(".relay-state.db").display()))
    }

    /// What `check-config` prints: everything but the API key.
    pub fn describe(&self) -> String {
        format!(
            "hostname {}\nlisten {:?}\nsubmission (STARTTLS) {:?}\nsubmission (TLS) {:?}\nqueue {}\noutbound {:?}\nadmin {}\nmail_root {}\ncert_dir {}\nstate_db {}\ngateway {}\nrelay_api_key {}…\nlimits {:?}",
            self.hostname,
            self.listen,
            self.submission_listen,
            self.submissions_listen,
            self.queue_dir().display(),
            self.outbound,
            self.admin_listen,
            self.mail_root.display(),
            self.cert_dir
                .as_ref()
                .map_or("(none: no STARTTLS)".into(), |d| d.display().to_string()),
            self.state_db_url(),
            self.gateway_url,
            &self.relay_api_key[..self.relay_api_key.len().min(11)],
            self.limits,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "rk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("relay-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("relay.toml");
        std::fs::write(
            &file,
            format!("mail_root = \"/tmp/m\"\ngateway_url = \"http://127.0.0.1:1\"\nrelay_api_key = \"{KEY}\"\n[limits]\nmax_recipients = 5\n"),
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("TENANTRY_RELAY_LIMITS__MAX_RECIPIENTS", "7"),
                ("TENANTRY_RELAY_LISTEN", "[\"127.0.0.1:2525\"]"),
                ("TENANTRY_RELAY_HOSTNAME", "mx.example"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.limits.max_recipients, 7);
        assert_eq!(config.listen, vec!["127.0.0.1:2525".parse().unwrap()]);
        assert_eq!(config.hostname, "mx.example");
        assert!(
            !config.describe().contains(KEY),
            "the key is never printed whole"
        );
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(KEY) && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn invalid_configurations_are_refused_with_a_reason() {
        let base = [
            ("TENANTRY_RELAY_MAIL_ROOT", "/tmp/m"),
            ("TENANTRY_RELAY_GATEWAY_URL", "http://gw"),
            ("TENANTRY_RELAY_RELAY_API_KEY", KEY),
        ];
        assert!(Config::load(None, env(&base)).is_ok());
        let mut tenant_key = base;
        tenant_key[2].1 = "tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(
            Config::load(None, env(&tenant_key)).is_err(),
            "a tenant API key is not a relay credential"
        );
        let mut bad_key = base;
        bad_key[2].1 = "secret";
        assert!(
            format!("{:#}", Config::load(None, env(&bad_key)).unwrap_err())
                .contains("relay_api_key")
        );
        let mut bad_url = base;
        bad_url[1].1 = "ftp://gw";
        assert!(Config::load(None, env(&bad_url)).is_err());
        let mut unknown = env(&base);
        unknown.push(("TENANTRY_RELAY_NO_SUCH_KEY".into(), "1".into()));
        assert!(format!("{:#}", Config::load(None, unknown).unwrap_err()).contains("no_such_key"));
        assert!(
            Config::load(None, env(&base[..2])).is_err(),
            "the API key is required"
        );
    }
}
