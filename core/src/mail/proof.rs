//! Mail domains are proven before they are hosted.
//!
//! A tenant's claim on a domain starts `pending` with a challenge: the TXT record
//! `_tenantry-challenge.{domain}` = `tenantry-verification={token}`, the token random per
//! claim. Until a lookup sees it the claim is hosted for nothing (the relays never receive
//! it). Several tenants may hold pending claims on one name; the first seen proving it wins
//! and the others are released. A hosted claim is looked up again on a schedule: a record
//! gone missing starts a grace period, after which an active domain lapses (mail deferred,
//! never delivered elsewhere) until the record is back. A superadmin may vouch for a claim
//! instead of DNS; a vouched claim is not looked up again.
//!
//! The shells only look records up and store what [`settle`] and [`vouch`] decide.

use super::directory::DomainStatus;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The label in front of the domain where the challenge is published.
pub const CHALLENGE_LABEL: &str = "_tenantry-challenge";
/// What the TXT value starts with.
pub const VALUE_PREFIX: &str = "tenantry-verification=";

/// A claim's random token: 128 bits, lowercase hex.
pub fn new_token(random: [u8; 16]) -> String {
    crate::encoding::hex_encode(&random)
}

/// The DNS record that proves a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Challenge {
    /// Always `TXT`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// `_tenantry-challenge.{domain}`.
    pub name: String,
    /// `tenantry-verification={token}`.
    pub value: String,
    /// The record as a zone-file line, ready to paste.
    pub record: String,
}

impl Challenge {
    /// The challenge of `domain`'s claim with `token`.
    pub fn new(domain: &str, token: &str) -> Challenge {
        let name = format!("{CHALLENGE_LABEL}.{domain}");
        let value = format!("{VALUE_PREFIX}{token}");
        Challenge {
            record_type: "TXT",
            record: format!("{name}. 3600 IN TXT \"{value}\""),
            name,
            value,
        }
    }

    /// Whether a looked-up TXT value is this challenge's.
    pub fn seen_in(&self, values: &[String]) -> bool {
        values.iter().any(|v| v.trim() == self.value)
    }
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimState {
    /// Not proven: hosted for nothing.
    Pending,
    /// Proven or vouched for: hosted.
    Active,
    /// Hosted, refusing mail (the platform superadmin).
    Suspended,
    /// Was proven, the record has been missing beyond the grace period: mail is deferred.
    Lapsed,
}

impl ClaimState {
    /// Whether the claim holds the name (every state but pending): no other tenant may
    /// claim it.
    pub const fn holds_the_name(self) -> bool {
        !matches!(self, ClaimState::Pending)
    }

    /// How relays see the domain; `None`: they never hear of it.
    pub const fn directory_status(self) -> Option<DomainStatus> {
        match self {
            ClaimState::Pending => None,
            ClaimState::Active => Some(DomainStatus::Active),
            ClaimState::Suspended => Some(DomainStatus::Suspended),
            ClaimState::Lapsed => Some(DomainStatus::Lapsed),
        }
    }

    /// The stored and serialised name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClaimState::Pending => "pending",
            ClaimState::Active => "active",
            ClaimState::Suspended => "suspended",
            ClaimState::Lapsed => "lapsed",
        }
    }
}

/// One tenant's claim on a name, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claiming tenant.
    pub tenant_id: String,
    /// Where it stands.
    pub state: ClaimState,
    /// Its challenge token.
    pub token: String,
    /// When it was made (earlier claims win a tie).
    pub created_at: i64,
    /// A superadmin vouched for it instead of DNS.
    pub vouched: bool,
    /// Since when a hosted claim's record has been missing.
    pub missing_since: Option<i64>,
}

/// What a lookup of the challenge name found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The TXT values at the name (empty: no such name, or no TXT record).
    Values(Vec<String>),
    /// A temporary failure (timeout, SERVFAIL): proves nothing and lapses nothing.
    Failed,
}

/// How often and how patiently claims are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofSettings {
    /// How long a hosted domain's record may be missing before it lapses (7 days).
    pub grace_secs: i64,
    /// How often a hosted domain is looked up again (daily).
    pub recheck_secs: i64,
    /// How often a pending claim is looked up (every minute).
    pub pending_recheck_secs: i64,
}

impl Default for ProofSettings {
    fn default() -> Self {
        ProofSettings {
            grace_secs: 7 * 86_400,
            recheck_secs: 86_400,
            pending_recheck_secs: 60,
        }
    }
}

impl ProofSettings {
    /// Whether a claim is due for a lookup at `now`, last looked up at `checked_at`
    /// (`None`: never, or a check was asked for). Vouched hosted claims never are.
    pub fn is_due(
        &self,
        state: ClaimState,
        vouched: bool,
        checked_at: Option<i64>,
        now: i64,
    ) -> bool {
        let every = match state {
            ClaimState::Pending => self.pending_recheck_secs,
            _ if vouched => return false,
            _ => self.recheck_secs,
        };
        checked_at.is_none_or(|at| now.saturating_sub(at) >= every)
    }

    /// The last-checked times at or before which pending and hosted claims are due at
    /// `now` (for a query that selects them; [`ProofSettings::is_due`] is the rule).
    pub fn due_thresholds(&self, now: i64) -> (i64, i64) {
        (
            now.saturating_sub(self.pending_recheck_secs),
            now.saturating_sub(self.recheck_secs),
        )
    }

    /// When a record missing since `since` makes its domain lapse.
    pub fn lapses_at(&self, since: i64) -> i64 {
        since.saturating_add(self.grace_secs)
    }
}

/// What becomes of one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Pending → active: this claim proved the name.
    Proven,
    /// A pending claim is released: another tenant's claim holds the name.
    Released,
    /// Pending, the record is not there (yet).
    Unproven,
    /// Hosted and the record is there.
    Confirmed,
    /// Lapsed → active: the record is back.
    Restored,
    /// Hosted, the record is missing: first seen missing now, lapsing at `lapses_at`.
    Missing {
        /// When it was first seen missing.
        since: i64,
        /// When the domain lapses unless the record is back.
        lapses_at: i64,
    },
    /// Hosted, still missing, within the grace period or already lapsed.
    StillMissing {
        /// When it was first seen missing.
        since: i64,
    },
    /// Active → lapsed: missing beyond the grace period.
    Lapsed {
        /// When it was first seen missing.
        since: i64,
    },
}

/// One claim's change: the tenant and what happens to its claim.
pub type Decision = (String, Change);

/// What a lookup of the name means for every claim on it.
pub fn settle(
    claims: &[Claim],
    domain: &str,
    lookup: &Lookup,
    now: i64,
    settings: &ProofSettings,
) -> Vec<Decision> {
    let Lookup::Values(values) = lookup else {
        return Vec::new();
    };
    let seen = |claim: &Claim| Challenge::new(domain, &claim.token).seen_in(values);
    if let Some(holder) = claims.iter().find(|c| c.state.holds_the_name()) {
        let change = if holder.vouched {
            Change::Confirmed
        } else if seen(holder) {
            match holder.state {
                ClaimState::Lapsed => Change::Restored,
                _ => Change::Confirmed,
            }
        } else {
            let since = holder.missing_since.unwrap_or(now);
            let lapses_at = settings.lapses_at(since);
            if holder.state == ClaimState::Active && now >= lapses_at {
                Change::Lapsed { since }
            } else if holder.missing_since.is_none() {
                Change::Missing { since, lapses_at }
            } else {
                Change::StillMissing { since }
            }
        };
        return decisions(claims, holder, change);
    }
    let winner = claims
        .iter()
        .filter(|c| c.state == ClaimState::Pending && seen(c))
        .min_by(|a, b| (a.created_at, &a.tenant_id).cmp(&(b.created_at, &b.tenant_id)));
    match winner {
        Some(winner) => decisions(claims, winner, Change::Proven),
        None => claims
            .iter()
            .map(|c| (c.tenant_id.clone(), Change::Unproven))
            .collect(),
    }
}

/// A superadmin vouches for `tenant_id`'s claim: it becomes active without DNS and the
/// other pending claims are released. Refused when another tenant holds the name.
pub fn vouch(claims: &[Claim], tenant_id: &str) -> Result<Vec<Decision>, ClaimError> {
    if claims
        .iter()
        .any(|c| c.state.holds_the_name() && c.tenant_id != tenant_id)
    {
        return Err(ClaimError::Taken);
    }
    let claim = claims
        .iter()
        .find(|c| c.tenant_id == tenant_id)
        .ok_or(ClaimError::NoClaim)?;
    let change = match claim.state {
        ClaimState::Pending | ClaimState::Lapsed => Change::Proven,
        ClaimState::Active | ClaimState::Suspended => Change::Confirmed,
    };
    Ok(decisions(claims, claim, change))
}

fn decisions(claims: &[Claim], holder: &Claim, change: Change) -> Vec<Decision> {
    let mut out = alloc::vec![(holder.tenant_id.clone(), change)];
    out.extend(
        claims
            .iter()
            .filter(|c| c.tenant_id != holder.tenant_id)
            .map(|c| (c.tenant_id.clone(), Change::Released)),
    );
    out
}

/// Whether `tenant_id` may claim a name others already claim (`claims`: the live claims on
/// it). Pending claims of other tenants do not stand in the way; a held name does.
pub fn may_claim(claims: &[Claim], tenant_id: &str) -> Result<(), ClaimError> {
    if claims.iter().any(|c| c.tenant_id == tenant_id) {
        return Err(ClaimError::AlreadyClaimed);
    }
    if claims.iter().any(|c| c.state.holds_the_name()) {
        return Err(ClaimError::Taken);
    }
    Ok(())
}

/// Why a claim or a vouch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The tenant already has this domain.
    #[error("the domain is already one of this tenant's")]
    AlreadyClaimed,
    /// Another tenant proved the name (or was vouched for): a later claim cannot take it.
    #[error("the domain is hosted by another tenant")]
    Taken,
    /// Vouching for a claim that does not exist.
    #[error("this tenant has no claim on the domain")]
    NoClaim,
}

impl ClaimError {
    /// The problem's code.
    pub const fn code(&self) -> crate::ErrorCode {
        match self {
            ClaimError::AlreadyClaimed | ClaimError::Taken => crate::ErrorCode::Conflict,
            ClaimError::NoClaim => crate::ErrorCode::NotFound,
        }
    }
}

crate::problem::problem_from!(ClaimError);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const DOMAIN: &str = "partner.example";
    const DAY: i64 = 86_400;

    fn claim(tenant: &str, state: ClaimState, created_at: i64) -> Claim {
        Claim {
            tenant_id: tenant.into(),
            state,
            token: format!("token-{tenant}"),
            created_at,
            vouched: false,
            missing_since: None,
        }
    }

    fn seen(tenants: &[&str]) -> Lookup {
        Lookup::Values(
            tenants
                .iter()
                .map(|t| Challenge::new(DOMAIN, &format!("token-{t}")).value)
                .chain(["v=spf1 -all".into()])
                .collect(),
        )
    }

    fn settle_now(claims: &[Claim], lookup: &Lookup, now: i64) -> Vec<Decision> {
        settle(claims, DOMAIN, lookup, now, &ProofSettings::default())
    }

    #[test]
    fn the_challenge_is_a_txt_record_under_the_domain() {
        let token = new_token([0xab; 16]);
        assert_eq!(token.len(), 32);
        let c = Challenge::new(DOMAIN, &token);
        assert_eq!(c.name, "_tenantry-challenge.partner.example");
        assert_eq!(c.value, alloc::format!("tenantry-verification={token}"));
        assert_eq!(
            c.record,
            alloc::format!(
                "_tenantry-challenge.partner.example. 3600 IN TXT \"tenantry-verification={token}\""
            )
        );
        assert!(c.seen_in(&[alloc::format!(" tenantry-verification={token} ")]));
        assert!(!c.seen_in(&[alloc::format!("tenantry-verification={token}x")]));
        assert!(!c.seen_in(&[]));
    }

    #[test]
    fn a_contest_is_won_by_proof_and_the_earliest_proof_wins_a_tie() {
        let claims = [
            claim("t_squatter", ClaimState::Pending, 10),
            claim("t_owner", ClaimState::Pending, 20),
            claim("t_late", ClaimState::Pending, 30),
        ];
        let table: &[(Lookup, Vec<(&str, Change)>)] = &[
            (
                seen(&["t_owner"]),
                vec![
                    ("t_owner", Change::Proven),
                    ("t_squatter", Change::Released),
                    ("t_late", Change::Released),
                ],
            ),
            (
                seen(&["t_late", "t_owner"]),
                vec![
                    ("t_owner", Change::Proven),
                    ("t_squatter", Change::Released),
                    ("t_late", Change::Released),
                ],
            ),
            (
                seen(&[]),
                vec![
                    ("t_squatter", Change::Unproven),
                    ("t_owner", Change::Unproven),
                    ("t_late", Change::Unproven),
                ],
            ),
            (Lookup::Failed, vec![]),
        ];
        for (lookup, expected) in table {
            let expected: Vec<Decision> = expected
                .iter()
                .map(|(t, c)| ((*t).into(), c.clone()))
                .collect();
            assert_eq!(settle_now(&claims, lookup, 100), expected, "{lookup:?}");
        }
    }

    #[test]
    fn a_held_name_is_never_taken_by_a_later_claim() {
        let holder = claim("t_owner", ClaimState::Active, 10);
        let pending = claim("t_squatter", ClaimState::Pending, 20);
        // Even when the squatter's token is published too, the holder keeps it.
        let decisions = settle_now(
            &[holder.clone(), pending.clone()],
            &seen(&["t_owner", "t_squatter"]),
            100,
        );
        assert_eq!(
            decisions,
            vec![
                ("t_owner".into(), Change::Confirmed),
                ("t_squatter".into(), Change::Released)
            ]
        );
        assert_eq!(
            may_claim(core::slice::from_ref(&holder), "t_squatter"),
            Err(ClaimError::Taken)
        );
        assert_eq!(
            may_claim(core::slice::from_ref(&holder), "t_owner"),
            Err(ClaimError::AlreadyClaimed)
        );
        assert_eq!(
            may_claim(core::slice::from_ref(&pending), "t_owner"),
            Ok(())
        );
        let lapsed = Claim {
            state: ClaimState::Lapsed,
            ..holder.clone()
        };
        assert_eq!(may_claim(&[lapsed], "t_squatter"), Err(ClaimError::Taken));
        assert_eq!(
            vouch(&[holder, pending.clone()], "t_squatter"),
            Err(ClaimError::Taken)
        );
        assert_eq!(vouch(&[pending], "t_other"), Err(ClaimError::NoClaim));
    }

    #[test]
    fn a_missing_record_warns_then_lapses_after_the_grace_period_and_comes_back() {
        let settings = ProofSettings::default();
        let active = claim("t_owner", ClaimState::Active, 0);
        let at = |claim: &Claim, lookup: &Lookup, now: i64| {
            settle(core::slice::from_ref(claim), DOMAIN, lookup, now, &settings)[0]
                .1
                .clone()
        };
        assert_eq!(at(&active, &seen(&["t_owner"]), DAY), Change::Confirmed);
        assert_eq!(
            at(&active, &seen(&[]), DAY),
            Change::Missing {
                since: DAY,
                lapses_at: 8 * DAY
            }
        );
        let missing = Claim {
            missing_since: Some(DAY),
            ..active.clone()
        };
        assert_eq!(
            at(&missing, &seen(&[]), 8 * DAY - 1),
            Change::StillMissing { since: DAY }
        );
        assert_eq!(
            at(&missing, &seen(&[]), 8 * DAY),
            Change::Lapsed { since: DAY }
        );
        // A DNS failure never lapses a domain.
        assert!(
            settle(
                core::slice::from_ref(&missing),
                DOMAIN,
                &Lookup::Failed,
                30 * DAY,
                &settings
            )
            .is_empty()
        );
        assert_eq!(
            at(&missing, &seen(&["t_owner"]), 8 * DAY - 1),
            Change::Confirmed
        );
        let lapsed = Claim {
            state: ClaimState::Lapsed,
            ..missing.clone()
        };
        assert_eq!(
            at(&lapsed, &seen(&[]), 9 * DAY),
            Change::StillMissing { since: DAY }
        );
        assert_eq!(at(&lapsed, &seen(&["t_owner"]), 9 * DAY), Change::Restored);
        // A suspended domain stays suspended: the superadmin decides its status.
        let suspended = Claim {
            state: ClaimState::Suspended,
            ..missing
        };
        assert_eq!(
            at(&suspended, &seen(&[]), 30 * DAY),
            Change::StillMissing { since: DAY }
        );
        // A vouched domain is the operator's word, not DNS's.
        let vouched = Claim {
            vouched: true,
            ..active
        };
        assert_eq!(at(&vouched, &seen(&[]), 30 * DAY), Change::Confirmed);
    }

    #[test]
    fn vouching_activates_and_releases_the_other_pending_claims() {
        let claims = [
            claim("t_a", ClaimState::Pending, 1),
            claim("t_b", ClaimState::Pending, 2),
        ];
        assert_eq!(
            vouch(&claims, "t_b"),
            Ok(vec![
                ("t_b".into(), Change::Proven),
                ("t_a".into(), Change::Released)
            ])
        );
        let lapsed = [claim("t_a", ClaimState::Lapsed, 1)];
        assert_eq!(
            vouch(&lapsed, "t_a"),
            Ok(vec![("t_a".into(), Change::Proven)])
        );
    }

    #[test]
    fn what_is_due_for_a_lookup() {
        let s = ProofSettings::default();
        let table: &[(ClaimState, bool, Option<i64>, i64, bool)] = &[
            (ClaimState::Pending, false, None, 0, true),
            (ClaimState::Pending, false, Some(100), 159, false),
            (ClaimState::Pending, false, Some(100), 160, true),
            (ClaimState::Active, false, Some(0), DAY - 1, false),
            (ClaimState::Active, false, Some(0), DAY, true),
            (ClaimState::Lapsed, false, Some(0), DAY, true),
            (ClaimState::Active, true, None, DAY, false),
            (ClaimState::Pending, true, Some(0), DAY, true),
        ];
        for (state, vouched, checked, now, due) in table {
            assert_eq!(
                s.is_due(*state, *vouched, *checked, *now),
                *due,
                "{state:?} {vouched} {checked:?} {now}"
            );
        }
        assert_eq!(s.due_thresholds(DAY), (DAY - 60, 0));
    }

    #[test]
    fn only_claims_that_hold_the_name_reach_relays() {
        assert_eq!(ClaimState::Pending.directory_status(), None);
        assert_eq!(
            ClaimState::Lapsed.directory_status(),
            Some(DomainStatus::Lapsed)
        );
        assert_eq!(
            ClaimState::Suspended.directory_status(),
            Some(DomainStatus::Suspended)
        );
        assert!(!ClaimState::Pending.holds_the_name());
    }
}
