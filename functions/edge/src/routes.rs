//! The edge's one routing table: every operation the gateway serves, by method and
//! path pattern, with who may call it and which Worker runs it. The gateway answers
//! unknown paths (404) and known paths with another method (405 with `Allow`) from this
//! table before it authenticates or touches D1 or a Durable Object; the Workers behind
//! it dispatch on the same [`Route`] values, so a route exists in one place.

use std::borrow::Cow;

use crate::Outcome;
use tenantry_core::{ErrorCode, Problem};
use worker::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (health check; webhooks are verified by their senders' signatures).
    Public,
    /// A tenant's member or API key, once the tenant is resolved and the request counted.
    Tenant,
    /// A platform superadmin.
    Superadmin,
    /// A platform relay key.
    Relay,
    /// A signed-in person: a platform JWT, whatever its tenant (the account's own routes).
    User,
}

/// The Worker that runs a route, by its service binding on the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The gateway itself.
    Gateway,
    /// `ADMIN`: the platform admin API.
    Admin,
    /// `RELAY`: the mail relay's API.
    Relay,
    /// `PROOFS`: the domain proofs relays look up.
    Proofs,
    /// `STRIPE`: Stripe's webhook.
    Stripe,
    /// `WHATSAPP`: Meta's webhook.
    WhatsApp,
    /// `CRM`: the EspoCRM proxy.
    Crm,
    /// `PEOPLE`: members, roles, settings, API keys, audit.
    People,
    /// `RECORDS`: clients, appointments, conversations, usage, integrations, export.
    Records,
    /// `MAIL`: mail domains, their DKIM keys and mail usage.
    Mail,
    /// `MAILBOXES`: a mail domain's mailboxes and their app passwords.
    Mailboxes,
    /// `CERTIFICATES`: a mail domain's TLS certificate.
    Certificates,
    /// `AUTH`: sign-in, sessions and tenant switching.
    Auth,
    /// `ACCOUNTS`: sign-up, email verification, password resets, invitations accepted.
    Accounts,
    /// `FACTORS`: second factors, their enrolment and the sign-ins they complete.
    Factors,
}

impl Service {
    /// Whether the gateway reads the request's body (at most `http::MAX_BODY_BYTES`,
    /// the JSON APIs' cap) before handing it over, so that a request the Worker refuses
    /// unread never leaves a half-read body on the client's connection. The webhooks and
    /// the CRM proxy stream theirs.
    pub const fn buffers_body(self) -> bool {
        matches!(
            self,
            Service::People
                | Service::Records
                | Service::Mail
                | Service::Mailboxes
                | Service::Certificates
                | Service::Admin
                | Service::Relay
                | Service::Proofs
                | Service::Auth
                | Service::Accounts
                | Service::Factors
        )
    }

    /// The gateway's service binding for this Worker.
    pub const fn binding(self) -> &'static str {
        match self {
            Service::Gateway => "",
            Service::Admin => "ADMIN",
            Service::Relay => "RELAY",
            Service::Proofs => "PROOFS",
            Service::Stripe => "STRIPE",
            Service::WhatsApp => "WHATSAPP",
            Service::Crm => "CRM",
            Service::People => "PEOPLE",
            Service::Records => "RECORDS",
            Service::Mail => "MAIL",
            Service::Mailboxes => "MAILBOXES",
            Service::Certificates => "CERTIFICATES",
            Service::Auth => "AUTH",
            Service::Accounts => "ACCOUNTS",
            Service::Factors => "FACTORS",
        }
    }
}

/// One operation: a method on a path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    WhatsAppWebhookVerify,
    WhatsAppWebhook,
    StripeWebhook,
    Crm,
    GetTenant,
    GetUsage,
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey,
    ListMembers,
    AddMember,
    ChangeMember,
    RemoveMember,
    ListRoles,
    CreateRole,
    GetSettings,
    UpdateSettings,
    ListAudit,
    ListClients,
    CreateClient,
    GetClient,
    UpdateClient,
    DeleteClient,
    ListAppointments,
    CreateAppointment,
    UpdateAppointment,
    ListIntegrations,
    PutIntegration,
    ListConversations,
    ListMessages,
    Export,
    ListMailDomains,
    CreateMailDomain,
    UpdateMailDomain,
    VerifyMailDomain,
    ListMailboxes,
    CreateMailbox,
    DeleteMailbox,
    ListAppPasswords,
    CreateAppPassword,
    RevokeAppPassword,
    ListDkimKeys,
    MailDomainRecords,
    CreateDkimKey,
    GetMailCertificate,
    PutMailCertificate,
    DeleteMailCertificate,
    MailDomainUsage,
    RelayDirectory,
    RelayUsage,
    AdminListTenants,
    AdminCreateTenant,
    AdminGetTenant,
    AdminUpdateTenant,
    AdminDeleteTenant,
    AdminSuspendTenant,
    AdminActivateTenant,
    AdminAddHostname,
    AdminRemoveHostname,
    AdminStats,
    AdminListRelayKeys,
    AdminListRelays,
    AdminCreateRelayKey,
    AdminRevokeRelayKey,
    AdminReseal,
    AdminSuspendUser,
    AdminActivateUser,
    AuthLogin,
    AuthRefresh,
    AuthLogout,
    AuthSignup,
    AuthVerifyEmail,
    AuthResendVerification,
    AuthForgotPassword,
    AuthResetPassword,
    AuthAcceptInvitation,
    AuthShowInvitation,
    AuthMe,
    AuthListSessions,
    AuthEndSession,
    AuthSwitch,
    AuthPasswordBenchmark,
    AuthMfaStatus,
    AuthTotpEnrol,
    AuthTotpConfirm,
    AuthTotpDisable,
    AuthRecoveryCodes,
    AuthMfaVerify,
    ListInvitations,
    CreateInvitation,
    RevokeInvitation,
    ResendInvitation,
    RelayOutbox,
    RelayOutboxAck,
    RelayProofChecks,
    RelayProofResults,
    RelayHealth,
}

/// A row of the table. In a pattern, `{}` is one non-empty segment and a final `**`
/// is the rest of the path (at least one segment).
struct Entry {
    method: Method,
    pattern: &'static str,
    route: Route,
}

const fn entry(method: Method, pattern: &'static str, route: Route) -> Entry {
    Entry {
        method,
        pattern,
        route,
    }
}

use Method::{Delete, Get, Patch, Post, Put};
use Route::*;

static TABLE: &[Entry] = &[
    entry(Get, "/healthz", Healthz),
    entry(Get, "/webhook/whatsapp/{}", WhatsAppWebhookVerify),
    entry(Post, "/webhook/whatsapp/{}", WhatsAppWebhook),
    entry(Post, "/webhook/stripe", StripeWebhook),
    entry(Get, "/v1/crm/**", Crm),
    entry(Post, "/v1/crm/**", Crm),
    entry(Put, "/v1/crm/**", Crm),
    entry(Patch, "/v1/crm/**", Crm),
    entry(Delete, "/v1/crm/**", Crm),
    entry(Get, "/v1/tenant", GetTenant),
    entry(Get, "/v1/usage", GetUsage),
    entry(Get, "/v1/api-keys", ListApiKeys),
    entry(Post, "/v1/api-keys", CreateApiKey),
    entry(Delete, "/v1/api-keys/{}", RevokeApiKey),
    entry(Get, "/v1/members", ListMembers),
    entry(Post, "/v1/members", AddMember),
    entry(Patch, "/v1/members/{}", ChangeMember),
    entry(Delete, "/v1/members/{}", RemoveMember),
    entry(Get, "/v1/roles", ListRoles),
    entry(Post, "/v1/roles", CreateRole),
    entry(Get, "/v1/settings", GetSettings),
    entry(Patch, "/v1/settings", UpdateSettings),
    entry(Get, "/v1/audit", ListAudit),
    entry(Get, "/v1/clients", ListClients),
    entry(Post, "/v1/clients", CreateClient),
    entry(Get, "/v1/clients/{}", GetClient),
    entry(Patch, "/v1/clients/{}", UpdateClient),
    entry(Delete, "/v1/clients/{}", DeleteClient),
    entry(Get, "/v1/appointments", ListAppointments),
    entry(Post, "/v1/appointments", CreateAppointment),
    entry(Patch, "/v1/appointments/{}", UpdateAppointment),
    entry(Get, "/v1/integrations", ListIntegrations),
    entry(Put, "/v1/integrations/{}", PutIntegration),
    entry(Get, "/v1/conversations", ListConversations),
    entry(Get, "/v1/conversations/{}/messages", ListMessages),
    entry(Get, "/v1/export", Export),
    entry(Get, "/v1/mail/domains", ListMailDomains),
    entry(Post, "/v1/mail/domains", CreateMailDomain),
    entry(Patch, "/v1/mail/domains/{}", UpdateMailDomain),
    entry(Post, "/v1/mail/domains/{}/verify", VerifyMailDomain),
    entry(Get, "/v1/mail/domains/{}/mailboxes", ListMailboxes),
    entry(Post, "/v1/mail/domains/{}/mailboxes", CreateMailbox),
    entry(Delete, "/v1/mail/domains/{}/mailboxes/{}", DeleteMailbox),
    entry(Get, "/v1/mail/domains/{}/dkim", ListDkimKeys),
    entry(Get, "/v1/mail/domains/{}/records", MailDomainRecords),
    entry(Post, "/v1/mail/domains/{}/dkim", CreateDkimKey),
    entry(Get, "/v1/mail/domains/{}/certificate", GetMailCertificate),
    entry(Put, "/v1/mail/domains/{}/certificate", PutMailCertificate),
    entry(
        Delete,
        "/v1/mail/domains/{}/certificate",
        DeleteMailCertificate,
    ),
    entry(
        Get,
        "/v1/mail/domains/{}/mailboxes/{}/passwords",
        ListAppPasswords,
    ),
    entry(
        Post,
        "/v1/mail/domains/{}/mailboxes/{}/passwords",
        CreateAppPassword,
    ),
    entry(
        Delete,
        "/v1/mail/domains/{}/mailboxes/{}/passwords/{}",
        RevokeAppPassword,
    ),
    entry(Get, "/v1/mail/domains/{}/usage", MailDomainUsage),
    entry(Get, "/v1/relay/directory", RelayDirectory),
    entry(Post, "/v1/relay/usage", RelayUsage),
    entry(Get, "/v1/admin/tenants", AdminListTenants),
    entry(Post, "/v1/admin/tenants", AdminCreateTenant),
    entry(Get, "/v1/admin/tenants/{}", AdminGetTenant),
    entry(Patch, "/v1/admin/tenants/{}", AdminUpdateTenant),
    entry(Delete, "/v1/admin/tenants/{}", AdminDeleteTenant),
    entry(Post, "/v1/admin/tenants/{}/suspend", AdminSuspendTenant),
    entry(Post, "/v1/admin/tenants/{}/activate", AdminActivateTenant),
    entry(Post, "/v1/admin/tenants/{}/hostnames", AdminAddHostname),
    entry(
        Delete,
        "/v1/admin/tenants/{}/hostnames/{}",
        AdminRemoveHostname,
    ),
    entry(Get, "/v1/admin/stats", AdminStats),
    entry(Get, "/v1/admin/relay-keys", AdminListRelayKeys),
    entry(Get, "/v1/admin/relays", AdminListRelays),
    entry(Post, "/v1/admin/relay-keys", AdminCreateRelayKey),
    entry(Delete, "/v1/admin/relay-keys/{}", AdminRevokeRelayKey),
    entry(Post, "/v1/admin/reseal", AdminReseal),
    entry(Post, "/v1/admin/users/{}/suspend", AdminSuspendUser),
    entry(Post, "/v1/admin/users/{}/activate", AdminActivateUser),
    entry(Post, "/v1/auth/login", AuthLogin),
    entry(Post, "/v1/auth/refresh", AuthRefresh),
    entry(Post, "/v1/auth/logout", AuthLogout),
    entry(Post, "/v1/auth/signup", AuthSignup),
    entry(Post, "/v1/auth/verify-email", AuthVerifyEmail),
    entry(Post, "/v1/auth/resend-verification", AuthResendVerification),
    entry(Post, "/v1/auth/forgot-password", AuthForgotPassword),
    entry(Post, "/v1/auth/reset-password", AuthResetPassword),
    entry(Post, "/v1/auth/accept-invitation", AuthAcceptInvitation),
    entry(Post, "/v1/auth/invitation", AuthShowInvitation),
    entry(Get, "/v1/auth/me", AuthMe),
    entry(Get, "/v1/auth/sessions", AuthListSessions),
    entry(Delete, "/v1/auth/sessions/{}", AuthEndSession),
    entry(Post, "/v1/auth/switch", AuthSwitch),
    entry(Post, "/v1/auth/password-benchmark", AuthPasswordBenchmark),
    entry(Get, "/v1/auth/mfa", AuthMfaStatus),
    entry(Post, "/v1/auth/mfa/totp", AuthTotpEnrol),
    entry(Post, "/v1/auth/mfa/totp/confirm", AuthTotpConfirm),
    entry(Post, "/v1/auth/mfa/totp/disable", AuthTotpDisable),
    entry(Post, "/v1/auth/mfa/recovery-codes", AuthRecoveryCodes),
    entry(Post, "/v1/auth/mfa/verify", AuthMfaVerify),
    entry(Get, "/v1/invitations", ListInvitations),
    entry(Post, "/v1/invitations", CreateInvitation),
    entry(Delete, "/v1/invitations/{}", RevokeInvitation),
    entry(Post, "/v1/invitations/{}/resend", ResendInvitation),
    entry(Get, "/v1/relay/outbox", RelayOutbox),
    entry(Post, "/v1/relay/outbox/ack", RelayOutboxAck),
    entry(Get, "/v1/relay/proofs", RelayProofChecks),
    entry(Post, "/v1/relay/proofs", RelayProofResults),
    entry(Post, "/v1/relay/health", RelayHealth),
];

impl Route {
    /// Who may call it.
    pub const fn access(self) -> Access {
        match self {
            Healthz
            | WhatsAppWebhookVerify
            | WhatsAppWebhook
            | StripeWebhook
            | AuthLogin
            | AuthRefresh
            | AuthLogout
            | AuthSignup
            | AuthVerifyEmail
            | AuthResendVerification
            | AuthForgotPassword
            | AuthResetPassword
            | AuthAcceptInvitation
            | AuthShowInvitation
            | AuthMfaVerify => Access::Public,
            AuthMe | AuthListSessions | AuthEndSession | AuthSwitch | AuthMfaStatus
            | AuthTotpEnrol | AuthTotpConfirm | AuthTotpDisable | AuthRecoveryCodes => Access::User,
            RelayDirectory | RelayUsage | RelayOutbox | RelayOutboxAck | RelayProofChecks
            | RelayProofResults | RelayHealth => Access::Relay,
            AdminListTenants
            | AdminCreateTenant
            | AdminGetTenant
            | AdminUpdateTenant
            | AdminDeleteTenant
            | AdminSuspendTenant
            | AdminActivateTenant
            | AdminAddHostname
            | AdminRemoveHostname
            | AdminStats
            | AdminListRelayKeys
            | AdminListRelays
            | AdminCreateRelayKey
            | AdminRevokeRelayKey
            | AdminReseal
            | AdminSuspendUser
            | AdminActivateUser
            | AuthPasswordBenchmark => Access::Superadmin,
            _ => Access::Tenant,
        }
    }

    /// Which Worker runs it.
    pub const fn service(self) -> Service {
        match (self.access(), self) {
            (_, WhatsAppWebhookVerify | WhatsAppWebhook) => Service::WhatsApp,
            (_, StripeWebhook) => Service::Stripe,
            (_, Crm) => Service::Crm,
            (
                _,
                AuthSignup
                | AuthVerifyEmail
                | AuthResendVerification
                | AuthForgotPassword
                | AuthResetPassword
                | AuthAcceptInvitation
                | AuthShowInvitation,
            ) => Service::Accounts,
            (
                _,
                AuthMfaStatus | AuthTotpEnrol | AuthTotpConfirm | AuthTotpDisable
                | AuthRecoveryCodes | AuthMfaVerify,
            ) => Service::Factors,
            (_, AuthPasswordBenchmark)
            | (Access::User, _)
            | (_, AuthLogin | AuthRefresh | AuthLogout) => Service::Auth,
            (Access::Superadmin, _) => Service::Admin,
            (_, RelayProofChecks | RelayProofResults) => Service::Proofs,
            (Access::Relay, _) => Service::Relay,
            (_, Healthz | GetTenant) => Service::Gateway,
            (
                _,
                ListMembers | AddMember | ChangeMember | RemoveMember | ListRoles | CreateRole
                | GetSettings | UpdateSettings | ListApiKeys | CreateApiKey | RevokeApiKey
                | ListAudit | ListInvitations | CreateInvitation | RevokeInvitation
                | ResendInvitation,
            ) => Service::People,
            (
                _,
                ListMailDomains | CreateMailDomain | UpdateMailDomain | VerifyMailDomain
                | MailDomainUsage | ListDkimKeys | CreateDkimKey | MailDomainRecords,
            ) => Service::Mail,
            (
                _,
                ListMailboxes | CreateMailbox | DeleteMailbox | ListAppPasswords
                | CreateAppPassword | RevokeAppPassword,
            ) => Service::Mailboxes,
            (_, GetMailCertificate | PutMailCertificate | DeleteMailCertificate) => {
                Service::Certificates
            }
            _ => Service::Records,
        }
    }
}

/// The path the table is matched on: `/v1/t/{slug}/...` (which names the tenant) routes as
/// `/v1/...`. Every Worker matches on it; contexts stay signed for the path as sent.
pub fn routed_path(raw: String) -> String {
    tenantry_core::tenant::strip_tenant_path(&raw).unwrap_or(raw)
}

/// A request's route and the path segments its pattern's `{}` matched, in order, each
/// percent-decoded (`a%40b.example` is `a@b.example`, as every HTTP client spells it);
/// for `**`, the rest of the path as sent, undecoded, since it is forwarded as a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'p> {
    pub route: Route,
    pub params: Vec<Cow<'p, str>>,
}

impl Matched<'_> {
    /// The `n`th parameter (the table guarantees it exists for the route).
    pub fn param(&self, n: usize) -> &str {
        self.params.get(n).map(AsRef::as_ref).unwrap_or_default()
    }
}

/// A segment's text: percent-decoded when that gives UTF-8, else as sent (`%ff` then
/// reaches the validators, which refuse `%` in every name and find no such id).
fn decoded(segment: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .unwrap_or(Cow::Borrowed(segment))
}

fn match_pattern<'p>(pattern: &str, path: &'p str) -> Option<Vec<Cow<'p, str>>> {
    let mut params = Vec::new();
    let mut rest = path.strip_prefix('/')?;
    let mut parts = pattern.trim_start_matches('/').split('/').peekable();
    while let Some(part) = parts.next() {
        if part == "**" && parts.peek().is_none() {
            if rest.is_empty() {
                return None;
            }
            params.push(Cow::Borrowed(rest));
            return Some(params);
        }
        let (segment, tail) = match rest.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        match part {
            "{}" if !segment.is_empty() => params.push(decoded(segment)),
            literal if literal == segment => {}
            _ => return None,
        }
        match (tail, parts.peek()) {
            (Some(tail), Some(_)) => rest = tail,
            (None, None) => return Some(params),
            _ => return None,
        }
    }
    None
}

/// The route of `method` on `path`: 404 `not_found` when no pattern matches the path,
/// 405 `method_not_allowed` with the allowed methods (member `allow`, rendered as the
/// `Allow` header) when patterns match but none for this method.
pub fn find<'p>(method: &Method, path: &'p str) -> Outcome<Matched<'p>> {
    let mut allowed: Vec<&'static str> = Vec::new();
    for entry in TABLE {
        if let Some(params) = match_pattern(entry.pattern, path) {
            if entry.method == *method {
                return Ok(Matched {
                    route: entry.route,
                    params,
                });
            }
            let name = method_name(&entry.method);
            if !allowed.contains(&name) {
                allowed.push(name);
            }
        }
    }
    if allowed.is_empty() {
        return Err(Problem::new(ErrorCode::NotFound, "no such route"));
    }
    Err(Problem::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed here; use {}", allowed.join(", ")),
    )
    .with("allow", allowed.join(", ")))
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Get => "GET",
        Post => "POST",
        Put => "PUT",
        Patch => "PATCH",
        Delete => "DELETE",
        _ => "OTHER",
    }
}

/// 500 for a route handed to a module that does not serve it: a dispatch bug, never
/// the client's doing.
pub fn misrouted() -> Problem {
    crate::internal("a route reached a handler that does not serve it")
}

/// Every (method, pattern) of the table, for tests that hold it to `openapi.yaml`.
pub fn operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().map(|e| (method_name(&e.method), e.pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths_and_parameters_match() {
        let m = find(&Get, "/v1/clients/c_1").unwrap();
        assert_eq!(m.route, GetClient);
        assert_eq!(m.params, vec!["c_1"]);
        let m = find(&Delete, "/v1/mail/domains/a.example/mailboxes/x@a.example").unwrap();
        assert_eq!(m.route, DeleteMailbox);
        assert_eq!(m.params, vec!["a.example", "x@a.example"]);
        let m = find(&Get, "/v1/crm/api/v1/Contact").unwrap();
        assert_eq!((m.route, m.param(0)), (Crm, "api/v1/Contact"));
    }

    #[test]
    fn parameters_are_percent_decoded_and_the_proxied_rest_is_not() {
        let m = find(
            &Delete,
            "/v1/mail/domains/a.example/mailboxes/x%40a.example",
        )
        .unwrap();
        assert_eq!(m.params, vec!["a.example", "x@a.example"]);
        let m = find(&Get, "/v1/clients/%E2%82%AC").unwrap();
        assert_eq!(m.param(0), "\u{20ac}");
        // Not UTF-8 once decoded: kept as sent, for the validators to refuse.
        let m = find(&Get, "/v1/clients/%ff").unwrap();
        assert_eq!(m.param(0), "%ff");
        let m = find(&Get, "/v1/crm/api/v1/Contact%20x").unwrap();
        assert_eq!(m.param(0), "api/v1/Contact%20x");
    }

    #[test]
    fn unknown_paths_are_404_and_known_paths_405_with_allow() {
        for path in [
            "/",
            "/v1",
            "/v1/",
            "/v1/clients/",
            "/v1/clients/c/x",
            "/v1/crm",
            "/v1/crm/",
            "/v1//clients",
            "/nope",
        ] {
            assert_eq!(
                find(&Get, path).unwrap_err().code,
                ErrorCode::NotFound,
                "{path}"
            );
        }
        let refused = find(&Put, "/v1/clients/c_1").unwrap_err();
        assert_eq!(refused.code, ErrorCode::MethodNotAllowed);
        let allow = refused
            .extensions
            .iter()
            .find(|(k, _)| k == "allow")
            .unwrap();
        assert_eq!(allow.1, serde_json::json!("GET, PATCH, DELETE"));
        assert_eq!(
            find(&Method::Head, "/healthz").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
    }

    fn auth_path(route: &str) -> String {
        format!("/v1/auth/{route}")
    }

    #[test]
    fn every_admin_route_is_superadmin_only_and_served_by_the_admin_worker() {
        for (method, pattern) in operations() {
            let path = pattern.replace("{}", "x").replace("**", "x");
            let method = match method {
                "GET" => Get,
                "POST" => Post,
                "PUT" => Put,
                "PATCH" => Patch,
                _ => Delete,
            };
            let route = find(&method, &path).unwrap().route;
            let admin = pattern.starts_with("/v1/admin/");
            // The operators' password-hash benchmark runs where passwords are hashed.
            let superadmin = admin || route == AuthPasswordBenchmark;
            assert_eq!(
                route.access() == Access::Superadmin,
                superadmin,
                "{pattern}"
            );
            assert_eq!(route.service() == Service::Admin, admin, "{pattern}");
            assert_eq!(
                matches!(route.service(), Service::Relay | Service::Proofs),
                pattern.starts_with("/v1/relay/"),
                "{pattern}"
            );
            assert_eq!(
                route.service() == Service::Proofs,
                pattern.starts_with("/v1/relay/proofs"),
                "{pattern}"
            );
            assert_eq!(
                matches!(
                    route.service(),
                    Service::Auth | Service::Accounts | Service::Factors
                ),
                pattern.starts_with("/v1/auth/"),
                "{pattern}"
            );
            // Second factors are the factors Worker's.
            assert_eq!(
                route.service() == Service::Factors,
                pattern.starts_with("/v1/auth/mfa"),
                "{pattern}"
            );
            // Sign-up, verification, resets and invitations accepted are the accounts
            // Worker's; sessions, auth's.
            let accounts = [
                "signup",
                "verify-email",
                "resend-verification",
                "forgot-password",
                "reset-password",
                "accept-invitation",
                "invitation",
            ]
            .iter()
            .any(|r| pattern == auth_path(r));
            assert_eq!(route.service() == Service::Accounts, accounts, "{pattern}");
            // A domain's mailboxes and certificate have Workers of their own.
            assert_eq!(
                route.service() == Service::Mailboxes,
                pattern.starts_with("/v1/mail/domains/{}/mailboxes"),
                "{pattern}"
            );
            assert_eq!(
                route.service() == Service::Certificates,
                pattern.ends_with("/certificate"),
                "{pattern}"
            );
        }
    }
}
