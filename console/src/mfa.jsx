// Second factors: the code form (an authenticator app's six digits, or a recovery code
// instead), the QR code an app scans, the recovery codes shown once, and how a session
// signed in (its `amr`) in words.
import { useMemo, useState } from 'preact/hooks';
import { encode } from 'uqr';
import { Problem } from './api.js';
import { t } from './i18n.js';
import { Form, useCopy } from './ui.jsx';

const SIX_DIGITS = /^( *[0-9]){6} *$/;

/** How a session signed in, from its `amr`: password, or password and a second factor. */
export function amrText(amr) {
  const values = amr || [];
  if (values.includes('rec')) return t('amr_recovery');
  if (values.includes('otp')) return t('amr_app');
  if (values.includes('pwd')) return t('amr_password');
  return '—';
}

/** Whether a refusal ends a sign-in's challenge: expired or used, or too many wrong codes. */
export function challengeEnded(problem) {
  return Boolean(problem && (problem.code === 'token_invalid' || problem.status === 429));
}

/** A refused code in words, beside the field it was typed in. */
function explained(problem, field) {
  if (!(problem instanceof Problem)) return problem;
  if (problem.code === 'invalid_code') {
    return new Problem(problem.status, { ...problem.body, field, detail: t(field === 'code' ? 'mfa_invalid_code' : 'mfa_invalid_recovery') });
  }
  if (problem.code === 'token_invalid') return new Problem(problem.status, { ...problem.body, detail: t('mfa_token_invalid') });
  if (problem.status === 429) return new Problem(problem.status, { ...problem.body, detail: t('mfa_too_many') }, problem.retryAfter);
  return problem;
}

/**
 * Asks for a second factor: the app's code (`{code}`), or with `recovery` a recovery code
 * instead (`{recovery_code}`), the person's choice. `submit(factor)` returns a promise; six
 * digits are checked in the page first (nothing is sent otherwise).
 */
export function FactorForm({ id, label, submit, onDone, recovery = true }) {
  const [mode, setMode] = useState('code');
  const field = mode === 'code'
    ? { name: 'code', label: t('mfa_code'), inputmode: 'numeric', autocomplete: 'one-time-code', required: true, secret: true, help: t('mfa_code_help') }
    : { name: 'recovery_code', label: t('mfa_recovery_code'), autocomplete: 'off', required: true, secret: true, help: t('mfa_recovery_help') };
  const validate = (v) => {
    if (mode === 'code' && !SIX_DIGITS.test(v.code)) return { field: 'code', detail: t('mfa_code_format') };
    if (mode === 'recovery' && !v.recovery_code.trim()) return { field: 'recovery_code', detail: t('mfa_recovery_empty') };
    return null;
  };
  const send = (v) => {
    const factor = mode === 'code' ? { code: v.code.replace(/\s/g, '') } : { recovery_code: v.recovery_code.trim() };
    return submit(factor).catch((problem) => { throw explained(problem, field.name); });
  };
  return (
    <div class="factor-form">
      <Form key={mode} id={id} fields={[field]} label={label} validate={validate} submit={send} onDone={onDone} />
      {recovery && (
        <button type="button" class="link-button" id={`${id}-mode`} onClick={() => setMode(mode === 'code' ? 'recovery' : 'code')}>
          {t(mode === 'code' ? 'mfa_use_recovery' : 'mfa_use_code')}
        </button>
      )}
    </div>
  );
}

/** A QR code of `text` as an SVG of its dark modules (runs of a row as one rectangle). */
export function QrCode({ text, label, id }) {
  const qr = useMemo(() => encode(text, { ecc: 'M', border: 4 }), [text]);
  const runs = [];
  qr.data.forEach((row, y) => {
    let x = 0;
    while (x < qr.size) {
      if (!row[x]) {
        x += 1;
      } else {
        const start = x;
        while (x < qr.size && row[x]) x += 1;
        runs.push(<rect x={start} y={y} width={x - start} height="1" />);
      }
    }
  });
  return (
    <svg class="qr" id={id} viewBox={`0 0 ${qr.size} ${qr.size}`} role="img" aria-label={label}>
      <rect class="qr-light" x="0" y="0" width={qr.size} height={qr.size} />
      <g class="qr-dark">{runs}</g>
    </svg>
  );
}

/** Saves the codes as a text file (a link to a Blob, clicked). */
function download(codes) {
  const url = URL.createObjectURL(new Blob([`${t('recovery_file_title')}\n\n${codes.join('\n')}\n`], { type: 'text/plain' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = 'tenantry-recovery-codes.txt';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Ten recovery codes, shown once: to store now, copy or download; `onDismiss` once stored. */
export function RecoveryCodes({ codes, onDismiss }) {
  const [copied, copy] = useCopy(codes.join('\n'));
  return (
    <div class="secret recovery" id="recovery-codes-box" role="region" aria-labelledby="recovery-codes-title">
      <h3 id="recovery-codes-title">{t('recovery_title')}</h3>
      <p><strong>{t('recovery_store_now')}</strong></p>
      <p>{t('recovery_explain')}</p>
      <ol class="recovery-codes" id="recovery-codes">{codes.map((code) => <li><code>{code}</code></li>)}</ol>
      <button type="button" class="secondary" onClick={copy}>{copied ? t('copied') : t('recovery_copy')}</button>
      <span class="sr-only" role="status">{copied ? t('copied_what', { what: t('recovery_title') }) : ''}</span>
      <div class="button-row">
        <button type="button" class="secondary" onClick={() => download(codes)}>{t('recovery_download')}</button>
        <button type="button" id="recovery-codes-stored" onClick={onDismiss}>{t('recovery_stored')}</button>
      </div>
    </div>
  );
}
