// The signed-in person: their account, memberships and sessions (ending any of them).
import * as api from '../api.js';
import { named, t } from '../i18n.js';
import { go } from '../nav.js';
import { ActionButton, Loaded, Table, formatTime, useLoad } from '../ui.jsx';

export function Account({ me }) {
  const sessions = useLoad('/v1/auth/sessions');
  return (
    <>
      <h1>{t('nav_account')}</h1>
      <section class="card">
        <h2>{me.email}</h2>
        <p>{me.email_verified ? t('email_verified') : t('email_unverified')}{me.platform_role ? ` · ${named('platform_role', me.platform_role)}` : ''}</p>
        <Table
          columns={[
            { label: t('tenant'), value: (m) => m.name },
            { label: t('role'), value: (m) => named('role', m.role) },
            { label: t('status'), value: (m) => named('status', m.status) },
          ]}
          rows={me.tenants}
          actions={(m) => (
            <ActionButton label={t('switch_to')} action={() => api.switchTenant(m.slug)} onDone={() => go('/dashboard')} />
          )}
        />
      </section>
      <section class="card">
        <h2>{t('sessions')}</h2>
        <Loaded state={sessions}>
          {(data) => (
            <Table
              columns={[
                { label: t('device'), value: (s) => (s.current ? `${s.user_agent || '—'} (${t('this_session')})` : s.user_agent || '—') },
                { label: t('started'), value: (s) => formatTime(s.created_at) },
                { label: t('last_used'), value: (s) => formatTime(s.last_used_at) },
              ]}
              rows={data.sessions}
              actions={(s) => (
                <ActionButton
                  danger
                  label={t('end_session')}
                  context={s.user_agent || s.id}
                  action={() => api.call('DELETE', `/v1/auth/sessions/${s.id}`)}
                  onDone={() => (s.current ? api.signOut().then(() => go('/sign-in')) : sessions.reload())}
                />
              )}
            />
          )}
        </Loaded>
      </section>
    </>
  );
}
