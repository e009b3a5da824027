// Mail: the tenant's domains (proven by a DNS record before they are hosted), their
// mailboxes and app passwords, the DKIM records to publish and the certificate the domain is
// served with. What is created (a domain, a mailbox, a key) is asked for in cards of its own,
// apart from what is shown.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { formatMegabytes, formatNumber, named, plural, t } from '../i18n.js';
import { allows } from '../nav.js';
import { ActionButton, CopyField, Form, Loaded, Notice, Secret, Table, formatDate, formatTime, level, useLoad } from '../ui.jsx';

const STATUSES = ['pending', 'active', 'suspended', 'lapsed'];
const ORGANISATION_TYPES = ['hospital', 'clinic', 'practice', 'laboratory', 'other'];
const MAILBOX_KINDS = ['personal', 'organizational'];

/** A TXT record's value as the DNS strings it is published as: a string holds at most 255
 * characters, so a longer value (an RSA DKIM key) is several quoted strings in a row. */
export function dnsStrings(value, size = 255) {
  const parts = [];
  for (let i = 0; i < value.length; i += size) parts.push(value.slice(i, i + size));
  return (parts.length ? parts : ['']).map((part) => `"${part.replace(/(["\\])/g, '\\$1')}"`).join(' ');
}

/** Whether the domain's proof record has gone while it is held (it lapses unless it is back). */
function recordMissing(d) {
  return d.status === 'active' && Boolean(d.proof && d.proof.missing_since);
}

/** A domain's status as a badge: words (never the colour alone) and a class for the colour. */
function DomainStatus({ domain: d }) {
  const missing = recordMissing(d);
  const kind = missing ? 'warning' : { pending: 'warning', active: 'ok', lapsed: 'danger' }[d.status] || 'muted';
  const label = missing ? t('domain_status_missing') : STATUSES.includes(d.status) ? t(`domain_status_${d.status}`) : d.status;
  return <span class={`badge ${kind}`} data-status={missing ? 'missing' : d.status}>{label}</span>;
}

/** "3 / 50 mailboxes" (the count against the limit; ∞ for none). */
function countOf(key, used, limit) {
  const unlimited = limit === null || limit === undefined || limit < 0;
  return plural(key, unlimited ? used : limit, { used: formatNumber(used), limit: unlimited ? '∞' : formatNumber(limit) });
}

export function Mail({ grants, route }) {
  const domains = useLoad('/v1/mail/domains?limit=200');
  const usage = useLoad(allows(grants, 'usage:read') ? '/v1/usage' : null);
  const selected = route.params.get('domain');
  const info = selected && domains.data
    ? domains.data.domains.find((d) => d.domain.toLowerCase() === selected.toLowerCase())
    : null;
  const creation = allows(grants, 'mail:create') && (
    <section class="card form-card" id="domain-creation">
      <h2>{t('domain_new')}</h2>
      <Form
        id="new-domain"
        fields={[
          { name: 'domain', label: t('domain'), required: true, placeholder: 'hopital.example', help: t('domain_help') },
          { name: 'organization_name', label: t('establishment_name'), required: true },
          { name: 'organization_type', label: t('establishment_type'), type: 'select', options: ORGANISATION_TYPES.map((o) => ({ value: o, label: named('orgtype', o) })) },
          { name: 'max_mailboxes', label: t('max_mailboxes'), type: 'number', required: true },
          { name: 'max_storage_mb', label: t('max_storage_mb'), type: 'number', required: true },
        ]}
        initial={{ organization_type: 'clinic', max_mailboxes: '10', max_storage_mb: '1024' }}
        label={t('create')}
        submit={(v) => api.call('POST', '/v1/mail/domains', { ...v, max_mailboxes: Number(v.max_mailboxes), max_storage_mb: Number(v.max_storage_mb) })}
        onDone={(d) => { domains.reload(); location.hash = `#/mail?domain=${encodeURIComponent(d.domain)}`; }}
      />
    </section>
  );
  return (
    <>
      <h1>{t('nav_mail')}</h1>
      <section class="card">
        <h2>{t('mail_domains')}</h2>
        {usage.data && (
          <p class="mail-usage" id="tenant-mailboxes">
            {t('mailboxes_in_tenant')}{' '}
            <span class={`count ${level(usage.data.usage.mailboxes, usage.data.limits.mailboxes)}`}>{countOf('n_mailboxes_of', usage.data.usage.mailboxes, usage.data.limits.mailboxes)}</span>
          </p>
        )}
        <div id="domain-list" data-loads={domains.loads}>
          <Loaded state={domains}>
            {(data) => (
              <Table
                columns={[
                  { label: t('domain'), value: (d) => <a href={`#/mail?domain=${encodeURIComponent(d.domain)}`} aria-current={info && info.domain === d.domain ? 'true' : undefined}>{d.domain}</a> },
                  { label: t('establishment'), value: (d) => <>{d.organization_name}<br /><small class="muted">{named('orgtype', d.organization_type)}</small></> },
                  { label: t('status'), value: (d) => <DomainStatus domain={d} /> },
                  { label: t('max_mailboxes_short'), value: (d) => (d.max_mailboxes < 0 ? t('no_limit') : formatNumber(d.max_mailboxes)) },
                  { label: t('max_storage_short'), value: (d) => (d.max_storage_mb < 0 ? t('no_limit') : formatMegabytes(d.max_storage_mb)) },
                ]}
                rows={data.domains}
                empty={t('domains_none')}
              />
            )}
          </Loaded>
        </div>
      </section>
      {!selected && creation}
      {selected && <Domain key={selected} domain={selected} info={info} grants={grants} onChanged={domains.reload} />}
      {selected && creation}
    </>
  );
}

/** `info` is the domain's object from the list (absent until the list is loaded). */
function Domain({ domain, info, grants, onChanged }) {
  const base = `/v1/mail/domains/${encodeURIComponent(domain)}`;
  const mailboxes = useLoad(`${base}/mailboxes?limit=200`);
  const [open, setOpen] = useState(null);
  const domainQuota = info && info.max_storage_mb >= 0 ? formatMegabytes(info.max_storage_mb) : t('no_limit');
  const quota = (m) => (m.quota_mb < 0 ? <span class="muted">{t('quota_of_domain', { size: domainQuota })}</span> : formatMegabytes(m.quota_mb));
  return (
    <div class="domain-details" id="domain-details" aria-label={domain}>
      <h2 class="domain-title">{domain}{info && <> <DomainStatus domain={info} /></>}</h2>
      {info && info.verification && <Verification base={base} info={info} grants={grants} onChanged={onChanged} />}
      <section class="card" aria-label={t('mailboxes_of', { domain })}>
        <h2>{t('mailboxes_of', { domain })}</h2>
        {mailboxes.data && (
          <p class="mail-usage" id="mailbox-count">
            <span class={`count ${info ? level(mailboxes.data.mailboxes.length, info.max_mailboxes) : ''}`}>
              {countOf('n_mailboxes_of', mailboxes.data.mailboxes.length, info ? info.max_mailboxes : -1)}
            </span>
            {info && <> · {t('domain_storage', { size: domainQuota })}</>}
          </p>
        )}
        <div id="mailbox-list" data-loads={mailboxes.loads}>
          <Loaded state={mailboxes}>
            {(data) => (
              <Table
                columns={[
                  { label: t('address'), value: (m) => m.address },
                  { label: t('kind'), value: (m) => named('mailbox_kind', m.kind) },
                  { label: t('quota'), value: quota },
                  { label: t('status'), value: (m) => named('status', m.status) },
                ]}
                rows={data.mailboxes}
                empty={t('mailboxes_none')}
                actions={(m) => (
                  <>
                    <button type="button" class="secondary" aria-label={`${t('app_passwords')}: ${m.address}`} aria-expanded={open === m.address ? 'true' : 'false'} onClick={() => setOpen(open === m.address ? null : m.address)}>{t('app_passwords')}</button>
                    {allows(grants, 'mail:delete') && <ActionButton danger label={t('delete')} context={m.address} confirmText={t('confirm_delete', { name: m.address })} action={() => api.call('DELETE', `${base}/mailboxes/${encodeURIComponent(m.address)}`)} onDone={() => { if (open === m.address) setOpen(null); mailboxes.reload(); }} />}
                  </>
                )}
              />
            )}
          </Loaded>
        </div>
      </section>
      {open && <AppPasswords key={open} base={base} address={open} grants={grants} onClose={() => setOpen(null)} />}
      {allows(grants, 'mail:create') && (
        <section class="card form-card" id="mailbox-creation">
          <h2>{t('mailbox_add_to', { domain })}</h2>
          <Form
            id="new-mailbox"
            fields={[
              { name: 'address', label: t('address'), type: 'email', required: true, placeholder: `accueil@${domain}` },
              { name: 'kind', label: t('kind'), type: 'select', options: MAILBOX_KINDS.map((k) => ({ value: k, label: named('mailbox_kind', k) })) },
              { name: 'quota_mb', label: t('quota_mb'), type: 'number', help: t('quota_help') },
            ]}
            initial={{ kind: 'personal' }}
            label={t('mailbox_new')}
            submit={(v) => api.call('POST', `${base}/mailboxes`, { address: v.address, kind: v.kind, ...(v.quota_mb ? { quota_mb: Number(v.quota_mb) } : {}) })}
            onDone={mailboxes.reload}
          />
        </section>
      )}
      {info && <DmarcHandling key={info.dmarc_handling} base={base} info={info} grants={grants} onChanged={onChanged} />}
      <Records base={base} />
      <Dkim base={base} grants={grants} />
      <Certificate base={base} grants={grants} />
    </div>
  );
}

const DMARC_HANDLINGS = ['policy', 'quarantine', 'reject', 'tag'];

/** What the MX does with mail to this domain that fails DMARC (forged senders). */
function DmarcHandling({ base, info, grants, onChanged }) {
  return (
    <section class="card form-card" id="dmarc-handling" aria-label={t('dmarc_handling')}>
      <h2>{t('dmarc_handling')}</h2>
      <p class="muted">{t('dmarc_handling_help')}</p>
      <p id="dmarc-handling-now">{named('dmarc_handling', info.dmarc_handling)}</p>
      {allows(grants, 'mail:update') && (
        <Form
          id="dmarc-handling-form"
          fields={[{ name: 'dmarc_handling', label: t('dmarc_handling_choice'), type: 'select', options: DMARC_HANDLINGS.map((h) => ({ value: h, label: named('dmarc_handling', h) })) }]}
          initial={{ dmarc_handling: info.dmarc_handling }}
          reset={false}
          label={t('save')}
          submit={(v) => api.call('PATCH', base, { dmarc_handling: v.dmarc_handling })}
          onDone={onChanged}
        />
      )}
    </section>
  );
}

/** How often the list is loaded again after a check is asked for, and how many times. */
const RECHECK_MS = 15000;
const RECHECK_TRIES = 8;

/**
 * The DNS record that proves the domain, while it is not proven (pending, lapsed) or its
 * record is missing: the record to copy, the last lookup and "Check now", after which the
 * domain list is loaded again until the relays' lookup is seen (about a minute).
 */
function Verification({ base, info, grants, onChanged }) {
  // {before: the last lookup when the check was asked for, tries: reloads since}
  const [asked, setAsked] = useState(null);
  const proof = info.proof || {};
  const record = info.verification;
  const missing = recordMissing(info);
  const unproven = info.status === 'pending' || info.status === 'lapsed';
  // The lookup asked for has happened: `checked_at` is null while a check is queued.
  const looked = asked && proof.checked_at && proof.checked_at !== asked.before;
  useEffect(() => {
    if (!asked || looked || asked.tries >= RECHECK_TRIES) return undefined;
    const timer = setTimeout(() => {
      setAsked((a) => a && { ...a, tries: a.tries + 1 });
      onChanged();
    }, RECHECK_MS);
    return () => clearTimeout(timer);
  }, [asked, looked]);
  const titleId = `verification-title-${info.domain}`;
  if (!unproven && !missing) {
    // Proven (or vouched for) since the check this page asked for: say so once.
    if (!asked || info.status !== 'active') return null;
    return (
      <section class="card verification" id="domain-verification" aria-labelledby={titleId}>
        <h2 id={titleId}>{t('proof_title', { domain: info.domain })}</h2>
        <Notice kind="ok">{t('proof_proven', { domain: info.domain })}</Notice>
      </section>
    );
  }
  let explanation = t('proof_explain');
  let warning = null;
  if (info.status === 'lapsed') {
    explanation = t('proof_explain_lapsed');
    warning = proof.lapses_at ? t('proof_lapsed_at', { when: formatTime(proof.lapses_at), since: formatTime(proof.missing_since) }) : null;
  } else if (missing) {
    explanation = t('proof_explain_missing');
    warning = t('proof_lapses_at', { when: formatTime(proof.lapses_at), since: formatTime(proof.missing_since) });
  }
  const ask = () => api.call('POST', `${base}/verify`);
  return (
    <section class={`card verification ${info.status === 'lapsed' ? 'danger' : 'warning'}`} id="domain-verification" aria-labelledby={titleId}>
      <h2 id={titleId}>{t('proof_title', { domain: info.domain })}</h2>
      <p class={`notice ${info.status === 'lapsed' ? 'error' : 'warning'}`}>
        <DomainStatus domain={info} /> {explanation}
      </p>
      {warning && <p class="verification-lapse" id="verification-lapse">{warning}</p>}
      <dl class="copy-fields">
        <CopyField label={t('name')} value={record.name} id="verification-name" />
        <CopyField label={t('record_type')} value={record.type} id="verification-type" />
        <CopyField label={t('value')} value={record.value} id="verification-value" />
        <CopyField label={t('zone_line')} value={record.record} id="verification-record" />
      </dl>
      <p>
        {t('proof_last_check')}{' '}
        <span id="verification-checked">{proof.checked_at ? formatTime(proof.checked_at) : t(asked ? 'proof_queued' : 'proof_never')}</span>
      </p>
      {asked && !looked && (
        <p class="notice ok verification-asked" id="verification-asked" role="status">
          {t('proof_asked')}{' '}
          <button type="button" class="secondary" onClick={onChanged} aria-label={`${t('refresh')}: ${info.domain}`}>{t('refresh')}</button>
        </p>
      )}
      {looked && <p class="notice warning" role="status">{t('proof_not_found')}</p>}
      {allows(grants, 'mail:update') && (
        <div class="verification-check">
          <ActionButton
            id="verification-check"
            label={t('proof_check')}
            context={info.domain}
            action={ask}
            onDone={(answer) => {
              setAsked({ before: (answer && answer.proof ? answer.proof.checked_at : proof.checked_at) ?? null, tries: 0 });
              onChanged();
            }}
          />
        </div>
      )}
    </section>
  );
}

function AppPasswords({ base, address, grants, onClose }) {
  const path = `${base}/mailboxes/${encodeURIComponent(address)}/passwords`;
  const state = useLoad(path);
  const [made, setMade] = useState(null);
  return (
    <section class="card" id="app-passwords" aria-label={t('app_passwords_of', { address })}>
      <h2>{t('app_passwords_of', { address })}</h2>
      {made && <Secret value={made.password} label={t('password_shown_once', { label: made.label })} />}
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('label'), value: (p) => p.label },
              { label: t('created'), value: (p) => formatDate(p.created_at) },
              { label: t('last_used'), value: (p) => (p.last_used_at ? formatTime(p.last_used_at) : t('never')) },
            ]}
            rows={data.passwords}
            empty={t('app_passwords_none')}
            actions={allows(grants, 'mail:update') ? (p) => <ActionButton danger label={t('revoke')} context={p.label} action={() => api.call('DELETE', `${path}/${p.id}`)} onDone={state.reload} /> : null}
          />
        )}
      </Loaded>
      {allows(grants, 'mail:update') && (
        <div class="form-panel">
          <h3>{t('app_password_new')}</h3>
          <Form
            id="new-app-password"
            fields={[{ name: 'label', label: t('label'), required: true, placeholder: 'Thunderbird', help: t('app_password_help') }]}
            label={t('create')}
            submit={(v) => api.call('POST', path, v)}
            onDone={(p) => { setMade(p); state.reload(); }}
          />
        </div>
      )}
      <button type="button" class="secondary" onClick={onClose}>{t('close')}</button>
    </section>
  );
}

/** One DKIM key: its state, and the TXT record to publish, split into DNS strings. */
function DkimKey({ dkim: k }) {
  const split = dnsStrings(k.dns.value);
  const strings = Math.ceil(k.dns.value.length / 255);
  return (
    <div class="dkim-key" data-selector={k.selector} data-algorithm={k.algorithm}>
      <h3>
        <span class={`badge ${k.state === 'active' ? 'ok' : 'muted'}`}>{named('dkim_state', k.state)}</span>{' '}
        {named('algorithm', k.algorithm)} · {t('selector')} <code>{k.selector}</code> · {t('created')} {formatDate(k.created_at)}
      </h3>
      <dl class="copy-fields">
        <CopyField label={t('name')} value={k.dns.name} id={`dkim-name-${k.selector}`} />
        <CopyField label={t('record_type')} value={k.dns.type || 'TXT'} id={`dkim-type-${k.selector}`} />
        <CopyField label={t('dkim_value')} value={split} shown={split.replace(/" "/g, '"\n"')} id={`dkim-value-${k.selector}`} kind="dkim-value" />
      </dl>
      {strings > 1 && <p class="muted dkim-split-help">{plural('dkim_split', strings)}</p>}
    </div>
  );
}

/** The records the domain publishes for its mail (DKIM's are in their own card), and the
 * MTA-STS policy its mta-sts host serves. */
function Records({ base }) {
  const state = useLoad(`${base}/records`);
  return (
    <section class="card" id="dns-records">
      <h2>{t('dns_records')}</h2>
      <p class="muted">{t('dns_records_help')}</p>
      <Loaded state={state}>
        {(data) => (
          <>
            {data.records.map((r, i) => (
              <div class="dns-record" data-purpose={r.purpose}>
                <h3>{named('record_purpose', r.purpose.replace('-', '_'))}</h3>
                <dl class="copy-fields">
                  <CopyField label={t('name')} value={r.name} id={`record-name-${i}`} />
                  <CopyField label={t('record_type')} value={r.type} id={`record-type-${i}`} />
                  <CopyField label={t('record_value')} value={r.type === 'TXT' ? dnsStrings(r.value) : r.value} id={`record-value-${i}`} />
                </dl>
              </div>
            ))}
            <div class="dns-record" data-purpose="mta-sts-policy">
              <h3>{t('mta_sts_policy')}</h3>
              <p class="muted">{t('mta_sts_policy_help', { url: data.mta_sts.url })}</p>
              <dl class="copy-fields">
                <CopyField label={t('mta_sts_policy')} value={data.mta_sts.policy} id="mta-sts-policy" />
              </dl>
            </div>
          </>
        )}
      </Loaded>
    </section>
  );
}

function Dkim({ base, grants }) {
  const state = useLoad(`${base}/dkim`);
  return (
    <section class="card" id="dkim">
      <h2>{t('dkim')}</h2>
      <Loaded state={state}>
        {(data) => (data.keys.length
          ? data.keys.map((k) => <DkimKey dkim={k} />)
          : <p class="empty">{t('dkim_none')}</p>)}
      </Loaded>
      {allows(grants, 'mail:update') && (
        <div class="form-panel">
          <h3>{t('dkim_new')}</h3>
          <Form
            id="new-dkim"
            fields={[{ name: 'algorithm', label: t('algorithm'), type: 'select', options: ['rsa', 'ed25519'].map((a) => ({ value: a, label: named('algorithm', a) })) }]}
            initial={{ algorithm: 'rsa' }}
            label={t('create')}
            submit={(v) => api.call('POST', `${base}/dkim`, v)}
            onDone={state.reload}
          />
        </div>
      )}
    </section>
  );
}

function Certificate({ base, grants }) {
  const state = useLoad(`${base}/certificate`);
  const missing = state.problem && state.problem.status === 404;
  return (
    <section class="card" id="certificate-card">
      <h2>{t('certificate')}</h2>
      {missing && <p>{t('certificate_default')}</p>}
      {!missing && (
        <Loaded state={state}>
          {(c) => (
            <dl class="details">
              <dt>{t('subject')}</dt><dd>{c.subject}</dd>
              <dt>{t('names')}</dt><dd>{c.names.join(', ')}</dd>
              <dt>{t('issuer')}</dt><dd>{c.issuer}</dd>
              <dt>{t('serial')}</dt><dd><code>{c.serial}</code></dd>
              <dt>{t('expires')}</dt><dd>{formatDate(c.not_after)}</dd>
            </dl>
          )}
        </Loaded>
      )}
      {allows(grants, 'mail:update') && (
        <div class="form-panel">
          <h3>{t(state.data ? 'certificate_replace' : 'certificate_upload')}</h3>
          <Form
            id="certificate"
            fields={[
              { name: 'certificate_pem', label: t('certificate_pem'), type: 'textarea', required: true, rows: 5, secret: true },
              { name: 'chain_pem', label: t('chain_pem'), type: 'textarea', rows: 4, secret: true },
              { name: 'private_key_pem', label: t('private_key_pem'), type: 'textarea', required: true, rows: 5, secret: true },
            ]}
            label={t('upload')}
            submit={(v) => api.call('PUT', `${base}/certificate`, v.chain_pem ? v : { certificate_pem: v.certificate_pem, private_key_pem: v.private_key_pem })}
            onDone={state.reload}
          />
          {state.data && <ActionButton danger label={t('certificate_remove')} action={() => api.call('DELETE', `${base}/certificate`)} onDone={state.reload} />}
        </div>
      )}
    </section>
  );
}
