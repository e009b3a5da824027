// The signed-in person: their account, memberships, second factors (an authenticator app and
// recovery codes) and sessions (ending any of them, each with how it signed in).
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { formatDate, named, plural, t } from '../i18n.js';
import { go } from '../nav.js';
import { ActionButton, CopyField, Loaded, Notice, Table, formatTime, showSecurity, useLoad } from '../ui.jsx';
import { FactorForm, QrCode, RecoveryCodes, amrText } from '../mfa.jsx';

// Recovery codes not yet marked as stored: kept while the page is drawn again (the session
// changes once an app is confirmed), forgotten at sign-out.
let unstoredCodes = null;
api.onSessionChange(() => {
  if (!api.signedIn()) unstoredCodes = null;
});

/** A base32 secret in groups of four, easier to type. */
function grouped(secret) {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

/** Enrolling an app: its QR code and secret, then its first code to confirm. */
function Enrolment({ enrolment, onConfirmed, onCancel }) {
  return (
    <div class="enrolment" id="mfa-enrolment">
      <ol class="steps">
        <li>{t('mfa_step_scan')}</li>
        <li>{t('mfa_step_code')}</li>
      </ol>
      <div class="enrolment-key">
        <QrCode text={enrolment.otpauth_uri} label={t('mfa_qr_label')} id="mfa-qr" />
        <dl class="copy-fields">
          <CopyField label={t('mfa_secret')} value={enrolment.secret} shown={grouped(enrolment.secret)} id="mfa-secret" />
        </dl>
      </div>
      <FactorForm
        id="mfa-confirm"
        recovery={false}
        label={t('mfa_confirm')}
        submit={(factor) => api.call('POST', '/v1/auth/mfa/totp/confirm', factor)}
        onDone={onConfirmed}
      />
      <button type="button" class="secondary" onClick={onCancel}>{t('cancel')}</button>
    </div>
  );
}

/** The account's second factors: set up, new recovery codes, disable. */
function Security({ onChange }) {
  const state = useLoad('/v1/auth/mfa');
  const [enrolment, setEnrolment] = useState(null);
  const [codes, setShownCodes] = useState(unstoredCodes);
  const [asking, setAsking] = useState(null);
  const [notice, setNotice] = useState(null);
  const showCodes = (shown) => {
    unstoredCodes = shown;
    setShownCodes(shown);
  };
  const confirmed = (answer) => {
    showCodes(answer.recovery_codes);
    setEnrolment(null);
    setNotice(t('mfa_enabled'));
    state.reload();
    onChange();
    // This session signed in with two factors from now on: a token that says so, and the
    // tenant the console could not open without it.
    api.refresh();
  };
  return (
    <section class="card" id="security" aria-labelledby="security-title">
      <h2 id="security-title" tabindex="-1">{t('security')}</h2>
      {notice && <Notice kind="ok">{notice}</Notice>}
      {codes && <RecoveryCodes codes={codes} onDismiss={() => showCodes(null)} />}
      <Loaded state={state}>
        {(mfa) => {
          if (enrolment) return <Enrolment enrolment={enrolment} onConfirmed={confirmed} onCancel={() => setEnrolment(null)} />;
          if (!mfa.totp.enrolled) {
            return (
              <>
                <p id="mfa-status" data-enrolled="false">
                  <span class="badge muted">{t('mfa_off_badge')}</span> {t('mfa_off')}
                </p>
                {mfa.totp.pending && <p class="muted">{t('mfa_pending')}</p>}
                <ActionButton
                  id="mfa-setup"
                  primary
                  label={t('mfa_setup')}
                  action={() => api.call('POST', '/v1/auth/mfa/totp')}
                  onDone={(answer) => { setNotice(null); setEnrolment(answer); }}
                />
              </>
            );
          }
          const left = mfa.recovery_codes_left;
          return (
            <>
              <p id="mfa-status" data-enrolled="true">
                <span class="badge ok">{t('mfa_on_badge')}</span> {t('mfa_on', { when: formatDate(mfa.totp.confirmed_at) })}
              </p>
              <p id="recovery-left" data-left={left}>
                {plural('recovery_left', left)}
                {left <= 3 && <> <span class="badge warning">{t('recovery_few')}</span></>}
              </p>
              {asking === 'codes' && (
                <div class="form-panel">
                  <h3>{t('recovery_new')}</h3>
                  <p>{t('recovery_new_help')}</p>
                  <FactorForm
                    id="mfa-new-codes"
                    label={t('recovery_new_submit')}
                    submit={(factor) => api.call('POST', '/v1/auth/mfa/recovery-codes', factor)}
                    onDone={(answer) => { setAsking(null); setNotice(null); showCodes(answer.recovery_codes); state.reload(); }}
                  />
                  <button type="button" class="secondary" onClick={() => setAsking(null)}>{t('cancel')}</button>
                </div>
              )}
              {asking === 'disable' && (
                <div class="form-panel">
                  <h3>{t('mfa_disable')}</h3>
                  <p>{t('mfa_disable_help')}</p>
                  <FactorForm
                    id="mfa-disable"
                    label={t('mfa_disable_submit')}
                    submit={(factor) => api.call('POST', '/v1/auth/mfa/totp/disable', factor)}
                    onDone={() => { setAsking(null); showCodes(null); setNotice(t('mfa_disabled')); state.reload(); }}
                  />
                  <button type="button" class="secondary" onClick={() => setAsking(null)}>{t('cancel')}</button>
                </div>
              )}
              {!asking && (
                <div class="button-row">
                  <button type="button" class="secondary" id="mfa-new-codes-open" onClick={() => { setNotice(null); setAsking('codes'); }}>{t('recovery_new')}</button>
                  <button type="button" class="danger" id="mfa-disable-open" onClick={() => { setNotice(null); setAsking('disable'); }}>{t('mfa_disable')}</button>
                </div>
              )}
            </>
          );
        }}
      </Loaded>
    </section>
  );
}

export function Account({ me, route }) {
  const sessions = useLoad('/v1/auth/sessions');
  const section = route && route.params.get('section');
  useEffect(() => {
    if (section === 'security') showSecurity();
  }, [section]);
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
      <Security onChange={sessions.reload} />
      <section class="card" id="sessions">
        <h2>{t('sessions')}</h2>
        <Loaded state={sessions}>
          {(data) => (
            <Table
              columns={[
                { label: t('device'), value: (s) => (s.current ? `${s.user_agent || '—'} (${t('this_session')})` : s.user_agent || '—') },
                { label: t('signed_in_with'), value: (s) => <span data-amr={(s.amr || []).join(' ')}>{amrText(s.amr)}</span> },
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
