// Signing in and everything before it: sign-up, invitations, email verification and
// password reset, each from the link the platform's mail carries (`#/...?token=`).
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { go } from '../nav.js';
import { named, t } from '../i18n.js';
import { Form, Notice, formatDate, problemText } from '../ui.jsx';
import { FactorForm, challengeEnded } from '../mfa.jsx';

/** The link's token, kept in the page and taken out of the address bar and the history. */
function useLinkToken(route) {
  const [token] = useState(() => route.params.get('token') || '');
  useEffect(() => {
    history.replaceState(null, '', `${location.pathname}#${route.path}`);
  }, []);
  return token;
}

/**
 * The second step of a sign-in that answered `mfa_required`: the authenticator app's code
 * (or a recovery code) with the challenge's token, then on as any sign-in. A challenge that
 * expired, was used or took too many wrong codes offers to start again (`onRestart`).
 */
export function SecondFactorStep({ challenge, onDone, onRestart }) {
  const [ended, setEnded] = useState(null);
  useEffect(() => {
    const input = document.querySelector('#mfa-verify input');
    if (input) input.focus();
  }, [ended]);
  const submit = (factor) => api.verifySecondFactor(challenge.mfa_token, factor).catch((problem) => {
    if (challengeEnded(problem)) setEnded(problem);
    throw problem;
  });
  return (
    <>
      <h1>{t('mfa_title')}</h1>
      {ended ? (
        <div id="mfa-ended">
          <Notice>
            {ended.status === 429 ? t('mfa_too_many') : t('mfa_token_invalid')}
            {ended.status === 429 && ended.retryAfter ? ` ${t('mfa_wait', { seconds: ended.retryAfter })}` : ''}
          </Notice>
          <button type="button" id="mfa-restart" onClick={onRestart}>{t('mfa_restart')}</button>
        </div>
      ) : (
        <>
          <p id="mfa-help">{t('mfa_help')}</p>
          <FactorForm id="mfa-verify" label={t('mfa_verify')} submit={submit} onDone={onDone} />
          <p class="links"><button type="button" class="link-button" onClick={onRestart}>{t('mfa_restart')}</button></p>
        </>
      )}
    </>
  );
}

export function SignIn() {
  const [challenge, setChallenge] = useState(null);
  const [email, setEmail] = useState('');
  const signedIn = () => go('/dashboard');
  if (challenge) return <SecondFactorStep challenge={challenge} onDone={signedIn} onRestart={() => setChallenge(null)} />;
  return (
    <>
      <h1>{t('sign_in_title')}</h1>
      <Form
        id="sign-in"
        fields={[
          { name: 'email', label: t('email'), type: 'email', required: true, autocomplete: 'username' },
          { name: 'password', label: t('password'), type: 'password', required: true, autocomplete: 'current-password' },
        ]}
        initial={{ email }}
        label={t('sign_in')}
        submit={(v) => api.signIn(v.email, v.password)}
        onDone={(answer, v) => {
          // Starting again from the second step keeps the address typed.
          setEmail(v.email);
          if (answer && answer.mfa_required) setChallenge(answer);
          else signedIn();
        }}
      />
      <p class="links">
        <a href="#/forgot-password">{t('forgot_password')}</a>
        <a href="#/sign-up">{t('sign_up')}</a>
      </p>
    </>
  );
}

export function SignUp() {
  const [done, setDone] = useState(null);
  if (done) return <><h1>{t('sign_up_title')}</h1><Notice kind="ok">{t('sign_up_done')}</Notice><a href="#/sign-in">{t('sign_in')}</a></>;
  return (
    <>
      <h1>{t('sign_up_title')}</h1>
      <Form
        id="sign-up"
        fields={[
          { name: 'email', label: t('email'), type: 'email', required: true, autocomplete: 'username' },
          { name: 'password', label: t('password'), type: 'password', required: true, autocomplete: 'new-password', help: t('password_rules') },
          { name: 'tenant.name', label: t('organisation_name'), required: true },
          { name: 'tenant.slug', label: t('organisation_slug'), required: true, help: t('slug_rules') },
        ]}
        label={t('sign_up')}
        submit={(v) => api.call('POST', '/v1/auth/signup', {
          email: v.email, password: v.password, locale: document.documentElement.lang,
          tenant: { name: v['tenant.name'], slug: v['tenant.slug'] },
        })}
        onDone={setDone}
      />
      <p class="links"><a href="#/sign-in">{t('sign_in')}</a></p>
    </>
  );
}

/**
 * An invitation from its mailed link: the page looks it up first (`POST /v1/auth/invitation`)
 * to name the organisation and the role; a new account chooses its password twice (a mismatch
 * is refused in the page, nothing sent), an existing account gives its password once. A token
 * that is used, revoked or expired says so and offers nothing to send.
 */
export function AcceptInvitation({ route }) {
  const token = useLinkToken(route);
  const [lookup, setLookup] = useState({ loading: true });
  useEffect(() => {
    api.call('POST', '/v1/auth/invitation', { token })
      .then((data) => setLookup({ data }), (problem) => setLookup({ problem }));
  }, []);
  const [challenge, setChallenge] = useState(null);
  const join = (v) => api.acceptInvitation(token, v.password);
  const signedIn = () => go('/dashboard');
  // An existing account with a second factor is asked for it before joining.
  const joined = (answer) => (answer && answer.mfa_required ? setChallenge(answer) : signedIn());
  if (challenge) return <SecondFactorStep challenge={challenge} onDone={signedIn} onRestart={() => setChallenge(null)} />;
  if (lookup.loading) return <><h1>{t('accept_title')}</h1><p class="loading">{t('loading')}</p></>;
  const invalid = lookup.problem && (lookup.problem.status === 410 || lookup.problem.code === 'invitation_invalid');
  if (invalid) {
    return (
      <>
        <h1>{t('accept_title')}</h1>
        <Notice>{problemText(lookup.problem)}</Notice>
        <p>{t('accept_invalid_help')}</p>
        <p class="links"><a href="#/sign-in">{t('sign_in')}</a></p>
      </>
    );
  }
  if (lookup.problem) {
    // The invitation could not be looked up (the network, a passing refusal): it may still
    // be accepted, with the password of a new account or of the existing one.
    return (
      <>
        <h1>{t('accept_title')}</h1>
        <p class="notice warning" role="status" id="invitation-lookup-problem">{problemText(lookup.problem)}</p>
        <p>{t('accept_help')}</p>
        <Form
          id="accept-invitation"
          fields={[{ name: 'password', label: t('password'), type: 'password', required: true, autocomplete: 'new-password', help: t('password_rules') }]}
          label={t('accept')}
          submit={join}
          onDone={joined}
        />
      </>
    );
  }
  const invitation = lookup.data;
  const tenant = invitation.tenant || {};
  const role = named('role', invitation.role);
  return (
    <>
      <h1>{t('accept_join', { tenant: tenant.name || tenant.slug || '' })}</h1>
      <p class="invitation-summary" id="invitation-summary">
        {t('accept_invited', { email: invitation.email, tenant: tenant.name || tenant.slug || '' })}{' '}
        <strong data-role={invitation.role}>{role}</strong>
        {invitation.expires_at && <><br /><small class="muted">{t('accept_expires', { when: formatDate(invitation.expires_at) })}</small></>}
      </p>
      {invitation.account_exists ? (
        <>
          <p>{t('accept_existing_help', { email: invitation.email })}</p>
          <Form
            id="accept-invitation"
            fields={[{ name: 'password', label: t('accept_existing_password', { email: invitation.email }), type: 'password', required: true, autocomplete: 'current-password' }]}
            label={t('accept')}
            submit={join}
            onDone={joined}
          />
          <p class="links"><a href="#/forgot-password">{t('forgot_password')}</a></p>
        </>
      ) : (
        <>
          <p>{t('accept_new_help')}</p>
          <Form
            id="accept-invitation"
            fields={[
              { name: 'password', label: t('password'), type: 'password', required: true, autocomplete: 'new-password', help: t('password_rules') },
              { name: 'password_confirm', label: t('password_again'), type: 'password', required: true, autocomplete: 'new-password' },
            ]}
            validate={(v) => (v.password !== v.password_confirm ? { field: 'password_confirm', detail: t('password_mismatch') } : null)}
            label={t('accept')}
            submit={join}
            onDone={joined}
          />
        </>
      )}
    </>
  );
}

export function VerifyEmail({ route }) {
  const token = useLinkToken(route);
  const [state, setState] = useState({ busy: true });
  useEffect(() => {
    api.call('POST', '/v1/auth/verify-email', { token })
      .then(() => setState({ ok: true }), (problem) => setState({ problem }));
  }, []);
  return (
    <>
      <h1>{t('verify_title')}</h1>
      {state.busy && <p>{t('loading')}</p>}
      {state.ok && <Notice kind="ok">{t('verify_done')}</Notice>}
      {state.problem && <Notice>{problemText(state.problem)}</Notice>}
      <p class="links"><a href="#/sign-in">{t('sign_in')}</a></p>
    </>
  );
}

export function ForgotPassword() {
  const [done, setDone] = useState(false);
  return (
    <>
      <h1>{t('forgot_title')}</h1>
      {done ? <Notice kind="ok">{t('forgot_done')}</Notice> : (
        <Form
          id="forgot-password"
          fields={[{ name: 'email', label: t('email'), type: 'email', required: true, autocomplete: 'username' }]}
          label={t('send_link')}
          submit={(v) => api.call('POST', '/v1/auth/forgot-password', { email: v.email })}
          onDone={() => setDone(true)}
        />
      )}
      <p class="links"><a href="#/sign-in">{t('sign_in')}</a></p>
    </>
  );
}

export function ResetPassword({ route }) {
  const token = useLinkToken(route);
  const [done, setDone] = useState(false);
  return (
    <>
      <h1>{t('reset_title')}</h1>
      {done ? <Notice kind="ok">{t('reset_done')}</Notice> : (
        <Form
          id="reset-password"
          fields={[{ name: 'password', label: t('new_password'), type: 'password', required: true, autocomplete: 'new-password', help: t('password_rules') }]}
          label={t('reset')}
          submit={(v) => api.call('POST', '/v1/auth/reset-password', { token, password: v.password })}
          onDone={() => setDone(true)}
        />
      )}
      <p class="links"><a href="#/sign-in">{t('sign_in')}</a></p>
    </>
  );
}
