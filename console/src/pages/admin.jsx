// The platform operator's pages (superadmin): tenants (search, create in one step, suspend,
// activate, plan and limit overrides), global and per-tenant statistics, relay keys.
import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { t } from '../i18n.js';
import { ActionButton, Form, Loaded, Notice, Secret, Table, formatTime, useLoad, usePages } from '../ui.jsx';

const PLANS = ['free', 'starter', 'professional', 'enterprise'];
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
      <section class="card">
        <h2>{t('tenant_new')}</h2>
        <Form
          id="new-tenant"
          fields={[
            { name: 'slug', label: t('slug'), required: true, help: t('slug_rules') },
            { name: 'name', label: t('name'), required: true },
            { name: 'plan', label: t('plan'), type: 'select', options: PLANS },
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
              { label: t('plan'), value: (x) => x.plan },
              { label: t('status'), value: (x) => x.status },
              { label: t('counts'), value: (x) => t('counts_value', { members: x.members, clients: x.clients, mailboxes: x.mailboxes }) },
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
              { name: 'plan', label: t('plan'), type: 'select', options: PLANS },
              ...QUOTAS.map((q) => ({ name: `limits.${q}`, label: t('override', { quota: q }), type: 'number', help: t('override_help') })),
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
        {(stats) => (
          <>
            <section class="card">
              <h2>{t('totals')}</h2>
              <Table
                columns={[{ label: t('metric'), value: (r) => r[0] }, { label: t('value'), value: (r) => r[1] }]}
                rows={Object.entries(stats.totals).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v])}
              />
            </section>
            <section class="card">
              <h2>{t('per_tenant')}</h2>
              <Table
                columns={['slug', 'plan', 'status', 'members', 'clients', 'appointments', 'mailboxes', 'audit_entries'].map((k) => ({ label: k, value: (r) => r[k] }))}
                rows={stats.tenants}
              />
            </section>
          </>
        )}
      </Loaded>
    </>
  );
}

export function AdminRelayKeys() {
  const state = useLoad('/v1/admin/relay-keys?limit=200');
  const [made, setMade] = useState(null);
  return (
    <>
      <h1>{t('nav_relay_keys')}</h1>
      {made && <Secret value={made.key} label={t('key_shown_once', { name: made.name })} />}
      <section class="card">
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
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('name'), value: (k) => k.name },
              { label: t('key'), value: (k) => <code>{k.display_prefix}…</code> },
              { label: t('scope'), value: (k) => (k.tenants ? k.tenants.join(', ') : t('all_tenants')) },
              { label: t('created'), value: (k) => formatTime(k.created_at) },
              { label: t('status'), value: (k) => (k.revoked_at ? t('revoked') : t('active')) },
            ]}
            rows={data.relay_keys}
            actions={(k) => !k.revoked_at && <ActionButton danger label={t('revoke')} context={k.name} action={() => api.call('DELETE', `/v1/admin/relay-keys/${k.id}`)} onDone={state.reload} />}
          />
        )}
      </Loaded>
      <Notice kind="ok">{t('relay_key_help')}</Notice>
    </>
  );
}
