//! Configuration from Worker vars and secrets (`.dev.vars` locally, `wrangler secret`
//! in production). A missing or malformed value fails at the first request that needs
//! it with 500 `misconfigured`, naming the variable and never its value.

use tenantry_core::auth::{JwtConfig, JwtKey};
use tenantry_core::seal::{Keyring, MasterKey};
use tenantry_core::tenant::Hostname;
use tenantry_core::{ErrorCode, Problem};
use worker::Env;

/// A value of the environment, from a secret or a var.
pub fn value(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.is_empty())
}

fn misconfigured(name: &str, why: &str) -> Problem {
    Problem::new(ErrorCode::Misconfigured, format!("{name} {why}"))
}

/// A required value.
pub fn required(env: &Env, name: &str) -> Result<String, Problem> {
    value(env, name).ok_or_else(|| misconfigured(name, "is not set"))
}

/// `PLATFORM_DOMAIN`, when set.
pub fn platform_domain(env: &Env) -> Result<Option<Hostname>, Problem> {
    value(env, "PLATFORM_DOMAIN")
        .map(|d| {
            Hostname::parse(&d).map_err(|_| misconfigured("PLATFORM_DOMAIN", "is not a hostname"))
        })
        .transpose()
}

/// What every request of the gateway needs.
pub struct Config {
    /// `PLATFORM_DOMAIN`, for subdomain resolution.
    pub platform_domain: Option<Hostname>,
    /// `JWT_SECRET`.
    pub jwt_key: JwtKey,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`.
    pub jwt: JwtConfig,
}

impl Config {
    /// Reads the configuration.
    pub fn load(env: &Env) -> Result<Self, Problem> {
        let platform_domain = platform_domain(env)?;
        let secret = required(env, "JWT_SECRET")?;
        if secret.len() < 32 {
            return Err(misconfigured(
                "JWT_SECRET",
                "must be at least 32 characters",
            ));
        }
        let defaults = JwtConfig::default();
        Ok(Config {
            platform_domain,
            jwt_key: JwtKey::new(secret.as_bytes())
                .map_err(|_| misconfigured("JWT_SECRET", "is empty"))?,
            jwt: JwtConfig {
                issuer: value(env, "JWT_ISSUER").unwrap_or(defaults.issuer),
                audience: value(env, "JWT_AUDIENCE").unwrap_or(defaults.audience),
                leeway_secs: defaults.leeway_secs,
            },
        })
    }
}

/// The sealing keyring: `SEAL_MASTER_KEY` (64 hex), key id `SEAL_KEY_ID` (default
/// `k1`), and optionally `SEAL_RETIRED_KEYS` (`id:hex,id:hex`) to open old values.
pub fn keyring(env: &Env) -> Result<Keyring, Problem> {
    let id = value(env, "SEAL_KEY_ID").unwrap_or_else(|| "k1".into());
    let current = MasterKey::from_hex(&id, &required(env, "SEAL_MASTER_KEY")?)
        .map_err(|_| misconfigured("SEAL_MASTER_KEY", "must be 64 hex characters"))?;
    let mut retired = Vec::new();
    for entry in value(env, "SEAL_RETIRED_KEYS")
        .unwrap_or_default()
        .split(',')
        .filter(|e| !e.is_empty())
    {
        let (id, hex) = entry
            .split_once(':')
            .ok_or_else(|| misconfigured("SEAL_RETIRED_KEYS", "must be id:hex,..."))?;
        retired.push(
            MasterKey::from_hex(id, hex)
                .map_err(|_| misconfigured("SEAL_RETIRED_KEYS", "holds a malformed key"))?,
        );
    }
    Ok(Keyring::new(current, retired))
}

/// Where people open the console (`CONSOLE_URL`, default `https://{PLATFORM_DOMAIN}`):
/// the links of invitations, verifications and resets point there.
pub fn console_url(env: &Env) -> Result<String, Problem> {
    if let Some(url) = value(env, "CONSOLE_URL") {
        return Ok(url.trim_end_matches('/').to_string());
    }
    platform_domain(env)?
        .map(|domain| format!("https://{}", domain.as_str()))
        .ok_or_else(|| misconfigured("CONSOLE_URL", "is not set (nor PLATFORM_DOMAIN)"))
}

/// The sender address of the platform's mail (`MAIL_FROM`, default
/// `no-reply@{PLATFORM_DOMAIN}`).
pub fn mail_from(env: &Env) -> Result<tenantry_core::mail::Address, Problem> {
    let text = match value(env, "MAIL_FROM") {
        Some(text) => text,
        None => platform_domain(env)?
            .map(|domain| format!("no-reply@{}", domain.as_str()))
            .ok_or_else(|| misconfigured("MAIL_FROM", "is not set (nor PLATFORM_DOMAIN)"))?,
    };
    tenantry_core::mail::Address::parse(&text)
        .map_err(|_| misconfigured("MAIL_FROM", "is not a mail address"))
}

/// The entries of a comma-separated variable, trimmed, without empty ones.
fn list(env: &Env, name: &str) -> Vec<String> {
    value(env, name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(String::from)
        .collect()
}

/// The relays' hostnames (`RELAY_HOSTNAMES`, comma-separated): the MX hosts of every
/// hosted domain. Closed: a domain's records cannot be told without them.
pub fn relay_hostnames(env: &Env) -> Result<Vec<String>, Problem> {
    let hosts = list(env, "RELAY_HOSTNAMES");
    if hosts.is_empty() {
        return Err(misconfigured("RELAY_HOSTNAMES", "is not set"));
    }
    if hosts
        .iter()
        .any(|host| tenantry_core::tenant::Hostname::parse(host).is_err())
    {
        return Err(misconfigured(
            "RELAY_HOSTNAMES",
            "holds an entry that is not a hostname",
        ));
    }
    Ok(hosts)
}

/// An optional mail address the platform wants reports at (`DMARC_REPORTS_TO`,
/// `TLS_REPORTS_TO`); set but no address is a misconfiguration.
pub fn report_address(env: &Env, name: &str) -> Result<Option<String>, Problem> {
    value(env, name)
        .map(|text| {
            tenantry_core::mail::Address::parse(&text)
                .map(|address| address.as_str().to_string())
                .map_err(|_| misconfigured(name, "is not a mail address"))
        })
        .transpose()
}

/// The names no tenant may claim (core `tenant::ReservedNames`): `PLATFORM_DOMAIN`, the
/// domain of `MAIL_FROM`, every relay hostname (`RELAY_HOSTNAMES`, comma-separated) and
/// the operator's list (`RESERVED_DOMAINS`, comma-separated). An entry that is no
/// hostname is a misconfiguration, never a hole.
pub fn reserved_names(env: &Env) -> Result<tenantry_core::tenant::ReservedNames, Problem> {
    use tenantry_core::tenant::reserved::Reason;
    let mut names = tenantry_core::tenant::ReservedNames::default();
    if let Some(domain) = platform_domain(env)? {
        names
            .add(domain.as_str(), Reason::PlatformDomain)
            .map_err(|_| misconfigured("PLATFORM_DOMAIN", "is not a hostname"))?;
    }
    // Closed: without the platform's own names there is nothing to protect them by.
    names
        .add(mail_from(env)?.domain(), Reason::PlatformMail)
        .map_err(|_| misconfigured("MAIL_FROM", "has no hostname as its domain"))?;
    for (var, reason) in [
        ("RELAY_HOSTNAMES", Reason::RelayHostname),
        ("RESERVED_DOMAINS", Reason::Operator),
    ] {
        for entry in list(env, var) {
            names
                .add(&entry, reason)
                .map_err(|_| misconfigured(var, "holds an entry that is not a hostname"))?;
        }
    }
    Ok(names)
}

/// How mail domains' proofs are checked: `DOMAIN_PROOF_GRACE_SECS` (7 days),
/// `DOMAIN_PROOF_RECHECK_SECS` (a day) and `DOMAIN_PROOF_PENDING_RECHECK_SECS` (a minute).
pub fn proof_settings(env: &Env) -> Result<tenantry_core::mail::proof::ProofSettings, Problem> {
    let defaults = tenantry_core::mail::proof::ProofSettings::default();
    let seconds = |name: &str, default: i64| match value(env, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| misconfigured(name, "must be a positive number of seconds")),
    };
    Ok(tenantry_core::mail::proof::ProofSettings {
        grace_secs: seconds("DOMAIN_PROOF_GRACE_SECS", defaults.grace_secs)?,
        recheck_secs: seconds("DOMAIN_PROOF_RECHECK_SECS", defaults.recheck_secs)?,
        pending_recheck_secs: seconds(
            "DOMAIN_PROOF_PENDING_RECHECK_SECS",
            defaults.pending_recheck_secs,
        )?,
    })
}
