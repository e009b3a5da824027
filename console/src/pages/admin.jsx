// The platform operator's pages (superadmin): tenants (search, create in one step, suspend,
// activate, plan and limit overrides), global and per-tenant statistics in words and charts,
// relay keys and the relays' health.
import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { formatDuration, formatNumber, formatRelative, named, plural, t } from '../i18n.js';
import { ActionButton, Figures, Form, Loaded, Notice, Secret, ShareChart, Table, formatDate, formatTime, useLoad, usePages } from '../ui.jsx';

const PLANS = ['free', 'starter', 'professional', 'enterprise'];
const STATUSES = ['active', 'pending', 'suspended', 'deleted'];
const QUOTAS = ['users', 'storage_mb', 'api_calls_per_month', 'clients', 'appointments_per_month', 'mailboxes',
  'requests_per_minute', 'mail_messages_per_day', 'mail_messages_per_minute', 'mail_recipients_per_message'];

export function AdminTenants() {
  const [search, setSearch] = useState('');
  const state = usePages('/v1/admin/tenants', { q: search.trim() }, 100);
  const [made, setMade] = useState(null);
  const [editing, setEditing] = useState(null);
  return (
    <>
      <h1>{t('nav_tenants')}</h1>
      {made && <Secret value={made.owner_api_key} label={t('tenant_created', { slug: made.tenant.slug })} />}
      <section class="card form-card">
        <h2>{t('tenant_new')}</h2>
        <Form
          id="new-tenant"
          fields={[
            { name: 'slug', label: t('slug'), required: true, help: t('slug_rules') },
            { name: 'name', label: t('name'), required: true },
            { name: 'plan', label: t('plan'), type: 'select', options: planOptions() },
            { name: 'billing_email', label: t('billing_email'), type: 'email', required: true },
            { name: 'owner_email', label: t('owner_email'), type: 'email', required: true },
          ]}
          initial={{ plan: 'starter' }}
          label={t('create')}
          submit={(v) => api.call('POST', '/v1/admin/tenants', v)}
          onDone={(answer) => { setMade(answer); state.reload(); }}
        />
      </section>
      <div class="toolbar">
        <label for="tenant-search">{t('search')}</label>
        <input id="tenant-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
      </div>
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('slug'), value: (x) => x.slug },
              { label: t('name'), value: (x) => x.name },
              { label: t('plan'), value: (x) => named('plan', x.plan) },
              { label: t('status'), value: (x) => <span data-status={x.status}>{named('status', x.status)}</span> },
              { label: t('counts'), value: (x) => counts(x) },
            ]}
            rows={data.tenants}
            actions={(x) => x.status === 'deleted' ? null : (
              <>
                {x.status === 'suspended'
                  ? <ActionButton label={t('activate')} context={x.slug} action={() => api.call('POST', `/v1/admin/tenants/${x.id}/activate`)} onDone={state.reload} />
                  : <ActionButton danger label={t('suspend')} context={x.slug} confirmText={t('confirm_suspend', { name: x.slug })} action={() => api.call('POST', `/v1/admin/tenants/${x.id}/suspend`)} onDone={state.reload} />}
                <button type="button" class="secondary" onClick={() => setEditing(x)}>{t('edit')}</button>
              </>
            )}
          />
        )}
      </Loaded>
      {state.pager}
      {editing && <EditTenant key={editing.id} tenant={editing} onDone={() => { setEditing(null); state.reload(); }} onCancel={() => setEditing(null)} />}
    </>
  );
}

function planOptions() {
  return PLANS.map((p) => ({ value: p, label: named('plan', p) }));
}

/** "1 member, 3 clients, 0 mailboxes", each in the singular or plural its count takes. */
function counts(x) {
  return [plural('n_members', x.members), plural('n_clients', x.clients), plural('n_mailboxes', x.mailboxes)].join(', ');
}

function EditTenant({ tenant, onDone, onCancel }) {
  const state = useLoad(`/v1/admin/tenants/${tenant.id}`);
  return (
    <section class="card" aria-label={t('edit_tenant', { slug: tenant.slug })}>
      <h2>{t('edit_tenant', { slug: tenant.slug })}</h2>
      <Loaded state={state}>
        {(full) => (
          <Form
            id="edit-tenant"
            fields={[
              { name: 'plan', label: t('plan'), type: 'select', options: planOptions() },
              ...QUOTAS.map((q) => ({ name: `limits.${q}`, label: t('override', { quota: named('quota', q) }), type: 'number', help: t('override_help') })),
            ]}
            initial={{ plan: full.plan, ...Object.fromEntries(Object.entries(full.limit_overrides || {}).map(([q, v]) => [`limits.${q}`, String(v)])) }}
            label={t('save')}
            submit={(v) => {
              const limits = {};
              for (const q of QUOTAS) {
                const value = v[`limits.${q}`];
                const had = full.limit_overrides && q in full.limit_overrides;
                if (value !== '' && value !== undefined) limits[q] = Number(value);
                else if (had) limits[q] = null;
              }
              return api.call('PATCH', `/v1/admin/tenants/${tenant.id}`, { plan: v.plan, limits });
            }}
            onDone={onDone}
          />
        )}
      </Loaded>
      <button type="button" class="secondary" onClick={onCancel}>{t('cancel')}</button>
    </section>
  );
}

export function AdminStats() {
  const state = useLoad('/v1/admin/stats');
  return (
    <>
      <h1>{t('nav_stats')}</h1>
      <Loaded state={state}>
        {(stats) => {
          const totals = stats.totals || {};
          const byStatus = totals.by_status || {};
          const statuses = [...STATUSES.filter((s) => s in byStatus), ...Object.keys(byStatus).filter((s) => !STATUSES.includes(s))];
          return (
            <>
              <section class="card" id="stats-totals">
                <h2>{t('totals')}</h2>
                <Figures items={['tenants', 'members', 'clients', 'appointments', 'mailboxes'].filter((k) => k in totals)
                  .map((k) => ({ key: k, label: t(`total_${k}`), value: totals[k] }))} />
              </section>
              <section class="card" id="stats-by-status">
                <h2>{t('tenants_by_status')}</h2>
                <ShareChart
                  label={t('tenants_by_status')}
                  total={totals.tenants}
                  items={statuses.map((s) => ({ key: s, label: named('status', s), value: byStatus[s], kind: { suspended: 'warning', deleted: 'muted' }[s] }))}
                />
              </section>
              <section class="card" id="stats-per-tenant">
                <h2>{t('per_tenant')}</h2>
                <Table
                  columns={[
                    { label: t('slug'), value: (r) => r.slug },
                    { label: t('plan'), value: (r) => named('plan', r.plan) },
                    { label: t('status'), value: (r) => named('status', r.status) },
                    ...['members', 'clients', 'appointments', 'mailboxes', 'audit_entries'].map((k) => ({ label: t(`total_${k}`), value: (r) => <span class="number">{formatNumber(r[k])}</span> })),
                  ]}
                  rows={stats.tenants}
                />
              </section>
            </>
          );
        }}
      </Loaded>
    </>
  );
}

/** How many days ahead a certificate's end is highlighted. */
const CERTIFICATE_WARNING_DAYS = 14;

/** The relays' health (`GET /v1/admin/relays`): when each relay was last seen, how fresh its
 * copy of the directory is, its queue and the certificates it serves (those ending within 14
 * days highlighted); a key no relay reported under is "never seen". The API's problem when it
 * cannot be read. Times are relative to the server's `now`. */
function Relays() {
  const state = useLoad('/v1/admin/relays');
  return (
    <section class="card" id="relays">
      <h2>{t('relays_title')}</h2>
      <Loaded state={state}>
        {(data) => {
          const now = data.now || Date.now() / 1000;
          const certificate = (c) => {
            const kind = c.not_after <= now ? 'danger' : c.not_after - now <= CERTIFICATE_WARNING_DAYS * 86400 ? 'warning' : null;
            return (
              <li class={kind ? `certificate-${kind}` : undefined} data-expiring={kind ? 'true' : undefined}>
                <span class="certificate-domain">{c.domain}</span>: {formatDate(c.not_after)}
                {kind && <> <span class={`badge ${kind}`}>{t(kind === 'danger' ? 'certificate_expired' : 'certificate_expiring', { when: formatRelative(c.not_after, now) })}</span></>}
              </li>
            );
          };
          const directory = (r) => {
            if (!r.synced_at) return t('never');
            const behind = typeof r.directory_version === 'number' && typeof data.directory_version === 'number'
              ? Math.max(0, data.directory_version - r.directory_version) : null;
            return (
              <>
                {formatRelative(r.synced_at, now)}
                {behind !== null && <><br /><span class={`badge ${behind ? 'warning' : 'ok'}`}>{behind ? plural('versions_behind', behind) : t('up_to_date')}</span></>}
              </>
            );
          };
          return (
            <Table
              columns={[
                { label: t('relay'), value: (r) => <>{r.name}{r.hostname && <><br /><small class="muted">{r.hostname}</small></>}</> },
                {
                  label: t('relay_last_seen'),
                  value: (r) => (r.reported_at
                    ? <span data-seen={r.reported_at}>{formatRelative(r.reported_at, now)}<br /><small class="muted">{formatTime(r.reported_at)}</small></span>
                    : <span class="badge muted" data-seen="never">{t('relay_never_seen')}</span>),
                },
                { label: t('relay_directory'), value: directory },
                { label: t('relay_queue'), value: (r) => (r.queue_depth === null || r.queue_depth === undefined ? '—' : plural('n_messages', r.queue_depth)) },
                { label: t('relay_oldest'), value: (r) => (r.oldest_queued_at ? formatDuration(now - r.oldest_queued_at) : '—') },
                {
                  label: t('relay_certificates'),
                  value: (r) => (r.certificates && r.certificates.length
                    ? <ul class="plain">{[...r.certificates].sort((a, b) => a.not_after - b.not_after).map(certificate)}</ul>
                    : '—'),
                },
              ]}
              rows={data.relays}
              empty={t('relays_none')}
            />
          );
        }}
      </Loaded>
    </section>
  );
}

export function AdminRelayKeys() {
  const state = useLoad('/v1/admin/relay-keys?limit=200');
  const [made, setMade] = useState(null);
  return (
    <>
      <h1>{t('nav_relay_keys')}</h1>
      {made && <Secret value={made.key} label={t('key_shown_once', { name: made.name })} />}
      <Relays />
      <section class="card form-card">
        <h2>{t('relay_key_new')}</h2>
        <Form
          id="new-relay-key"
          fields={[
            { name: 'name', label: t('name'), required: true },
            { name: 'tenants', label: t('relay_key_tenants'), help: t('relay_key_tenants_help') },
          ]}
          label={t('create')}
          submit={(v) => api.call('POST', '/v1/admin/relay-keys', v.tenants.trim() ? { name: v.name, tenants: v.tenants.split(/[\s,]+/).filter(Boolean) } : { name: v.name })}
          onDone={(key) => { setMade(key); state.reload(); }}
        />
      </section>
      <section class="card" id="relay-keys">
        <h2>{t('nav_relay_keys')}</h2>
        <Loaded state={state}>
          {(data) => (
            <Table
              columns={[
                { label: t('name'), value: (k) => k.name },
                { label: t('key'), value: (k) => <code>{k.display_prefix}…</code> },
                { label: t('scope'), value: (k) => (k.tenants ? k.tenants.join(', ') : t('all_tenants')) },
                { label: t('created'), value: (k) => formatDate(k.created_at) },
                { label: t('status'), value: (k) => (k.revoked_at ? t('revoked') : t('active')) },
              ]}
              rows={data.relay_keys}
              actions={(k) => !k.revoked_at && <ActionButton danger label={t('revoke')} context={k.name} action={() => api.call('DELETE', `/v1/admin/relay-keys/${k.id}`)} onDone={state.reload} />}
            />
          )}
        </Loaded>
      </section>
      <Notice kind="ok">{t('relay_key_help')}</Notice>
    </>
  );
}
