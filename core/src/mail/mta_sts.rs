//! MTA-STS (RFC 8461) for the relay's outbound mail: the policy a destination publishes
//! at `https://mta-sts.{domain}/.well-known/mta-sts.txt`, which MX hosts it names, how
//! long a fetched policy stands, and what delivery must do under it.

use alloc::string::String;
use alloc::vec::Vec;

/// The longest `max_age` RFC 8461 allows (about a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// The largest policy file the relay reads.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// What a policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to a listed MX, over TLS with a certificate valid for its name.
    Enforce,
    /// Deliver as before; report what enforcing would have refused.
    Testing,
    /// No policy (a domain withdrawing one).
    None,
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its mode.
    pub mode: Mode,
    /// MX patterns: names, or `*.` and a name for one more label.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

/// Why a policy file is refused (the domain is then treated as having none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Over [`MAX_POLICY_BYTES`], or not UTF-8.
    #[error("the policy is not a text of at most 64 KiB")]
    NotText,
    /// `version` is missing or not `STSv1`.
    #[error("the policy's version is not STSv1")]
    Version,
    /// `mode` is missing or unknown.
    #[error("the policy's mode is not enforce, testing or none")]
    Mode,
    /// `max_age` is missing, not a number or over [`MAX_AGE_LIMIT`].
    #[error("the policy's max_age is not a number of seconds up to 31557600")]
    MaxAge,
    /// An enforcing or testing policy without an `mx` line.
    #[error("the policy names no MX host")]
    NoMx,
}

impl Policy {
    /// Parses the policy file (RFC 8461 section 3.2: `key: value` lines, CRLF or LF;
    /// unknown keys are ignored).
    pub fn parse(body: &[u8]) -> Result<Policy, PolicyError> {
        if body.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::NotText);
        }
        let text = core::str::from_utf8(body).map_err(|_| PolicyError::NotText)?;
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value == "STSv1"),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        _ => return Err(PolicyError::Mode),
                    })
                }
                "max_age" => {
                    max_age = Some(
                        value
                            .parse::<u64>()
                            .ok()
                            .filter(|age| *age <= MAX_AGE_LIMIT && value.len() <= 10)
                            .ok_or(PolicyError::MaxAge)?,
                    )
                }
                "mx" => mx.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        if version != Some(true) {
            return Err(PolicyError::Version);
        }
        let mode = mode.ok_or(PolicyError::Mode)?;
        let max_age = max_age.ok_or(PolicyError::MaxAge)?;
        if mode != Mode::None && mx.is_empty() {
            return Err(PolicyError::NoMx);
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// Whether `host` (an MX name, any case, with or without the final dot) is listed: an
    /// exact name, or `*.name` for exactly one more label on the left.
    pub fn allows_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => *pattern == host,
            })
    }
}

/// A policy as fetched, for the relay's cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The `id=` of the `_mta-sts` TXT record it was fetched for.
    pub id: String,
    /// The policy.
    pub policy: Policy,
    /// When it was fetched, in seconds.
    pub fetched_at: i64,
}

/// What the relay should do about a destination's policy now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Use the cached policy.
    UseCached,
    /// Fetch it (and keep the cached one if the fetch fails while it is still valid).
    Fetch,
    /// The domain publishes none now and nothing valid is cached.
    NoPolicy,
}

impl Fetched {
    /// Whether it may still be used at `now`.
    pub fn valid(&self, now: i64) -> bool {
        now < self.fetched_at.saturating_add(self.policy.max_age as i64)
    }
}

/// What to do with the cached policy given the TXT record's `id` now (`None`: no record,
/// or the lookup failed). RFC 8461 section 5.1: a changed id means a new policy; a
/// missing record does not withdraw a policy that is still valid.
pub fn refresh(cached: Option<&Fetched>, published_id: Option<&str>, now: i64) -> Refresh {
    match (cached, published_id) {
        (Some(cached), Some(id)) if cached.id == id && cached.valid(now) => Refresh::UseCached,
        (_, Some(_)) => Refresh::Fetch,
        (Some(cached), None) if cached.valid(now) => Refresh::UseCached,
        (_, None) => Refresh::NoPolicy,
    }
}

/// How delivery to the MX hosts goes under a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The hosts that may be tried, in MX order.
    pub hosts: Vec<String>,
    /// TLS with a certificate valid for the host's name is required: no clear fallback.
    pub verified_tls: bool,
    /// Hosts a `testing` policy would have refused (for the report; delivery goes on).
    pub would_refuse: Vec<String>,
}

/// The hosts and TLS rule for `mx_hosts` under `policy` (`None` or mode `none`: as
/// before, opportunistic TLS to every host).
pub fn delivery(policy: Option<&Policy>, mx_hosts: &[String]) -> Delivery {
    let everything = || Delivery {
        hosts: mx_hosts.to_vec(),
        verified_tls: false,
        would_refuse: Vec::new(),
    };
    let Some(policy) = policy else {
        return everything();
    };
    let (allowed, refused): (Vec<String>, Vec<String>) = mx_hosts
        .iter()
        .cloned()
        .partition(|host| policy.allows_mx(host));
    match policy.mode {
        Mode::None => everything(),
        Mode::Testing => Delivery {
            would_refuse: refused,
            ..everything()
        },
        Mode::Enforce => Delivery {
            hosts: allowed,
            verified_tls: true,
            would_refuse: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests;
