//! Plans, their limits, per-tenant overrides and quota checks.
//!
//! A limit is a count or unlimited; stored and serialised as an integer where `-1`
//! means unlimited, as operators of the source systems write it.

use crate::problem::{ErrorCode, Problem};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The plans of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// One user, to try the product.
    Free,
    /// A small team.
    Starter,
    /// A growing organisation.
    Professional,
    /// No limits.
    Enterprise,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 4] = [
        Plan::Free,
        Plan::Starter,
        Plan::Professional,
        Plan::Enterprise,
    ];

    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Plan::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The catalog limits of the plan.
    pub const fn limits(self) -> Limits {
        use Limit::{Max, Unlimited};
        match self {
            Plan::Free => Limits {
                users: Max(1),
                storage_mb: Max(100),
                api_calls_per_month: Max(1_000),
                clients: Max(50),
                appointments_per_month: Max(100),
                mailboxes: Max(5),
                requests_per_minute: Max(20),
                mail_messages_per_day: Max(100),
                mail_messages_per_minute: Max(10),
                mail_recipients_per_message: Max(20),
            },
            Plan::Starter => Limits {
                users: Max(5),
                storage_mb: Max(1_024),
                api_calls_per_month: Max(10_000),
                clients: Max(500),
                appointments_per_month: Max(1_000),
                mailboxes: Max(50),
                requests_per_minute: Max(100),
                mail_messages_per_day: Max(1_000),
                mail_messages_per_minute: Max(30),
                mail_recipients_per_message: Max(50),
            },
            Plan::Professional => Limits {
                users: Max(25),
                storage_mb: Max(10_240),
                api_calls_per_month: Max(100_000),
                clients: Max(5_000),
                appointments_per_month: Max(10_000),
                mailboxes: Max(500),
                requests_per_minute: Max(500),
                mail_messages_per_day: Max(10_000),
                mail_messages_per_minute: Max(120),
                mail_recipients_per_message: Max(100),
            },
            Plan::Enterprise => Limits {
                users: Unlimited,
                storage_mb: Unlimited,
                api_calls_per_month: Unlimited,
                clients: Unlimited,
                appointments_per_month: Unlimited,
                mailboxes: Unlimited,
                requests_per_minute: Max(2_000),
                mail_messages_per_day: Unlimited,
                mail_messages_per_minute: Max(600),
                mail_recipients_per_message: Max(500),
            },
        }
    }
}

/// A bound: a maximum count or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many.
    Max(u64),
    /// No bound (`-1`).
    Unlimited,
}

impl Limit {
    /// The stored integer: the count, or `-1`.
    pub fn as_i64(self) -> i64 {
        match self {
            Limit::Max(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Limit::Unlimited => -1,
        }
    }

    /// From the stored integer; any negative number is unlimited.
    pub fn from_i64(n: i64) -> Self {
        u64::try_from(n).map_or(Limit::Unlimited, Limit::Max)
    }

    /// Whether `current + requested` fits; overflow never fits.
    pub fn allows(self, current: u64, requested: u64) -> bool {
        match self {
            Limit::Unlimited => true,
            Limit::Max(max) => current
                .checked_add(requested)
                .is_some_and(|total| total <= max),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_i64())
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Limit::from_i64)
    }
}

/// What a quota is counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    /// Members of the tenant.
    Users,
    /// Stored data in MB.
    StorageMb,
    /// Calls to `/v1/` this month.
    ApiCallsPerMonth,
    /// Client records.
    Clients,
    /// Appointments created this month.
    AppointmentsPerMonth,
    /// Mailboxes over all mail domains.
    Mailboxes,
    /// Requests per minute (the rate limit).
    RequestsPerMinute,
    /// Messages sent per UTC day through the relay, over all mailboxes.
    MailMessagesPerDay,
    /// Messages sent per minute through the relay, over all mailboxes.
    MailMessagesPerMinute,
    /// Recipients of one sent message.
    MailRecipientsPerMessage,
}

impl Quota {
    /// Every quota.
    pub const ALL: [Quota; 10] = [
        Quota::Users,
        Quota::StorageMb,
        Quota::ApiCallsPerMonth,
        Quota::Clients,
        Quota::AppointmentsPerMonth,
        Quota::Mailboxes,
        Quota::RequestsPerMinute,
        Quota::MailMessagesPerDay,
        Quota::MailMessagesPerMinute,
        Quota::MailRecipientsPerMessage,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Quota::Users => "users",
            Quota::StorageMb => "storage_mb",
            Quota::ApiCallsPerMonth => "api_calls_per_month",
            Quota::Clients => "clients",
            Quota::AppointmentsPerMonth => "appointments_per_month",
            Quota::Mailboxes => "mailboxes",
            Quota::RequestsPerMinute => "requests_per_minute",
            Quota::MailMessagesPerDay => "mail_messages_per_day",
            Quota::MailMessagesPerMinute => "mail_messages_per_minute",
            Quota::MailRecipientsPerMessage => "mail_recipients_per_message",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Quota::ALL.into_iter().find(|q| q.as_str() == text)
    }
}

/// The limits that apply to a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Members.
    pub users: Limit,
    /// Storage in MB.
    pub storage_mb: Limit,
    /// API calls per calendar month.
    pub api_calls_per_month: Limit,
    /// Client records.
    pub clients: Limit,
    /// Appointments per calendar month.
    pub appointments_per_month: Limit,
    /// Mailboxes.
    pub mailboxes: Limit,
    /// Requests per minute.
    pub requests_per_minute: Limit,
    /// Messages sent per UTC day.
    pub mail_messages_per_day: Limit,
    /// Messages sent per minute.
    pub mail_messages_per_minute: Limit,
    /// Recipients of one sent message.
    pub mail_recipients_per_message: Limit,
}

impl Limits {
    /// The limit of one quota.
    pub fn get(&self, quota: Quota) -> Limit {
        match quota {
            Quota::Users => self.users,
            Quota::StorageMb => self.storage_mb,
            Quota::ApiCallsPerMonth => self.api_calls_per_month,
            Quota::Clients => self.clients,
            Quota::AppointmentsPerMonth => self.appointments_per_month,
            Quota::Mailboxes => self.mailboxes,
            Quota::RequestsPerMinute => self.requests_per_minute,
            Quota::MailMessagesPerDay => self.mail_messages_per_day,
            Quota::MailMessagesPerMinute => self.mail_messages_per_minute,
            Quota::MailRecipientsPerMessage => self.mail_recipients_per_message,
        }
    }

    fn slot(&mut self, quota: Quota) -> &mut Limit {
        match quota {
            Quota::Users => &mut self.users,
            Quota::StorageMb => &mut self.storage_mb,
            Quota::ApiCallsPerMonth => &mut self.api_calls_per_month,
            Quota::Clients => &mut self.clients,
            Quota::AppointmentsPerMonth => &mut self.appointments_per_month,
            Quota::Mailboxes => &mut self.mailboxes,
            Quota::RequestsPerMinute => &mut self.requests_per_minute,
            Quota::MailMessagesPerDay => &mut self.mail_messages_per_day,
            Quota::MailMessagesPerMinute => &mut self.mail_messages_per_minute,
            Quota::MailRecipientsPerMessage => &mut self.mail_recipients_per_message,
        }
    }

    /// The plan's limits with the tenant's overrides applied (the last override of a
    /// quota wins).
    pub fn for_tenant(plan: Plan, overrides: &[(Quota, Limit)]) -> Self {
        let mut limits = plan.limits();
        for (quota, limit) in overrides {
            *limits.slot(*quota) = *limit;
        }
        limits
    }

    /// What the relay enforces on the tenant's outgoing mail.
    pub const fn sending(&self) -> crate::mail::SendingLimits {
        crate::mail::SendingLimits {
            messages_per_day: self.mail_messages_per_day,
            messages_per_minute: self.mail_messages_per_minute,
            recipients_per_message: self.mail_recipients_per_message,
        }
    }

    /// Whether `requested` more of `quota` fits on top of `current`.
    pub fn check(&self, quota: Quota, current: u64, requested: u64) -> Result<(), QuotaExceeded> {
        let limit = self.get(quota);
        if limit.allows(current, requested) {
            Ok(())
        } else {
            Err(QuotaExceeded {
                quota,
                current,
                limit,
                requested,
            })
        }
    }
}

/// A quota check that failed, with what the client needs to understand it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} quota exceeded: {current} used of {} and {requested} more requested", quota.as_str(), limit.as_i64())]
pub struct QuotaExceeded {
    /// Which quota.
    pub quota: Quota,
    /// What is used now.
    pub current: u64,
    /// The limit.
    pub limit: Limit,
    /// What was asked for.
    pub requested: u64,
}

/// The 403 `quota_exceeded` problem with `quota`, `current`, `limit` and `requested`.
impl From<QuotaExceeded> for Problem {
    fn from(error: QuotaExceeded) -> Self {
        use alloc::string::ToString;
        Problem::new(ErrorCode::QuotaExceeded, error.to_string())
            .with("quota", error.quota.as_str())
            .with("current", error.current)
            .with("limit", error.limit.as_i64())
            .with("requested", error.requested)
    }
}

/// Parses stored overrides, `[(name, value)]`; unknown names are reported, not dropped.
pub fn parse_overrides<'a>(
    rows: impl IntoIterator<Item = (&'a str, i64)>,
) -> Result<Vec<(Quota, Limit)>, String> {
    rows.into_iter()
        .map(|(name, value)| {
            Quota::parse(name)
                .map(|q| (q, Limit::from_i64(value)))
                .ok_or_else(|| alloc::format!("unknown quota {name:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn catalog_matches_the_published_plans() {
        let rows = [
            (Plan::Free, [1, 100, 1_000, 50, 100, 20]),
            (Plan::Starter, [5, 1_024, 10_000, 500, 1_000, 100]),
            (
                Plan::Professional,
                [25, 10_240, 100_000, 5_000, 10_000, 500],
            ),
            (Plan::Enterprise, [-1, -1, -1, -1, -1, 2_000]),
        ];
        for (plan, [users, storage, api, clients, appts, rpm]) in rows {
            let l = plan.limits();
            assert_eq!(
                [
                    l.users,
                    l.storage_mb,
                    l.api_calls_per_month,
                    l.clients,
                    l.appointments_per_month,
                    l.requests_per_minute
                ]
                .map(Limit::as_i64),
                [users, storage, api, clients, appts, rpm],
                "{plan:?}"
            );
            assert_eq!(Plan::parse(plan.as_str()), Some(plan));
        }
    }

    #[test]
    fn quota_check_reports_current_limit_requested() {
        let limits = Plan::Free.limits();
        assert_eq!(limits.check(Quota::Clients, 49, 1), Ok(()));
        let err = limits.check(Quota::Clients, 50, 1).unwrap_err();
        assert_eq!(
            (err.current, err.limit, err.requested),
            (50, Limit::Max(50), 1)
        );
        let problem = Problem::from(err).to_value(None);
        assert_eq!(problem["status"], 403);
        assert_eq!(problem["code"], "quota_exceeded");
        assert_eq!(problem["current"], 50);
        assert_eq!(problem["limit"], 50);
        assert_eq!(problem["requested"], 1);
        assert_eq!(
            Plan::Enterprise
                .limits()
                .check(Quota::Clients, u64::MAX, u64::MAX),
            Ok(())
        );
    }

    #[test]
    fn overrides_replace_plan_limits() {
        let overrides = parse_overrides([("clients", 75), ("users", -1)]).unwrap();
        let limits = Limits::for_tenant(Plan::Free, &overrides);
        assert_eq!(limits.clients, Limit::Max(75));
        assert_eq!(limits.users, Limit::Unlimited);
        assert_eq!(limits.storage_mb, Limit::Max(100));
        assert!(parse_overrides([("nope", 1)]).is_err());
    }

    #[test]
    fn limits_serialise_with_minus_one_for_unlimited() {
        let json = serde_json::to_value(Plan::Enterprise.limits()).unwrap();
        assert_eq!(json["users"], -1);
        assert_eq!(json["requests_per_minute"], 2000);
        let back: Limits = serde_json::from_value(json).unwrap();
        assert_eq!(back, Plan::Enterprise.limits());
    }

    proptest! {
        #[test]
        fn allows_never_overflows(max in any::<u64>(), current in any::<u64>(), requested in any::<u64>()) {
            let expected = (current as u128 + requested as u128) <= max as u128;
            prop_assert_eq!(Limit::Max(max).allows(current, requested), expected);
        }

        #[test]
        fn stored_form_round_trips(n in any::<i64>()) {
            let limit = Limit::from_i64(n);
            prop_assert_eq!(limit.as_i64(), if n < 0 { -1 } else { n });
        }
    }
}
