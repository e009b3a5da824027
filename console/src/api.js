// The API client. The access token lives in this module's memory only (never in storage);
// the refresh token is an HttpOnly, SameSite=Strict cookie scoped to /v1/auth/ that no
// script can read. An expired access token is refreshed once, then the call is retried.

let access = null;
let tenantSlug = null;
let pinnedTenant = null;
const listeners = new Set();

/** An API refusal: the problem+json body, its status and Retry-After. */
export class Problem extends Error {
  constructor(status, body, retryAfter) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
    this.detail = body.detail;
    this.field = body.field;
    this.permission = body.permission;
    this.retryAfter = retryAfter ?? body.retry_after;
    this.body = body;
  }
}

/** The claims of the access token (for the tenant list and the platform role). */
export function claims() {
  if (!access) return null;
  try {
    const part = access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

export function signedIn() {
  return access !== null;
}

/** Called with no argument whenever the session changes (sign-in, switch, sign-out). */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells the shell to load the session again (after a change of branding, say). */
export function sessionChanged() {
  listeners.forEach((l) => l());
}

function setAccess(token) {
  access = token;
  const c = claims();
  tenantSlug = c && c.tenants && c.tenants[0] && c.tenant_id ? c.tenants[0].slug : null;
  listeners.forEach((l) => l());
}

/** The tenant the console acts on: the token's own. */
export function currentTenant() {
  return tenantSlug;
}

/** The tenant the page shows: every tenant call names it, so a switch made in another tab
 * (the session's tenant changes at its next refresh) never sends this page's writes elsewhere. */
export function pinTenant(id) {
  pinnedTenant = id;
}

async function send(method, path, body) {
  const headers = { accept: 'application/json' };
  if (pinnedTenant && !path.startsWith('/v1/auth/') && !path.startsWith('/v1/admin/')) headers['x-tenant-id'] = pinnedTenant;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (access) headers.authorization = `Bearer ${access}`;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { detail: text.slice(0, 200) };
  }
  if (!response.ok) {
    const retry = response.headers.get('retry-after');
    throw new Problem(response.status, body, retry ? Number(retry) : undefined);
  }
  return body;
}

let refreshing = null;

/** Exchanges the refresh cookie for a new access token; false when there is no session. */
export async function refresh() {
  if (!refreshing) {
    const exchange = async () => {
      try {
        const response = await fetch('/v1/auth/refresh', { method: 'POST', credentials: 'same-origin' });
        if (!response.ok) return false;
        setAccess((await response.json()).access_token);
        return true;
      } catch {
        return false;
      }
    };
    // One tab at a time: the cookie rotates, and a second use of a rotated token ends the
    // whole session (reuse detection).
    const locked = navigator.locks ? navigator.locks.request('tenantry-refresh', exchange) : exchange();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Calls the API; a 401 on an expired token refreshes once and retries. */
export async function call(method, path, body) {
  let response = await send(method, path, body);
  if (response.status === 401 && access) {
    if (await refresh()) response = await send(method, path, body);
    else setAccess(null);
  }
  return parse(response);
}

/** A sign-in's answer: the session's tokens (kept), or a second-factor challenge
 * (`mfa_required`, its `mfa_token`), answered as it is for `verifySecondFactor`. */
function signedInOrChallenged(answer) {
  if (!answer.mfa_required) setAccess(answer.access_token);
  return answer;
}

export async function signIn(email, password, tenant) {
  const body = { email, password, cookie: true };
  if (tenant) body.tenant = tenant;
  return signedInOrChallenged(await parse(await send('POST', '/v1/auth/login', body)));
}

export async function acceptInvitation(token, password) {
  return signedInOrChallenged(await parse(await send('POST', '/v1/auth/accept-invitation', { token, password, cookie: true })));
}

/** Completes a sign-in that answered `mfa_required`: its token and `{code}` or
 * `{recovery_code}`. The session opens as the sign-in asked (the refresh cookie). */
export async function verifySecondFactor(mfaToken, factor) {
  const answer = await parse(await send('POST', '/v1/auth/mfa/verify', { mfa_token: mfaToken, ...factor }));
  setAccess(answer.access_token);
  return answer;
}

/** Whether the current session signed in with two factors (its token's `amr`). */
export function multiFactor() {
  const c = claims();
  return Boolean(c && Array.isArray(c.amr) && c.amr.includes('mfa'));
}

export async function switchTenant(tenant) {
  const answer = await call('POST', '/v1/auth/switch', { tenant });
  setAccess(answer.access_token);
  return answer;
}

export async function signOut() {
  try {
    await fetch('/v1/auth/logout', { method: 'POST', credentials: 'same-origin' });
  } finally {
    pinnedTenant = null;
    setAccess(null);
  }
}
