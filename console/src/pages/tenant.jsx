// A tenant admin's pages: usage, clients, members and invitations, roles, API keys, the
// audit log, settings and branding, integrations. Each action is offered only when the
// person's grants allow it; the API decides anyway.
import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { formatNumber, named, t } from '../i18n.js';
import { allows, covers } from '../nav.js';
import { ActionButton, Form, Loaded, Notice, Secret, Table, UsageChart, formatDate, formatTime, useLoad, usePages } from '../ui.jsx';

const ROLES = ['owner', 'admin', 'manager', 'employee', 'viewer'];

/** Role names as options of a select: the value the API takes, the label in words. */
export function roleOptions(names) {
  return names.map((name) => ({ value: name, label: named('role', name) }));
}

export function Dashboard({ tenant }) {
  const state = useLoad('/v1/usage');
  return (
    <>
      <h1>{t('nav_dashboard')}</h1>
      <Loaded state={state}>
        {(usage) => (
          <>
            <section class="card">
              <h2>{t('usage_title', { plan: named('plan', usage.plan) })}</h2>
              <UsageChart items={[
                { quota: 'users', label: t('q_users'), used: usage.usage.users, limit: usage.limits.users },
                { quota: 'clients', label: t('q_clients'), used: usage.usage.clients, limit: usage.limits.clients },
                { quota: 'api_calls_per_month', label: t('q_api_calls'), used: usage.usage.api_calls_per_month, limit: usage.limits.api_calls_per_month },
                { quota: 'mailboxes', label: t('q_mailboxes'), used: usage.usage.mailboxes, limit: usage.limits.mailboxes },
                { quota: 'appointments_per_month', label: t('q_appointments'), used: usage.usage.appointments_per_month, limit: usage.limits.appointments_per_month },
                { quota: 'storage_mb', label: t('q_storage'), used: usage.usage.mail_storage_mb, limit: usage.limits.storage_mb, unit: 'mb' },
                { quota: 'mail_messages_per_day', label: t('q_mail_today'), used: usage.usage.mail_messages_today, limit: usage.limits.mail_messages_per_day },
              ]} />
            </section>
            <section class="card">
              <h2>{t('rate_title')}</h2>
              <UsageChart label={t('rate_title')} items={[{ quota: 'requests_per_minute', label: t('q_requests_minute'), used: usage.rate_limit.limit - usage.rate_limit.remaining, limit: usage.rate_limit.limit }]} />
              <p>{t('rate_reset', { seconds: formatNumber(usage.rate_limit.reset_secs) })}</p>
              <p>{t('mail_limits', { day: fmtLimit(usage.limits.mail_messages_per_day), minute: fmtLimit(usage.limits.mail_messages_per_minute) })}</p>
            </section>
            <button type="button" class="secondary" onClick={state.reload}>{t('refresh')}</button>
          </>
        )}
      </Loaded>
      <p><small>{tenant.name} · {tenant.slug} · {named('status', tenant.status)}</small></p>
    </>
  );
}

function fmtLimit(n) {
  return n < 0 ? t('no_limit') : formatNumber(n);
}

export function Clients({ grants }) {
  const state = usePages('/v1/clients');
  return (
    <>
      <h1>{t('nav_clients')}</h1>
      {allows(grants, 'clients:create') && (
        <section class="card form-card">
          <h2>{t('client_new')}</h2>
          <Form
            id="new-client"
            fields={[
              { name: 'name', label: t('name'), required: true },
              { name: 'email', label: t('email'), type: 'email' },
              { name: 'phone', label: t('phone'), type: 'tel' },
            ]}
            label={t('create')}
            submit={(v) => api.call('POST', '/v1/clients', dropEmpty(v))}
            onDone={state.reload}
          />
        </section>
      )}
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('name'), value: (c) => c.name },
              { label: t('email'), value: (c) => c.email || '—' },
              { label: t('phone'), value: (c) => c.phone || '—' },
              { label: t('created'), value: (c) => formatDate(c.created_at) },
            ]}
            rows={data.clients}
            actions={allows(grants, 'clients:delete') ? (c) => (
              <ActionButton danger label={t('delete')} context={c.name} confirmText={t('confirm_delete', { name: c.name })} action={() => api.call('DELETE', `/v1/clients/${c.id}`)} onDone={state.reload} />
            ) : null}
          />
        )}
      </Loaded>
      {state.pager}
    </>
  );
}

function dropEmpty(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== '' && v !== null));
}

export function Members({ grants, me, tenant }) {
  const members = useLoad('/v1/members?limit=200');
  const invitations = useLoad('/v1/invitations?limit=200');
  const roles = useLoad(allows(grants, 'roles:read') ? '/v1/roles' : null);
  const roleNames = roles.data ? roles.data.roles.map((r) => r.name) : ROLES;
  const canCreate = allows(grants, 'members:create');
  const superadmin = Boolean(me && me.platform_role === 'superadmin');
  // Removal is offered where the API would allow it: never for one's own membership (the
  // only owner could otherwise leave the tenant without one), an owner only by an owner, and
  // a role only by who holds each of its grants (the core's grant rule).
  const mayRemove = (m) => {
    if (!allows(grants, 'members:delete') || (me && m.user_id === me.id)) return false;
    if (superadmin) return true;
    if (m.role === 'owner') return tenant && tenant.role === 'owner';
    const role = roles.data && roles.data.roles.find((r) => r.name === m.role);
    return !role || role.permissions.every((wanted) => grants.some((held) => covers(held, wanted)));
  };
  return (
    <>
      <h1>{t('nav_members')}</h1>
      <section class="card" id="member-list">
        <h2>{t('members_title')}</h2>
        <Loaded state={members}>
          {(data) => (
            <Table
              columns={[
                { label: t('email'), value: (m) => (me && m.user_id === me.id ? <>{m.email} <small class="muted">({t('you')})</small></> : m.email) },
                { label: t('role'), value: (m) => <span data-role={m.role}>{named('role', m.role)}</span> },
                { label: t('since'), value: (m) => formatDate(m.created_at) },
              ]}
              rows={data.members}
              actions={allows(grants, 'members:delete') ? (m) => mayRemove(m) && (
                <ActionButton danger label={t('remove')} context={m.email} confirmText={t('confirm_remove', { name: m.email })} action={() => api.call('DELETE', `/v1/members/${m.user_id}`)} onDone={members.reload} />
              ) : null}
            />
          )}
        </Loaded>
      </section>
      {canCreate && (
        <section class="card form-card">
          <h2>{t('invite')}</h2>
          <Form
            id="invite"
            fields={[
              { name: 'email', label: t('email'), type: 'email', required: true },
              { name: 'role', label: t('role'), type: 'select', options: roleOptions(roleNames), required: true },
            ]}
            initial={{ role: 'employee' }}
            label={t('send_invitation')}
            submit={(v) => api.call('POST', '/v1/invitations', v)}
            onDone={invitations.reload}
          />
        </section>
      )}
      <section class="card">
        <h2>{t('pending_invitations')}</h2>
        <Loaded state={invitations}>
          {(data) => (
            <Table
              columns={[
                { label: t('email'), value: (i) => i.email },
                { label: t('role'), value: (i) => named('role', i.role) },
                { label: t('expires'), value: (i) => formatDate(i.expires_at) },
              ]}
              rows={data.invitations}
              actions={canCreate || allows(grants, 'members:delete') ? (i) => (
                <>
                  {canCreate && <ActionButton label={t('resend')} context={i.email} action={() => api.call('POST', `/v1/invitations/${i.id}/resend`)} onDone={invitations.reload} />}
                  {allows(grants, 'members:delete') && <ActionButton danger label={t('revoke')} context={i.email} action={() => api.call('DELETE', `/v1/invitations/${i.id}`)} onDone={invitations.reload} />}
                </>
              ) : null}
            />
          )}
        </Loaded>
      </section>
    </>
  );
}

export function Roles({ grants }) {
  const state = useLoad('/v1/roles');
  return (
    <>
      <h1>{t('nav_roles')}</h1>
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('name'), value: (r) => (r.builtin ? named('role', r.name) : r.name) },
              { label: t('kind'), value: (r) => (r.builtin ? t('builtin') : t('custom')) },
              { label: t('permissions'), value: (r) => r.permissions.join(', ') },
            ]}
            rows={data.roles}
          />
        )}
      </Loaded>
      {allows(grants, 'roles:create') && (
        <section class="card form-card">
          <h2>{t('role_new')}</h2>
          <Form
            id="new-role"
            fields={[
              { name: 'name', label: t('name'), required: true, help: t('role_name_rules') },
              { name: 'permissions', label: t('permissions'), required: true, help: t('permissions_help'), placeholder: 'clients:read, appointments:update:own' },
            ]}
            label={t('create')}
            submit={(v) => api.call('POST', '/v1/roles', { name: v.name, permissions: v.permissions.split(/[\s,]+/).filter(Boolean) })}
            onDone={state.reload}
          />
        </section>
      )}
    </>
  );
}

export function ApiKeys({ grants }) {
  const state = useLoad('/v1/api-keys?limit=200');
  const [made, setMade] = useState(null);
  return (
    <>
      <h1>{t('nav_api_keys')}</h1>
      {made && <Secret value={made.key} label={t('key_shown_once', { name: made.name })} />}
      {allows(grants, 'api-keys:create') && (
        <section class="card form-card">
          <h2>{t('key_new')}</h2>
          <Form
            id="new-key"
            fields={[
              { name: 'name', label: t('name'), required: true },
              { name: 'role', label: t('role'), type: 'select', options: roleOptions(ROLES) },
            ]}
            initial={{ role: 'viewer' }}
            label={t('create')}
            submit={(v) => api.call('POST', '/v1/api-keys', v)}
            onDone={(key) => { setMade(key); state.reload(); }}
          />
        </section>
      )}
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('name'), value: (k) => k.name },
              { label: t('role'), value: (k) => named('role', k.role) },
              { label: t('key'), value: (k) => <code>{k.display_prefix}…</code> },
              { label: t('created'), value: (k) => formatDate(k.created_at) },
              { label: t('status'), value: (k) => (k.revoked_at ? t('revoked') : t('active')) },
            ]}
            rows={data.api_keys}
            actions={allows(grants, 'api-keys:delete') ? (k) => !k.revoked_at && (
              <ActionButton danger label={t('revoke')} context={k.name} action={() => api.call('DELETE', `/v1/api-keys/${k.id}`)} onDone={state.reload} />
            ) : null}
          />
        )}
      </Loaded>
    </>
  );
}

export function Audit() {
  const [filters, setFilters] = useState({});
  const state = usePages('/v1/audit', filters);
  // Whole local days: `from` at the day's first second, `to` at its last.
  const toEpoch = (day, end) => (day ? String(Math.floor(new Date(`${day}T${end ? '23:59:59' : '00:00:00'}`).getTime() / 1000)) : '');
  return (
    <>
      <h1>{t('nav_audit')}</h1>
      <div class="toolbar">
        <Form
          id="audit-filters"
          fields={[
            { name: 'action', label: t('action'), placeholder: 'members.invite' },
            { name: 'resource', label: t('resource'), placeholder: 'members' },
            { name: 'user', label: t('actor') },
            { name: 'from', label: t('from'), type: 'date' },
            { name: 'to', label: t('to'), type: 'date' },
          ]}
          label={t('filter')}
          reset={false}
          submit={async (v) => v}
          onDone={(v) => { state.restart(); setFilters({ ...v, from: toEpoch(v.from, false), to: toEpoch(v.to, true) }); }}
        />
      </div>
      <Loaded state={state}>
        {(data) => (
          <>
            <Table
              columns={[
                { label: t('when'), value: (e) => formatTime(e.created_at) },
                { label: t('actor'), value: (e) => e.actor },
                { label: t('action'), value: (e) => e.action },
                { label: t('resource'), value: (e) => `${e.resource}${e.resource_id ? ` ${e.resource_id}` : ''}` },
              ]}
              rows={data.entries}
            />
            {state.pager}
          </>
        )}
      </Loaded>
    </>
  );
}

export function Settings({ grants }) {
  const state = useLoad('/v1/settings');
  const [saved, setSaved] = useState(false);
  return (
    <>
      <h1>{t('nav_settings')}</h1>
      {saved && <Notice kind="ok">{t('saved')}</Notice>}
      <Loaded state={state}>
        {(settings) => (
          <>
            <section class="card">
              <h2>{t('branding')}</h2>
              {allows(grants, 'settings:update') ? (
                <Form
                  id="branding"
                  fields={[
                    { name: 'display_name', label: t('display_name') },
                    { name: 'logo_url', label: t('logo_url'), type: 'url', placeholder: 'https://…' },
                    { name: 'primary_color', label: t('primary_color'), placeholder: '#1f5fbf' },
                    { name: 'timezone', label: t('timezone') },
                  ]}
                  initial={settings}
                  reset={false}
                  label={t('save')}
                  submit={(v) => api.call('PATCH', '/v1/settings', Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === '' ? null : x])))}
                  onDone={() => { setSaved(true); api.sessionChanged(); }}
                />
              ) : <pre>{JSON.stringify(settings, null, 2)}</pre>}
            </section>
            <SignInSecurity settings={settings} editable={allows(grants, 'settings:update')} onSaved={() => { setSaved(true); api.sessionChanged(); }} />
          </>
        )}
      </Loaded>
    </>
  );
}

/** Whether the members must sign in with two factors (`require_mfa`: true, or removed). */
function SignInSecurity({ settings, editable, onSaved }) {
  const required = settings.require_mfa === true;
  // Whoever requires it of everyone, signed in with a password only, is asked too.
  const help = api.multiFactor() ? t('require_mfa_help') : `${t('require_mfa_help')} ${t('require_mfa_self')}`;
  return (
    <section class="card" id="sign-in-security">
      <h2>{t('sign_in_security')}</h2>
      {editable ? (
        <Form
          id="security-settings"
          fields={[{ name: 'require_mfa', label: t('require_mfa'), type: 'checkbox', help }]}
          initial={{ require_mfa: required }}
          reset={false}
          label={t('save')}
          submit={(v) => api.call('PATCH', '/v1/settings', { require_mfa: v.require_mfa ? true : null })}
          onDone={onSaved}
        />
      ) : (
        <p id="require-mfa" data-required={String(required)}>{t(required ? 'require_mfa_on' : 'require_mfa_off')}</p>
      )}
    </section>
  );
}

export function Integrations({ grants }) {
  const state = useLoad('/v1/integrations');
  const editable = allows(grants, 'integrations:update');
  const [saved, setSaved] = useState(null);
  return (
    <>
      <h1>{t('nav_integrations')}</h1>
      {saved && <Notice kind="ok">{t('saved_kind', { kind: saved })}</Notice>}
      <Loaded state={state}>
        {(data) => (
          <Table
            columns={[
              { label: t('kind'), value: (i) => named('integration', i.kind) },
              { label: t('configuration'), value: (i) => <code>{JSON.stringify(Object.fromEntries(Object.entries(i).filter(([k]) => k !== 'kind' && k !== 'updated_at')))}</code> },
              { label: t('updated'), value: (i) => formatTime(i.updated_at) },
            ]}
            rows={data.integrations}
          />
        )}
      </Loaded>
      {editable && (
        <>
          <section class="card form-card">
            <h2>CRM (EspoCRM)</h2>
            <Form
              id="crm"
              fields={[
                { name: 'base_url', label: t('base_url'), type: 'url', required: true },
                { name: 'api_key', label: t('api_key'), type: 'password', required: true, autocomplete: 'new-password' },
              ]}
              label={t('save')}
              submit={(v) => api.call('PUT', '/v1/integrations/crm', v)}
              onDone={() => { setSaved('crm'); state.reload(); }}
            />
          </section>
          <section class="card form-card">
            <h2>WhatsApp</h2>
            <Form
              id="whatsapp"
              fields={[
                { name: 'phone_number_id', label: t('phone_number_id'), required: true },
                { name: 'verify_token', label: t('verify_token'), type: 'password', required: true, autocomplete: 'new-password' },
                { name: 'app_secret', label: t('app_secret'), type: 'password', required: true, autocomplete: 'new-password' },
                { name: 'access_token', label: t('access_token'), type: 'password', required: true, autocomplete: 'new-password' },
              ]}
              label={t('save')}
              submit={(v) => api.call('PUT', '/v1/integrations/whatsapp', v)}
              onDone={() => { setSaved('whatsapp'); state.reload(); }}
            />
          </section>
        </>
      )}
    </>
  );
}
