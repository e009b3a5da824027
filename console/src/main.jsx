// The console: hash routes (`#/members`, `#/accept-invitation?token=...`, the links the
// platform's mail carries), the shell (tenant switcher, language, navigation that follows
// the signed-in person's permissions) and the pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { language, named, setLanguage, t } from './i18n.js';
import { allows, go } from './nav.js';
import { MfaRequiredNotice, problemText } from './ui.jsx';
import { AcceptInvitation, ForgotPassword, ResetPassword, SignIn, SignUp, VerifyEmail } from './pages/auth.jsx';
import { Account } from './pages/account.jsx';
import { ApiKeys, Audit, Clients, Dashboard, Integrations, Members, Roles, Settings } from './pages/tenant.jsx';
import { Mail } from './pages/mail.jsx';
import { AdminRelayKeys, AdminStats, AdminTenants } from './pages/admin.jsx';

/** The current hash route: its path and query. */
function readRoute() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  return { path, params: new URLSearchParams(query) };
}

const PUBLIC = {
  '/sign-in': SignIn,
  '/sign-up': SignUp,
  '/accept-invitation': AcceptInvitation,
  '/verify-email': VerifyEmail,
  '/forgot-password': ForgotPassword,
  '/reset-password': ResetPassword,
};

/** Tenant pages: the permission each needs (what the API would ask) and its place. */
const TENANT_PAGES = [
  { path: '/dashboard', label: 'nav_dashboard', page: Dashboard, needs: 'usage:read' },
  { path: '/clients', label: 'nav_clients', page: Clients, needs: 'clients:read' },
  { path: '/members', label: 'nav_members', page: Members, needs: 'members:read' },
  { path: '/roles', label: 'nav_roles', page: Roles, needs: 'roles:read' },
  { path: '/api-keys', label: 'nav_api_keys', page: ApiKeys, needs: 'api-keys:read' },
  { path: '/audit', label: 'nav_audit', page: Audit, needs: 'audit:read' },
  { path: '/settings', label: 'nav_settings', page: Settings, needs: 'settings:read' },
  { path: '/integrations', label: 'nav_integrations', page: Integrations, needs: 'integrations:read' },
  { path: '/mail', label: 'nav_mail', page: Mail, needs: 'mail:read' },
];

const ADMIN_PAGES = [
  { path: '/admin/tenants', label: 'nav_tenants', page: AdminTenants },
  { path: '/admin/stats', label: 'nav_stats', page: AdminStats },
  { path: '/admin/relay-keys', label: 'nav_relay_keys', page: AdminRelayKeys },
];

/** WCAG relative luminance of #rrggbb. */
function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function applyBranding(settings) {
  const chosen = settings && settings.primary_color;
  const color = /^#[0-9a-fA-F]{6}$/.test(chosen || '') ? chosen : '#1f5fbf';
  const light = luminance(color);
  const root = document.documentElement.style;
  root.setProperty('--brand', color);
  // Text on the colour: whichever of black and white reads better; the colour as text on
  // white only where it reaches 4.5:1, else the ink colour.
  root.setProperty('--brand-ink', (light + 0.05) / 0.05 > 1.05 / (light + 0.05) ? '#000' : '#fff');
  root.setProperty('--brand-text', 1.05 / (light + 0.05) >= 4.5 ? color : '#1b1f24');
  document.title = (settings && settings.display_name) || 'Tenantry';
}

function Shell({ route, me, tenant, branding, onSwitch, notice, mfaRequired }) {
  const claims = api.claims();
  const superadmin = claims && claims.platform_role === 'superadmin';
  const grants = tenant ? tenant.permissions : [];
  const pages = tenant ? TENANT_PAGES.filter((p) => allows(grants, p.needs)) : [];
  const admin = superadmin ? ADMIN_PAGES : [];
  const all = [...pages, ...admin, { path: '/account', page: Account }];
  const current = all.find((p) => p.path === route.path);
  const fallback = pages[0] || admin[0] || { path: '/account', page: Account };
  useEffect(() => {
    if (!current) go(fallback.path);
  }, [route.path, current, fallback.path]);
  const Page = (current || fallback).page;
  const memberships = (me && me.tenants) || [];
  const name = (branding && branding.display_name) || (tenant && tenant.name) || 'Tenantry';
  const logo = branding && /^https:\/\//.test(branding.logo_url || '') ? branding.logo_url : null;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>{t('skip')}</a>
      <header class="top">
        <span class="brand">{logo && <img src={logo} alt="" />}<span data-testid="brand">{name}</span></span>
        {memberships.length > 0 && (
          <label>
            {t('tenant')}{' '}
            <select aria-label={t('tenant')} value={tenant ? tenant.slug : api.currentTenant() || ''} onChange={(e) => onSwitch(e.currentTarget.value, e.currentTarget)} data-testid="tenant-switcher">
              {memberships.map((m) => <option value={m.slug}>{m.name} ({named('role', m.role)})</option>)}
            </select>
          </label>
        )}
        <label>
          {t('language')}{' '}
          <select aria-label={t('language')} value={language()} onChange={(e) => { setLanguage(e.currentTarget.value); onSwitch(null); }}>
            <option value="en">English</option>
            <option value="fr">Français</option>
          </select>
        </label>
        <span>
          <a href="#/account" class="header-link">{me ? me.email : ''}</a>{' '}
          <button type="button" class="secondary" onClick={() => api.signOut().then(() => go('/sign-in'))}>{t('sign_out')}</button>
        </span>
      </header>
      <div class="layout">
        <nav class="side" aria-label={t('navigation')}>
          {pages.length > 0 && <h2>{t('nav_tenant')}</h2>}
          <ul>{pages.map((p) => <li><a href={`#${p.path}`} aria-current={p.path === route.path ? 'page' : undefined}>{t(p.label)}</a></li>)}</ul>
          {admin.length > 0 && <h2>{t('nav_platform')}</h2>}
          <ul>{admin.map((p) => <li><a href={`#${p.path}`} aria-current={p.path === route.path ? 'page' : undefined}>{t(p.label)}</a></li>)}</ul>
          <h2>{t('nav_you')}</h2>
          <ul><li><a href="#/account" aria-current={route.path === '/account' ? 'page' : undefined}>{t('nav_account')}</a></li></ul>
        </nav>
        <main id="main" tabindex="-1">
          {notice && <p class="notice error" role="alert">{notice}</p>}
          {mfaRequired && <MfaRequiredNotice />}
          <Page key={tenant ? tenant.id : 'platform'} route={route} tenant={tenant} me={me} grants={grants} />
        </main>
      </div>
    </>
  );
}

function App() {
  const [route, setRoute] = useState(readRoute());
  const [session, setSession] = useState({ state: 'starting' });
  const [, setLanguageTick] = useState(0);

  const load = async () => {
    if (!api.signedIn()) {
      setSession({ state: 'signed-out' });
      return;
    }
    try {
      // The account and the tenant at once; the branding only where it may be read.
      // A tenant that requires two factors of a session signed in with one opens only the
      // account page, where the person sets up an authenticator app.
      let mfaRequired = false;
      const [me, tenant] = await Promise.all([
        api.call('GET', '/v1/auth/me'),
        api.currentTenant() ? api.call('GET', '/v1/tenant').catch((problem) => {
          if (problem.code !== 'mfa_required') throw problem;
          mfaRequired = true;
          return null;
        }) : null,
      ]);
      let branding = null;
      if (tenant && allows(tenant.permissions, 'settings:read')) {
        branding = await api.call('GET', '/v1/settings').catch(() => null);
      }
      api.pinTenant(tenant ? tenant.id : null);
      applyBranding(branding);
      setSession({ state: 'signed-in', me, tenant, branding, mfaRequired });
    } catch (problem) {
      // A passing failure (a 429, the network) keeps the console and what was typed.
      setSession((previous) => (previous.state === 'signed-in'
        ? { ...previous, notice: problemText(problem) }
        : { state: 'error', problem }));
    }
  };

  useEffect(() => {
    const onHash = () => setRoute(readRoute());
    addEventListener('hashchange', onHash);
    const stop = api.onSessionChange(load);
    api.refresh().then((ok) => { if (!ok) load(); });
    return () => { removeEventListener('hashchange', onHash); stop(); };
  }, []);

  const onSwitch = async (slug, select) => {
    if (slug === null) {
      setLanguageTick((n) => n + 1);
      return;
    }
    try {
      api.pinTenant(null);
      await api.switchTenant(slug);
      go('/dashboard');
    } catch (problem) {
      if (select && session.tenant) select.value = session.tenant.slug;
      api.pinTenant(session.tenant ? session.tenant.id : null);
      setSession({ ...session, notice: problemText(problem) });
    }
  };

  const Public = PUBLIC[route.path];
  if (Public) return <div class="centered"><Public route={route} /></div>;
  if (session.state === 'starting') return <p class="loading">{t('loading')}</p>;
  if (session.state === 'signed-out') {
    return <div class="centered"><SignIn route={route} /></div>;
  }
  if (session.state === 'error') {
    return (
      <div class="centered">
        <p class="notice error" role="alert">{problemText(session.problem)}</p>
        <p class="links">
          <button type="button" onClick={() => { setSession({ state: 'starting' }); load(); }}>{t('retry')}</button>
          <button type="button" class="secondary" onClick={() => api.signOut().then(() => go('/sign-in'))}>{t('sign_out')}</button>
        </p>
      </div>
    );
  }
  return <Shell route={route} me={session.me} tenant={session.tenant} branding={session.branding} onSwitch={onSwitch} notice={session.notice} mfaRequired={session.mfaRequired} />;
}

// The page's loading line goes: Preact 10 adds to what a container holds.
const root = document.getElementById('app');
root.textContent = '';
render(<App />, root);
