//! The platform's own mail: invitations, address verification, password resets and
//! welcomes, in English and French, rendered as RFC 5322 messages with a text and an
//! HTML part. The shell picks the locale, builds the link and supplies the date and a
//! random Message-ID; the message goes into the outbox in the same batch as the change
//! that causes it.
//!
//! Written here rather than with a MIME crate: the core is `no_std`, and a
//! `multipart/alternative` of two base64 parts with RFC 2047 headers is all it needs.

use alloc::format;
use alloc::string::String;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The language of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English (the default).
    En,
    /// French.
    Fr,
}

impl Locale {
    /// The first language of an `Accept-Language` header that has templates, else English.
    pub fn from_accept_language(header: Option<&str>) -> Locale {
        header
            .unwrap_or("")
            .split(',')
            .filter_map(|part| {
                let tag = part.split(';').next()?.trim();
                let primary = tag.split('-').next()?;
                Locale::parse(primary)
            })
            .next()
            .unwrap_or(Locale::En)
    }

    /// The tag: `en` or `fr`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
        }
    }

    /// `en` or `fr` (any case).
    pub fn parse(tag: &str) -> Option<Locale> {
        if tag.eq_ignore_ascii_case("fr") {
            Some(Locale::Fr)
        } else if tag.eq_ignore_ascii_case("en") {
            Some(Locale::En)
        } else {
            None
        }
    }
}

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// Join `tenant` as `role` by following `link` (7 days).
    Invitation {
        /// The tenant's display name.
        tenant: &'a str,
        /// The role offered.
        role: &'a str,
        /// The acceptance link.
        link: &'a str,
    },
    /// Prove the address by following `link` (24 hours).
    Verification {
        /// The verification link.
        link: &'a str,
    },
    /// Set a new password by following `link` (1 hour).
    PasswordReset {
        /// The reset link.
        link: &'a str,
    },
    /// Someone tried to sign up with an address that has an account: sign in at `link`
    /// (sign-up answers the same for both, so only the address's owner learns it).
    AccountExists {
        /// The sign-in link.
        link: &'a str,
    },
    /// The tenant's claim on a mail domain was released: another organisation proved the
    /// domain first (its DNS record was seen). `link`: the console's mail page.
    DomainReleased {
        /// The tenant's display name.
        tenant: &'a str,
        /// The domain.
        domain: &'a str,
        /// The console's mail page.
        link: &'a str,
    },
    /// The account and its tenant are ready; sign in at `link`.
    Welcome {
        /// The tenant's display name.
        tenant: &'a str,
        /// The sign-in link.
        link: &'a str,
    },
}

impl Notice<'_> {
    /// The template's name, as stored in the outbox.
    pub const fn template(&self) -> &'static str {
        match self {
            Notice::Invitation { .. } => "invitation",
            Notice::Verification { .. } => "verification",
            Notice::PasswordReset { .. } => "password_reset",
            Notice::AccountExists { .. } => "account_exists",
            Notice::Welcome { .. } => "welcome",
            Notice::DomainReleased { .. } => "domain_released",
        }
    }

    /// Subject, text paragraphs and the call to action, in `locale`.
    fn words(&self, locale: Locale) -> (String, String, &'static str, &str) {
        use Locale::{En, Fr};
        match (*self, locale) {
            (Notice::Invitation { tenant, role, link }, En) => (
                format!("You are invited to join {tenant}"),
                format!("You have been invited to join {tenant} on Tenantry as {role}. The link is valid for 7 days. If you did not expect this invitation, ignore this message."),
                "Accept the invitation",
                link,
            ),
            (Notice::Invitation { tenant, role, link }, Fr) => (
                format!("Invitation à rejoindre {tenant}"),
                format!("Vous êtes invité(e) à rejoindre {tenant} sur Tenantry en tant que {role}. Le lien est valable 7 jours. Si vous n'attendiez pas cette invitation, ignorez ce message."),
                "Accepter l'invitation",
                link,
            ),
            (Notice::Verification { link }, En) => (
                "Verify your email address".into(),
                "Confirm that this address is yours to finish setting up your Tenantry account. The link is valid for 24 hours.".into(),
                "Verify my address",
                link,
            ),
            (Notice::Verification { link }, Fr) => (
                "Vérifiez votre adresse e-mail".into(),
                "Confirmez que cette adresse est la vôtre pour terminer la création de votre compte Tenantry. Le lien est valable 24 heures.".into(),
                "Vérifier mon adresse",
                link,
            ),
            (Notice::PasswordReset { link }, En) => (
                "Reset your password".into(),
                "Someone asked to reset the password of your Tenantry account. The link is valid for 1 hour; using it signs out every session. If it was not you, ignore this message: your password is unchanged.".into(),
                "Choose a new password",
                link,
            ),
            (Notice::PasswordReset { link }, Fr) => (
                "Réinitialisez votre mot de passe".into(),
                "Une réinitialisation du mot de passe de votre compte Tenantry a été demandée. Le lien est valable 1 heure et son utilisation ferme toutes les sessions. Si vous n'êtes pas à l'origine de la demande, ignorez ce message : votre mot de passe reste inchangé.".into(),
                "Choisir un nouveau mot de passe",
                link,
            ),
            (Notice::AccountExists { link }, En) => (
                "Someone tried to sign up with your address".into(),
                "Someone tried to create a Tenantry account with this address, which already has one. If it was you, sign in, or reset your password from the sign-in page; otherwise ignore this message.".into(),
                "Sign in",
                link,
            ),
            (Notice::AccountExists { link }, Fr) => (
                "Tentative d'inscription avec votre adresse".into(),
                "Quelqu'un a tenté de créer un compte Tenantry avec cette adresse, qui en a déjà un. Si c'était vous, connectez-vous ou réinitialisez votre mot de passe depuis la page de connexion ; sinon, ignorez ce message.".into(),
                "Se connecter",
                link,
            ),
            (Notice::DomainReleased { tenant, domain, link }, En) => (
                format!("{domain} was not added to {tenant}"),
                format!("The claim of {tenant} on the mail domain {domain} was released: another organisation proved that it controls the domain by publishing its DNS record first. The mailboxes prepared for it were removed; no mail was ever delivered to them. If {domain} is yours, check who controls its DNS zone."),
                "Open the mail page",
                link,
            ),
            (Notice::DomainReleased { tenant, domain, link }, Fr) => (
                format!("{domain} n'a pas été ajouté à {tenant}"),
                format!("La demande de {tenant} sur le domaine de messagerie {domain} a été abandonnée : une autre organisation a prouvé la première qu'elle contrôle ce domaine en publiant son enregistrement DNS. Les boîtes préparées pour ce domaine ont été supprimées ; aucun message n'y a jamais été distribué. Si {domain} vous appartient, vérifiez qui gère sa zone DNS."),
                "Ouvrir la page Messagerie",
                link,
            ),
            (Notice::Welcome { tenant, link }, En) => (
                format!("Welcome to {tenant}"),
                format!("Your account and {tenant} are ready on Tenantry."),
                "Sign in",
                link,
            ),
            (Notice::Welcome { tenant, link }, Fr) => (
                format!("Bienvenue sur {tenant}"),
                format!("Votre compte et {tenant} sont prêts sur Tenantry."),
                "Se connecter",
                link,
            ),
        }
    }
}

/// Who sends a message to whom, when, under which Message-ID.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The sender's display name (the tenant's, or the platform's).
    pub from_name: &'a str,
    /// The sender's address.
    pub from_address: &'a str,
    /// The recipient's address.
    pub to: &'a str,
    /// The Message-ID without angle brackets (random, `…@domain`).
    pub message_id: &'a str,
    /// Seconds since the epoch.
    pub date: i64,
}

/// How long a relay's claim on outbox messages lasts: unacknowledged messages return
/// to the queue after it.
pub const OUTBOX_LEASE_SECS: i64 = 300;

/// Most messages one claim takes.
pub const MAX_OUTBOX_BATCH: usize = 100;

/// A message not delivered within this many seconds of its creation is given up (its
/// links, at most 7 days long, would be dead on arrival).
pub const OUTBOX_MAX_AGE_SECS: i64 = 7 * 86_400;

/// Longest a relay may defer a message by.
pub const MAX_OUTBOX_DEFER_SECS: i64 = 86_400;

/// What a relay did with a claimed outbox message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Delivery {
    /// Delivered (into a hosted mailbox, or accepted by the next hop): never sent again.
    Delivered,
    /// Not now: offered again after `retry_after_secs` (at most a day).
    Deferred {
        /// Seconds until the message may be claimed again.
        retry_after_secs: i64,
        /// Why, for operators.
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Permanently undeliverable (no such hosted mailbox): never sent again.
    Failed {
        /// Why, for operators.
        detail: String,
    },
}

/// One acknowledged message: its id and what became of it (`{"id", "outcome", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ReportWire")]
pub struct DeliveryReport {
    /// The outbox message id.
    pub id: String,
    /// What became of it (unknown members are refused by [`Delivery`]).
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// A report as sent, read strictly (serde's `flatten` cannot refuse unknown members).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportWire {
    id: String,
    outcome: Outcome,
    #[serde(default)]
    retry_after_secs: Option<i64>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Delivered,
    Deferred,
    Failed,
}

impl TryFrom<ReportWire> for DeliveryReport {
    type Error = &'static str;

    fn try_from(wire: ReportWire) -> Result<Self, Self::Error> {
        let delivery = match (wire.outcome, wire.retry_after_secs, wire.detail) {
            (Outcome::Delivered, None, None) => Delivery::Delivered,
            (Outcome::Delivered, _, _) => {
                return Err("a delivered message has no retry_after_secs or detail");
            }
            (Outcome::Deferred, Some(retry_after_secs), detail) => Delivery::Deferred {
                retry_after_secs,
                detail,
            },
            (Outcome::Deferred, None, _) => {
                return Err("a deferred message needs retry_after_secs");
            }
            (Outcome::Failed, None, Some(detail)) => Delivery::Failed { detail },
            (Outcome::Failed, _, _) => {
                return Err("a failed message needs a detail and no retry_after_secs");
            }
        };
        Ok(DeliveryReport {
            id: wire.id,
            delivery,
        })
    }
}

impl Delivery {
    /// The time the message may be claimed again after a deferral at `now`.
    pub fn retry_at(&self, now: i64) -> Option<i64> {
        match self {
            Delivery::Deferred {
                retry_after_secs, ..
            } => Some(now + (*retry_after_secs).clamp(1, MAX_OUTBOX_DEFER_SECS)),
            _ => None,
        }
    }
}

/// A subject of the rendered message, for the outbox's listing.
pub fn subject(notice: &Notice<'_>, locale: Locale) -> String {
    notice.words(locale).0
}

/// The complete message, CRLF line endings.
pub fn render(notice: &Notice<'_>, locale: Locale, envelope: &Envelope<'_>) -> String {
    let (subject, body, action, link) = notice.words(locale);
    let greeting = match locale {
        Locale::En => "Hello,",
        Locale::Fr => "Bonjour,",
    };
    let text = format!("{greeting}\r\n\r\n{body}\r\n\r\n{action}: {link}\r\n");
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><body><p>{greeting}</p><p>{body}</p><p><a href=\"{href}\">{action}</a></p><p>{href}</p></body></html>",
        lang = locale.as_str(),
        body = escape_html(&body),
        href = escape_html(link),
        action = escape_html(action),
    );
    let boundary = format!(
        "=_tenantry_{}",
        envelope.message_id.split('@').next().unwrap_or("")
    );
    let mut out = String::with_capacity(2 * (text.len() + html.len()) + 512);
    out.push_str(&format!(
        "From: {} <{}>\r\nTo: <{}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n",
        header_words(envelope.from_name),
        envelope.from_address,
        envelope.to,
        header_words(&subject),
        crate::calendar::rfc5322(envelope.date),
        envelope.message_id,
    ));
    for (kind, content) in [("plain", &text), ("html", &html)] {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ));
        let encoded = STANDARD.encode(content.as_bytes());
        for line in encoded.as_bytes().chunks(76) {
            out.push_str(core::str::from_utf8(line).unwrap_or(""));
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// A header value as plain text when it is safe printable ASCII, else as RFC 2047
/// encoded words of at most 45 bytes of UTF-8 each (whole characters).
fn header_words(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || " -_.,!?'".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        return value.into();
    }
    let mut out = String::new();
    let mut chunk = String::new();
    let flush = |chunk: &mut String, out: &mut String| {
        if !out.is_empty() {
            out.push_str("\r\n ");
        }
        out.push_str("=?UTF-8?B?");
        out.push_str(&STANDARD.encode(chunk.as_bytes()));
        out.push_str("?=");
        chunk.clear();
    };
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            flush(&mut chunk, &mut out);
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || out.is_empty() {
        flush(&mut chunk, &mut out);
    }
    out
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn envelope() -> Envelope<'static> {
        Envelope {
            from_name: "Clinique Étoile",
            from_address: "no-reply@tenantry.test",
            to: "ana@example.org",
            message_id: "abc123@tenantry.test",
            date: 1_795_000_000,
        }
    }

    fn decoded_part(message: &str, kind: &str) -> String {
        let start = message
            .find(&format!("text/{kind}; charset=utf-8"))
            .unwrap();
        let body = &message[start..];
        let body = &body[body.find("\r\n\r\n").unwrap() + 4..];
        let body: String = body
            .split("\r\n")
            .take_while(|l| !l.starts_with("--"))
            .collect();
        String::from_utf8(STANDARD.decode(body).unwrap()).unwrap()
    }

    #[test]
    fn a_french_invitation_is_a_two_part_message_with_encoded_headers() {
        let notice = Notice::Invitation {
            tenant: "Clinique <Étoile>",
            role: "employee",
            link: "https://console.test/#/accept?token=inv_x&a=1",
        };
        let message = render(&notice, Locale::Fr, &envelope());
        assert!(message.is_ascii(), "headers and parts are 7-bit");
        assert!(!message.replace("\r\n", "").contains('\n'), "CRLF only");
        assert!(message.contains("From: =?UTF-8?B?"));
        assert!(message.contains("Message-ID: <abc123@tenantry.test>"));
        assert!(message.contains("multipart/alternative"));
        let text = decoded_part(&message, "plain");
        assert!(text.contains("Vous êtes invité(e) à rejoindre Clinique <Étoile>"));
        assert!(text.contains("https://console.test/#/accept?token=inv_x&a=1"));
        let html = decoded_part(&message, "html");
        assert!(html.contains("Clinique &lt;Étoile&gt;"), "{html}");
        assert!(html.contains("token=inv_x&amp;a=1"));
        assert_eq!(
            subject(&notice, Locale::Fr),
            "Invitation à rejoindre Clinique <Étoile>"
        );
    }

    #[test]
    fn long_subjects_fold_into_several_encoded_words() {
        let words = header_words(&"é".repeat(60));
        assert!(words.lines().count() > 1);
        for word in words.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
        }
        assert_eq!(header_words("Tenantry"), "Tenantry");
    }

    #[test]
    fn delivery_reports_read_what_relays_write_and_nothing_else() {
        let report = DeliveryReport {
            id: "msg_1".into(),
            delivery: Delivery::Deferred {
                retry_after_secs: 60,
                detail: Some("later".into()),
            },
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            text,
            r#"{"id":"msg_1","outcome":"deferred","retry_after_secs":60,"detail":"later"}"#
        );
        assert_eq!(
            serde_json::from_str::<DeliveryReport>(&text).unwrap(),
            report
        );
        let delivered: DeliveryReport =
            serde_json::from_str(r#"{"id":"m","outcome":"delivered"}"#).unwrap();
        assert_eq!(delivered.delivery, Delivery::Delivered);
        for bad in [
            r#"{"id":"m","outcome":"delivered","extra":1}"#,
            r#"{"id":"m","outcome":"lost"}"#,
            r#"{"id":"m","outcome":"failed"}"#,
            r#"{"outcome":"delivered"}"#,
        ] {
            assert!(
                serde_json::from_str::<DeliveryReport>(bad).is_err(),
                "{bad}"
            );
        }
        assert_eq!(report.delivery.retry_at(100), Some(160));
        let far = Delivery::Deferred {
            retry_after_secs: 10_000_000,
            detail: None,
        };
        assert_eq!(far.retry_at(0), Some(MAX_OUTBOX_DEFER_SECS));
    }

    #[test]
    fn the_locale_follows_accept_language() {
        assert_eq!(
            Locale::from_accept_language(Some("fr-FR,fr;q=0.9,en;q=0.8")),
            Locale::Fr
        );
        assert_eq!(
            Locale::from_accept_language(Some("de-DE, en;q=0.5")),
            Locale::En
        );
        assert_eq!(Locale::from_accept_language(None), Locale::En);
    }
}
