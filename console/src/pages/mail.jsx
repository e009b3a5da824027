// Mail: the tenant's domains (proven by a DNS record before they are hosted), their
// mailboxes and app passwords, the DKIM records to publish and the certificate the domain is
// served with.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { t } from '../i18n.js';
import { allows } from '../nav.js';
import { ActionButton, CopyField, Form, Loaded, Notice, Secret, Table, formatTime, useLoad } from '../ui.jsx';

const STATUSES = ['pending', 'active', 'suspended', 'lapsed'];

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

export function Mail({ grants, route }) {
  const domains = useLoad('/v1/mail/domains?limit=200');
  const selected = route.params.get('domain');
  const info = selected && domains.data
    ? domains.data.domains.find((d) => d.domain.toLowerCase() === selected.toLowerCase())
    : null;
  return (
    <>
      <h1>{t('nav_mail')}</h1>
      <div id="domain-list" data-loads={domains.loads}>
        <Loaded state={domains}>
          {(data) => (
            <Table
              columns={[
                { label: t('domain'), value: (d) => <a href={`#/mail?domain=${encodeURIComponent(d.domain)}`}>{d.domain}</a> },
                { label: t('organisation_name'), value: (d) => d.organization_name },
                { label: t('status'), value: (d) => <DomainStatus domain={d} /> },
                { label: t('q_mailboxes'), value: (d) => (d.max_mailboxes < 0 ? '∞' : d.max_mailboxes) },
              ]}
              rows={data.domains}
            />
          )}
        </Loaded>
      </div>
      {allows(grants, 'mail:create') && (
        <section class="card">
          <h2>{t('domain_new')}</h2>
          <Form
            id="new-domain"
            fields={[
              { name: 'domain', label: t('domain'), required: true, placeholder: 'hopital.example', help: t('domain_help') },
              { name: 'organization_name', label: t('organisation_name'), required: true },
              { name: 'organization_type', label: t('organisation_type'), type: 'select', options: ['hospital', 'clinic', 'practice', 'laboratory', 'other'] },
              { name: 'max_mailboxes', label: t('max_mailboxes'), type: 'number', required: true },
              { name: 'max_storage_mb', label: t('max_storage_mb'), type: 'number', required: true },
            ]}
            initial={{ organization_type: 'clinic', max_mailboxes: '10', max_storage_mb: '1024' }}
            label={t('create')}
            submit={(v) => api.call('POST', '/v1/mail/domains', { ...v, max_mailboxes: Number(v.max_mailboxes), max_storage_mb: Number(v.max_storage_mb) })}
            onDone={(d) => { domains.reload(); location.hash = `#/mail?domain=${encodeURIComponent(d.domain)}`; }}
          />
        </section>
      )}
      {selected && <Domain key={selected} domain={selected} info={info} grants={grants} onChanged={domains.reload} />}
    </>
  );
}

/** `info` is the domain's object from the list (absent until the list is loaded). */
function Domain({ domain, info, grants, onChanged }) {
  const base = `/v1/mail/domains/${encodeURIComponent(domain)}`;
  const mailboxes = useLoad(`${base}/mailboxes?limit=200`);
  const [open, setOpen] = useState(null);
  return (
    <>
      {info && info.verification && <Verification base={base} info={info} grants={grants} onChanged={onChanged} />}
      <section class="card" aria-label={domain}>
        <h2>{t('mailboxes_of', { domain })}</h2>
        <Loaded state={mailboxes}>
          {(data) => (
            <Table
              columns={[
                { label: t('address'), value: (m) => m.address },
                { label: t('kind'), value: (m) => m.kind },
                { label: t('quota'), value: (m) => (m.quota_mb < 0 ? '—' : `${m.quota_mb} MB`) },
                { label: t('status'), value: (m) => m.status },
              ]}
              rows={data.mailboxes}
              actions={(m) => (
                <>
                  <button type="button" class="secondary" onClick={() => setOpen(m.address)}>{t('app_passwords')}</button>
                  {allows(grants, 'mail:delete') && <ActionButton danger label={t('delete')} context={m.address} confirmText={t('confirm_delete', { name: m.address })} action={() => api.call('DELETE', `${base}/mailboxes/${encodeURIComponent(m.address)}`)} onDone={mailboxes.reload} />}
                </>
              )}
            />
          )}
        </Loaded>
        {allows(grants, 'mail:create') && (
          <Form
            id="new-mailbox"
            fields={[
              { name: 'address', label: t('address'), type: 'email', required: true, placeholder: `accueil@${domain}` },
              { name: 'kind', label: t('kind'), type: 'select', options: ['personal', 'organizational'] },
              { name: 'quota_mb', label: t('quota_mb'), type: 'number', help: t('quota_help') },
            ]}
            initial={{ kind: 'personal' }}
            label={t('mailbox_new')}
            submit={(v) => api.call('POST', `${base}/mailboxes`, { address: v.address, kind: v.kind, ...(v.quota_mb ? { quota_mb: Number(v.quota_mb) } : {}) })}
            onDone={mailboxes.reload}
          />
        )}
      </section>
      {open && <AppPasswords key={open} base={base} address={open} grants={grants} />}
      <Dkim base={base} grants={grants} />
      <Certificate base={base} grants={grants} />
    </>
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

function AppPasswords({ base, address, grants }) {
  const path = `${base}/mailboxes/${encodeURIComponent(address)}/passwords`;
  const state = useLoad(path);
  const [made, setMade] = useState(null);
  return (
    <section class="card">
      <h2>{t('app_passwords_of', { address })}</h2>
      {made && <Secret value={made.password} label={t('password_shown_once', { label: made.label })} />}
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('label'), value: (p) => p.label },
              { label: t('created'), value: (p) => formatTime(p.created_at) },
              { label: t('last_used'), value: (p) => formatTime(p.last_used_at) },
            ]}
            rows={data.passwords}
            actions={allows(grants, 'mail:update') ? (p) => <ActionButton danger label={t('revoke')} context={p.label} action={() => api.call('DELETE', `${path}/${p.id}`)} onDone={state.reload} /> : null}
          />
        )}
      </Loaded>
      {allows(grants, 'mail:update') && (
        <Form
          id="new-app-password"
          fields={[{ name: 'label', label: t('label'), required: true, placeholder: 'Thunderbird' }]}
          label={t('create')}
          submit={(v) => api.call('POST', path, v)}
          onDone={(p) => { setMade(p); state.reload(); }}
        />
      )}
    </section>
  );
}

function Dkim({ base, grants }) {
  const state = useLoad(`${base}/dkim`);
  return (
    <section class="card">
      <h2>{t('dkim')}</h2>
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('state'), value: (k) => k.state },
              { label: t('algorithm'), value: (k) => k.algorithm },
              { label: t('dns_record'), value: (k) => <code>{k.dns.name} TXT "{k.dns.value}"</code> },
            ]}
            rows={data.keys}
            empty={t('dkim_none')}
          />
        )}
      </Loaded>
      {allows(grants, 'mail:update') && (
        <Form
          id="new-dkim"
          fields={[{ name: 'algorithm', label: t('algorithm'), type: 'select', options: ['rsa', 'ed25519'] }]}
          initial={{ algorithm: 'rsa' }}
          label={t('dkim_new')}
          submit={(v) => api.call('POST', `${base}/dkim`, v)}
          onDone={state.reload}
        />
      )}
    </section>
  );
}

function Certificate({ base, grants }) {
  const state = useLoad(`${base}/certificate`);
  const missing = state.problem && state.problem.status === 404;
  return (
    <section class="card">
      <h2>{t('certificate')}</h2>
      {missing && <p>{t('certificate_default')}</p>}
      {!missing && (
        <Loaded state={state}>
          {(c) => (
            <dl>
              <dt>{t('subject')}</dt><dd>{c.subject}</dd>
              <dt>{t('names')}</dt><dd>{c.names.join(', ')}</dd>
              <dt>{t('issuer')}</dt><dd>{c.issuer}</dd>
              <dt>{t('serial')}</dt><dd><code>{c.serial}</code></dd>
              <dt>{t('expires')}</dt><dd>{formatTime(c.not_after)}</dd>
            </dl>
          )}
        </Loaded>
      )}
      {allows(grants, 'mail:update') && (
        <>
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
        </>
      )}
    </section>
  );
}
