//! The relay API Worker, reached only through the gateway, for platform relay keys only
//! (`rk_`, issued by a superadmin): the mail directory as versioned deltas, and
//! idempotent usage batches, the platform's outbox of mail to deliver and each relay's
//! report of its own health (the domain proofs relays run are the `proofs` Worker's). A key serves every
//! tenant (the MX of every domain) or only the tenants it names; it reads and writes
//! nothing outside its scope, and no tenant credential reaches these routes.

mod health;
mod outbox;

use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use tenantry_core::auth::RelayScope;
use tenantry_core::limits::{Limit, Limits, Plan, parse_overrides};
use tenantry_core::mail::authentication::DmarcHandling;
use tenantry_core::mail::certificate::{self, CertificateEntry};
use tenantry_core::mail::dkim::{self, DkimAlgorithm, DkimEntry, DkimState, RELAY_SEAL_KEY_ID};
use tenantry_core::mail::proof::ClaimState;
use tenantry_core::mail::spam::{JUNK_SCORE_SETTING, REJECT_SCORE_SETTING, SpamThresholds};
use tenantry_core::mail::{
    AliasEntry, CredentialEntry, DirectoryDelta, DomainEntry, DomainStatus, MailboxEntry,
    MailboxKind, MailboxStatus, SendingLimits,
};
use tenantry_core::page::{PageError, PageRequest, encode_cursor};
use tenantry_core::seal::{Keyring, MasterKey};
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{PlatformDb, TenantDb, int, text};
use tenantry_edge::http::{invalid, json, not_found, read_json};
use tenantry_edge::routes::{self, Route, Service};
use tenantry_edge::{Outcome, http, internal};
use worker::{Env, Request, Response, event};

use tenantry_edge::relay::{self, Ctx, scope_filter};

async fn serve(mut req: Request, env: Env) -> Outcome<Response> {
    let path = routes::routed_path(req.path());
    let (ctx, matched) = relay::admit(&req, &path, env, Service::Relay)?;
    match matched.route {
        Route::RelayDirectory => directory(&req, &ctx, &ctx.scope).await,
        Route::RelayUsage => usage(&mut req, &ctx, &ctx.scope).await,
        Route::RelayOutbox => outbox::claim(&req, &ctx, &ctx.scope).await,
        Route::RelayOutboxAck => outbox::ack(&mut req, &ctx, &ctx.scope).await,
        Route::RelayHealth => health::report(&mut req, &ctx).await,
        _ => Err(not_found("route")),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let request_id = http::request_id(&req);
    http::respond(serve(req, env).await, &request_id)
}

// Rows deserialise straight into the core's enums: a value the core does not know
// fails the request instead of being read as something it is not.
#[derive(Deserialize)]
struct DomainRow {
    tenant_id: String,
    domain: String,
    status: ClaimState,
    max_mailboxes: f64,
    max_storage_mb: f64,
    dmarc_handling: DmarcHandling,
    version: f64,
    deleted: f64,
}
#[derive(Deserialize)]
struct MailboxRow {
    tenant_id: String,
    address: String,
    kind: MailboxKind,
    status: MailboxStatus,
    quota_mb: f64,
    version: f64,
    deleted: f64,
}
#[derive(Deserialize)]
struct AliasRow {
    tenant_id: String,
    address: String,
    targets: String,
    version: f64,
    deleted: f64,
}

#[derive(Deserialize)]
struct DkimRow {
    tenant_id: String,
    id: String,
    domain: String,
    selector: String,
    algorithm: DkimAlgorithm,
    state: DkimState,
    private_key: String,
    version: f64,
    deleted: f64,
}

/// The keyring relays open DKIM and certificate keys with (`RELAY_SEAL_KEY`, 64 hex characters).
fn relay_keyring(env: &Env) -> Outcome<Keyring> {
    let hex = env
        .secret("RELAY_SEAL_KEY")
        .map(|s| s.to_string())
        .or_else(|_| env.var("RELAY_SEAL_KEY").map(|v| v.to_string()))
        .map_err(|_| {
            Problem::new(
                ErrorCode::Misconfigured,
                "RELAY_SEAL_KEY is not set: DKIM and certificate keys cannot be sent to relays",
            )
        })?;
    let key = MasterKey::from_hex(RELAY_SEAL_KEY_ID, &hex).map_err(|_| {
        Problem::new(
            ErrorCode::Misconfigured,
            "RELAY_SEAL_KEY must be 64 hex characters",
        )
    })?;
    Ok(Keyring::new(key, Vec::new()))
}

/// Opens keys sealed with tenants' keyrings and seals them again for relays.
struct Resealer {
    keyrings: Outcome<(Keyring, Keyring)>,
}

impl Resealer {
    fn new(env: &Env) -> Self {
        Resealer {
            keyrings: tenantry_edge::config::keyring(env)
                .and_then(|tenant| Ok((tenant, relay_keyring(env)?))),
        }
    }

    /// The secret sealed for relays, or empty when it cannot be opened (or there is
    /// no `RELAY_SEAL_KEY`): logged, and the relay then refuses to use it (closed: no
    /// unsigned mail, the default certificate) while every other row stays in sync.
    fn reseal(&self, tenant_id: &str, field: &str, sealed: &str, what: &str) -> String {
        let (tenant_keys, relay_keys) = match &self.keyrings {
            Ok(keyrings) => keyrings,
            Err(problem) => {
                worker::console_error!("{what} sent unusable to relays: {}", problem.detail);
                return String::new();
            }
        };
        match tenant_keys.open(tenant_id, field, sealed) {
            Ok(secret) => relay_keys.seal(tenant_id, field, &secret, tenantry_edge::random_bytes()),
            Err(error) => {
                worker::console_error!("{what} cannot be opened: {error}");
                String::new()
            }
        }
    }
}

/// DKIM rows as relays receive them: the private key re-sealed for relays, never in
/// the clear on the wire or in a replica.
fn dkim_entries(resealer: &Resealer, rows: Vec<DkimRow>) -> Vec<DkimEntry> {
    rows.into_iter()
        .map(|k| {
            let live = k.deleted == 0.0 && k.state != DkimState::Retired;
            let sealed_key = if live {
                resealer.reseal(
                    &k.tenant_id,
                    &dkim::sealed_field(&k.id),
                    &k.private_key,
                    &format!("DKIM key {}", k.id),
                )
            } else {
                String::new()
            };
            DkimEntry {
                tenant_id: k.tenant_id,
                id: k.id,
                domain: k.domain,
                selector: k.selector,
                algorithm: k.algorithm,
                state: k.state,
                sealed_key,
                version: k.version as u64,
                deleted: !live,
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct CertificateRow {
    tenant_id: String,
    domain: String,
    id: String,
    names: String,
    chain_pem: String,
    private_key: String,
    not_after: f64,
    version: f64,
    deleted: f64,
}

/// Certificate rows as relays receive them: the key re-sealed like DKIM keys.
fn certificate_entries(
    resealer: &Resealer,
    rows: Vec<CertificateRow>,
) -> Outcome<Vec<CertificateEntry>> {
    rows.into_iter()
        .map(|c| {
            let live = c.deleted == 0.0;
            let sealed_key = if live {
                resealer.reseal(
                    &c.tenant_id,
                    &certificate::sealed_field(&c.id),
                    &c.private_key,
                    &format!("the certificate key of {}", c.domain),
                )
            } else {
                String::new()
            };
            Ok(CertificateEntry {
                names: serde_json::from_str(&c.names)
                    .map_err(|_| internal("a certificate's names column is not a JSON array"))?,
                tenant_id: c.tenant_id,
                domain: c.domain,
                id: c.id,
                chain_pem: if live { c.chain_pem } else { String::new() },
                sealed_key,
                not_after: c.not_after as i64,
                version: c.version as u64,
                deleted: !live,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct CredentialRow {
    tenant_id: String,
    id: String,
    mailbox: String,
    hash: String,
    version: f64,
    deleted: f64,
}

/// The tenants of the domains in a page, once each.
fn tenant_ids(domains: &[DomainRow]) -> Vec<&str> {
    let mut ids: Vec<&str> = domains.iter().map(|d| d.tenant_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The sending limits of the tenants owning `domains` (plan and overrides, as the
/// gateway applies them to HTTP), one read each for the plans and the overrides.
async fn sending_limits(
    platform: &PlatformDb<'_>,
    domains: &[DomainRow],
) -> Outcome<BTreeMap<String, SendingLimits>> {
    let ids = tenant_ids(domains);
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ids_json = text(&serde_json::to_string(&ids).map_err(internal)?);
    #[derive(Deserialize)]
    struct PlanRow {
        id: String,
        plan: Plan,
    }
    #[derive(Deserialize)]
    struct OverrideRow {
        tenant_id: String,
        quota: String,
        value: f64,
    }
    let plans: Vec<PlanRow> = platform
        .all(
            "SELECT id, plan FROM tenants WHERE id IN (SELECT value FROM json_each(?1))",
            std::slice::from_ref(&ids_json),
        )
        .await?;
    let overrides: Vec<OverrideRow> = platform
        .all(
            "SELECT tenant_id, quota, value FROM limit_overrides WHERE tenant_id IN (SELECT value FROM json_each(?1)) AND quota LIKE 'mail_%'",
            &[ids_json],
        )
        .await?;
    plans
        .into_iter()
        .map(|row| {
            let own = parse_overrides(
                overrides
                    .iter()
                    .filter(|o| o.tenant_id == row.id)
                    .map(|o| (o.quota.as_str(), o.value as i64)),
            )
            .map_err(|e| internal(format!("stored limit overrides: {e}")))?;
            Ok((row.id, Limits::for_tenant(row.plan, &own).sending()))
        })
        .collect()
}

/// Each tenant's spam thresholds, from its settings (the core's defaults where unset).
async fn spam_thresholds(
    platform: &PlatformDb<'_>,
    domains: &[DomainRow],
) -> Outcome<BTreeMap<String, SpamThresholds>> {
    let ids = tenant_ids(domains);
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    #[derive(Deserialize)]
    struct SettingRow {
        tenant_id: String,
        key: String,
        value: String,
    }
    let rows: Vec<SettingRow> = platform
        .all(
            "SELECT tenant_id, key, value FROM settings WHERE tenant_id IN (SELECT value FROM json_each(?1)) AND key IN (?2, ?3)",
            &[
                text(&serde_json::to_string(&ids).map_err(internal)?),
                text(JUNK_SCORE_SETTING),
                text(REJECT_SCORE_SETTING),
            ],
        )
        .await?;
    Ok(ids
        .into_iter()
        .map(|id| {
            let value = |key: &str| {
                rows.iter()
                    .find(|r| r.tenant_id == id && r.key == key)
                    .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.value).ok())
            };
            let thresholds = SpamThresholds::from_settings(
                value(JUNK_SCORE_SETTING).as_ref(),
                value(REJECT_SCORE_SETTING).as_ref(),
            );
            (id.to_string(), thresholds)
        })
        .collect())
}

async fn directory(req: &Request, ctx: &Ctx, scope: &RelayScope) -> Outcome<Response> {
    let url = req.url().map_err(internal)?;
    let since = match url.query_pairs().find(|(k, _)| k == "since") {
        None => 0,
        Some((_, v)) => v.parse::<u64>().map_err(|_| {
            invalid(
                "since",
                "must be a directory version (a non-negative integer)",
            )
        })?,
    };
    let platform = PlatformDb(&ctx.db);
    let cursor = tenantry_edge::http::query_param(&url, "cursor");
    // The cursor: [the version the listing stops at, and the last domain, mailbox,
    // alias, app password, DKIM key and certificate sent]. Every page of one listing reads up to the same version, so a row
    // changed meanwhile is left to the next delta, never sent half-updated.
    let page = PageRequest::parse(None, cursor.as_deref(), 7)?;
    let (upto, after) = match &page.after {
        Some(values) => {
            let key = |i: usize| values[i].as_str().map(str::to_owned);
            match (
                values[0].as_u64(),
                (1..7).map(key).collect::<Option<Vec<_>>>(),
            ) {
                (Some(upto), Some(keys)) => (
                    upto,
                    <[String; 6]>::try_from(keys).map_err(|_| PageError::Cursor)?,
                ),
                _ => return Err(PageError::Cursor.into()),
            }
        }
        None => {
            let version = tenantry_edge::directory::current_version(&ctx.db).await?;
            (version, core::array::from_fn(|_| String::new()))
        }
    };
    let version = upto;
    let full = since == 0;
    // A snapshot leaves out tombstones; a delta carries them.
    let (in_scope, scope_arg) = scope_filter(scope, 4)?;
    let filter = format!(
        "{} AND version <= ?2{in_scope}",
        if full {
            "?1 = 0 AND deleted = 0"
        } else {
            "version > ?1"
        }
    );
    let args = |after: &str| {
        let mut args = vec![int(since as i64), int(upto as i64), text(after)];
        args.extend(scope_arg.clone());
        args
    };
    let limit = DIRECTORY_PAGE_ROWS + 1;
    // Relays hear only of held names (proven, or vouched for): a pending claim's domain is
    // a tombstone at most, and only where no tenant holds the name; the rows of a domain
    // travel only while their own tenant holds it.
    let domain_filter = if full {
        " AND status != 'pending'".to_string()
    } else {
        format!(
            " AND ((deleted = 0 AND status != 'pending') OR NOT EXISTS ({HOLDER} = mail_domains.domain))"
        )
    };
    let held = |table: &str, domain_of: &str| {
        format!(" AND EXISTS ({HOLDER} = {domain_of} AND h.tenant_id = {table}.tenant_id)")
    };
    // Six reads; `version <= ?2` keeps them consistent with each other without a
    // transaction.
    let mut domains: Vec<DomainRow> = platform.all(&format!("SELECT tenant_id, domain, status, max_mailboxes, max_storage_mb, dmarc_handling, version, deleted FROM mail_domains WHERE {filter}{domain_filter} AND domain > ?3 ORDER BY domain LIMIT {limit}"), &args(&after[0])).await?;
    let mut mailboxes: Vec<MailboxRow> = platform.all(&format!("SELECT tenant_id, address, kind, status, quota_mb, version, deleted FROM mailboxes WHERE {filter}{} AND address > ?3 ORDER BY address LIMIT {limit}", held("mailboxes", "mailboxes.domain")), &args(&after[1])).await?;
    let mut aliases: Vec<AliasRow> = platform.all(&format!("SELECT tenant_id, address, targets, version, deleted FROM mail_aliases WHERE {filter}{} AND address > ?3 ORDER BY address LIMIT {limit}", held("mail_aliases", "mail_aliases.domain")), &args(&after[2])).await?;
    let mut credentials: Vec<CredentialRow> = platform.all(&format!("SELECT tenant_id, id, mailbox, hash, version, deleted FROM mail_app_passwords WHERE {filter}{} AND id > ?3 ORDER BY id LIMIT {limit}", held("mail_app_passwords", "substr(mail_app_passwords.mailbox, instr(mail_app_passwords.mailbox, '@') + 1)")), &args(&after[3])).await?;
    // Certificates are large (a chain of up to 64 KiB): fewer of them per page.
    let mut certificate_rows: Vec<CertificateRow> = platform.all(&format!("SELECT tenant_id, domain, id, names, chain_pem, private_key, not_after, version, deleted FROM mail_certificates WHERE {filter}{} AND domain > ?3 ORDER BY domain LIMIT {}", held("mail_certificates", "mail_certificates.domain"), CERTIFICATE_PAGE_ROWS + 1), &args(&after[5])).await?;
    // A snapshot needs no retired key: relays only ever sign with live ones.
    let dkim_filter = if full { " AND state != 'retired'" } else { "" };
    let mut dkim_rows: Vec<DkimRow> = platform.all(&format!("SELECT tenant_id, id, domain, selector, algorithm, state, private_key, version, deleted FROM mail_dkim_keys WHERE {filter}{dkim_filter}{} AND id > ?3 ORDER BY id LIMIT {limit}", held("mail_dkim_keys", "mail_dkim_keys.domain")), &args(&after[4])).await?;
    // Past the last key of a finished table: nothing sorts after DEL in these ASCII keys.
    let finished = || "\u{7f}".to_string();
    let mut more = false;
    let mut next_key_of = |page_rows: usize, len: usize, last: Option<String>| {
        if len > page_rows {
            more = true;
            last.unwrap_or_else(finished)
        } else {
            finished()
        }
    };
    let keys = [
        next_key_of(
            DIRECTORY_PAGE_ROWS,
            domains.len(),
            domains
                .get(DIRECTORY_PAGE_ROWS - 1)
                .map(|d| d.domain.clone()),
        ),
        next_key_of(
            DIRECTORY_PAGE_ROWS,
            mailboxes.len(),
            mailboxes
                .get(DIRECTORY_PAGE_ROWS - 1)
                .map(|m| m.address.clone()),
        ),
        next_key_of(
            DIRECTORY_PAGE_ROWS,
            aliases.len(),
            aliases
                .get(DIRECTORY_PAGE_ROWS - 1)
                .map(|a| a.address.clone()),
        ),
        next_key_of(
            DIRECTORY_PAGE_ROWS,
            credentials.len(),
            credentials
                .get(DIRECTORY_PAGE_ROWS - 1)
                .map(|c| c.id.clone()),
        ),
        next_key_of(
            DIRECTORY_PAGE_ROWS,
            dkim_rows.len(),
            dkim_rows.get(DIRECTORY_PAGE_ROWS - 1).map(|k| k.id.clone()),
        ),
        next_key_of(
            CERTIFICATE_PAGE_ROWS,
            certificate_rows.len(),
            certificate_rows
                .get(CERTIFICATE_PAGE_ROWS - 1)
                .map(|c| c.domain.clone()),
        ),
    ];
    domains.truncate(DIRECTORY_PAGE_ROWS);
    mailboxes.truncate(DIRECTORY_PAGE_ROWS);
    aliases.truncate(DIRECTORY_PAGE_ROWS);
    credentials.truncate(DIRECTORY_PAGE_ROWS);
    dkim_rows.truncate(DIRECTORY_PAGE_ROWS);
    certificate_rows.truncate(CERTIFICATE_PAGE_ROWS);
    // Claims no tenant holds come as one tombstone per name.
    domains.dedup_by(|a, b| a.domain == b.domain);
    let next_cursor = more.then(|| {
        encode_cursor(&[
            json!(upto),
            json!(keys[0]),
            json!(keys[1]),
            json!(keys[2]),
            json!(keys[3]),
            json!(keys[4]),
            json!(keys[5]),
        ])
    });
    let sending = sending_limits(&platform, &domains).await?;
    let spam = spam_thresholds(&platform, &domains).await?;
    let resealer = Resealer::new(&ctx.env);
    let delta = DirectoryDelta {
        version,
        full,
        domains: domains
            .into_iter()
            .map(|d| DomainEntry {
                sending: sending.get(&d.tenant_id).copied().unwrap_or_default(),
                spam: spam.get(&d.tenant_id).copied().unwrap_or_default(),
                tenant_id: d.tenant_id,
                domain: d.domain,
                status: d.status.directory_status().unwrap_or(DomainStatus::Active),
                deleted: d.deleted != 0.0 || d.status.directory_status().is_none(),
                max_mailboxes: Limit::from_i64(d.max_mailboxes as i64),
                max_storage_mb: Limit::from_i64(d.max_storage_mb as i64),
                dmarc_handling: d.dmarc_handling,
                version: d.version as u64,
            })
            .collect(),
        mailboxes: mailboxes
            .into_iter()
            .map(|m| MailboxEntry {
                tenant_id: m.tenant_id,
                address: m.address,
                kind: m.kind,
                status: m.status,
                quota_mb: Limit::from_i64(m.quota_mb as i64),
                version: m.version as u64,
                deleted: m.deleted != 0.0,
            })
            .collect(),
        aliases: aliases
            .into_iter()
            .map(|a| {
                Ok(AliasEntry {
                    tenant_id: a.tenant_id,
                    address: a.address,
                    targets: serde_json::from_str(&a.targets)
                        .map_err(|_| internal("an alias's targets column is not a JSON array"))?,
                    version: a.version as u64,
                    deleted: a.deleted != 0.0,
                })
            })
            .collect::<Outcome<Vec<_>>>()?,
        credentials: credentials
            .into_iter()
            .map(|c| CredentialEntry {
                tenant_id: c.tenant_id,
                id: c.id,
                mailbox: c.mailbox,
                hash: c.hash,
                version: c.version as u64,
                deleted: c.deleted != 0.0,
            })
            .collect(),
        dkim: dkim_entries(&resealer, dkim_rows),
        certificates: certificate_entries(&resealer, certificate_rows)?,
    };
    let mut answer = serde_json::to_value(&delta).map_err(internal)?;
    answer["next_cursor"] = json!(next_cursor);
    json(200, &answer)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageItem {
    domain: String,
    day: String,
    messages: i64,
    bytes: i64,
    storage_bytes: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageBatch {
    batch_id: String,
    items: Vec<UsageItem>,
    /// App passwords the relay saw used, with the last time (for the API's `last_used_at`).
    #[serde(default)]
    app_passwords_used: Vec<AppPasswordUse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppPasswordUse {
    id: String,
    at: i64,
}

/// The start of a subquery finding the tenant that holds a name (`... = <name>`).
const HOLDER: &str =
    "SELECT 1 FROM mail_domains h WHERE h.deleted = 0 AND h.status != 'pending' AND h.domain";

/// Rows of each table (domains, mailboxes, aliases) one directory page carries; a larger
/// snapshot or delta comes in several pages linked by `next_cursor`.
const DIRECTORY_PAGE_ROWS: usize = 1000;
/// Certificates per page: each carries a chain of up to 64 KiB.
const CERTIFICATE_PAGE_ROWS: usize = 50;

/// Items a batch may carry (one per domain and day; a relay pushes every interval).
const MAX_USAGE_ITEMS: usize = 1000;

fn check_batch(batch: &UsageBatch) -> Outcome<()> {
    if batch.batch_id.is_empty()
        || batch.batch_id.len() > 128
        || !batch.batch_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            "batch_id",
            "must be 1 to 128 visible ASCII characters",
        ));
    }
    if batch.app_passwords_used.len() > MAX_USAGE_ITEMS {
        return Err(invalid(
            "app_passwords_used",
            format!("at most {MAX_USAGE_ITEMS} entries per batch"),
        ));
    }
    for (i, used) in batch.app_passwords_used.iter().enumerate() {
        if tenantry_core::ids::check(&used.id, "ap").is_err()
            || !(0..=tenantry_edge::http::MAX_STORED_INT).contains(&used.at)
        {
            return Err(invalid(
                &format!("app_passwords_used[{i}]"),
                "must be {id: an app password id, at: seconds since the epoch}",
            ));
        }
    }
    if batch.items.len() > MAX_USAGE_ITEMS {
        return Err(invalid(
            "items",
            format!("at most {MAX_USAGE_ITEMS} items per batch"),
        ));
    }
    for (i, item) in batch.items.iter().enumerate() {
        tenantry_core::validate::day(&format!("items[{i}].day"), &item.day)?;
        let largest = tenantry_edge::http::MAX_STORED_INT;
        let counts = [item.messages, item.bytes, item.storage_bytes];
        if counts.iter().any(|c| !(0..=largest).contains(c)) {
            return Err(invalid(
                &format!("items[{i}]"),
                format!("counts must be 0 to {largest}"),
            ));
        }
        if item.domain.is_empty() || item.domain.len() > 253 {
            return Err(invalid(&format!("items[{i}].domain"), "must be a domain"));
        }
    }
    Ok(())
}

/// Applies a usage batch once. Items for a domain this key does not serve (unknown,
/// deleted, of a deleted tenant or of a tenant outside the key's scope) are refused and
/// listed, and nothing of them is written; the others are applied. The batch is
/// acknowledged either way, so one stale item cannot hold the relay's outbox forever.
async fn usage(req: &mut Request, ctx: &Ctx, scope: &RelayScope) -> Outcome<Response> {
    let batch: UsageBatch = read_json(req).await?;
    check_batch(&batch)?;
    let platform = PlatformDb(&ctx.db);
    let domains: Vec<String> = batch
        .items
        .iter()
        .map(|i| i.domain.to_ascii_lowercase())
        .collect();
    #[derive(Deserialize)]
    struct Served {
        tenant_id: String,
        domain: String,
    }
    let served: Vec<Served> = platform
        .all(
            "SELECT d.tenant_id, d.domain FROM mail_domains d JOIN tenants t ON t.id = d.tenant_id \
             WHERE d.domain IN (SELECT value FROM json_each(?1)) AND d.deleted = 0 AND d.status != 'pending' AND t.status != 'deleted'",
            &[text(&serde_json::to_string(&domains).map_err(internal)?)],
        )
        .await?;
    let mut statements = vec![platform.statement(
        "INSERT INTO relay_usage_batches (batch_id, relay_key_id, received_at) VALUES (?1, ?2, ?3)",
        &[text(&batch.batch_id), text(&ctx.subject), int(ctx.now)],
    )?];
    let mut refused = Vec::new();
    for (i, (item, domain)) in batch.items.iter().zip(&domains).enumerate() {
        let owner = served
            .iter()
            .find(|s| &s.domain == domain && scope.covers(&s.tenant_id));
        let Some(owner) = owner else {
            refused.push(json!({"index": i, "domain": domain, "reason": "not a domain this relay key serves"}));
            continue;
        };
        statements.push(TenantDb::new(&ctx.db, &owner.tenant_id).statement(
            "INSERT INTO mail_usage (tenant_id, domain, day, messages, bytes, storage_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (tenant_id, domain, day) DO UPDATE SET messages = messages + excluded.messages, \
             bytes = bytes + excluded.bytes, storage_bytes = excluded.storage_bytes",
            &[text(domain), text(&item.day), int(item.messages), int(item.bytes), int(item.storage_bytes)],
        )?);
    }
    // Last uses only move forward, and only for passwords of tenants this key serves.
    let (in_scope, scope_arg) = scope_filter(scope, 3)?;
    for used in &batch.app_passwords_used {
        let mut args = vec![text(&used.id), int(used.at)];
        args.extend(scope_arg.clone());
        statements.push(platform.statement(
            &format!("UPDATE mail_app_passwords SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE id = ?1 AND deleted = 0{in_scope}"),
            &args,
        )?);
    }
    match platform.batch(statements).await {
        Ok(_) => json(
            200,
            &json!({"batch_id": batch.batch_id, "applied": true, "refused": refused}),
        ),
        Err(p) if p.code == ErrorCode::Conflict => json(
            200,
            &json!({"batch_id": batch.batch_id, "applied": false, "refused": []}),
        ),
        Err(p) => Err(p),
    }
}
