// Building blocks of every page: forms that keep what was typed and show the API's
// problem beside the field it names, tables, charts, a copy button, notices.
import { useEffect, useState } from 'preact/hooks';
import { call } from './api.js';
import { formatDate, formatDateTime, formatMegabytes, formatNumber, formatPercent, t } from './i18n.js';

export { formatDate };

/** A problem's text for a person: its detail, and when to try again after a 429. */
export function problemText(problem) {
  if (!problem) return '';
  if (problem.code === 'mfa_required') return t('mfa_required_text');
  if (problem.status === 429) {
    return t('retry_in', { seconds: problem.retryAfter || 60 }) + (problem.detail ? ` (${problem.detail})` : '');
  }
  return problem.detail || problem.message || t('error_generic');
}

export function Notice({ kind = 'error', children }) {
  if (!children) return null;
  return <p class={`notice ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</p>;
}

/** Where the account page's second factors are: scrolled to, its heading focused. */
export function showSecurity() {
  const heading = document.getElementById('security-title');
  if (!heading) return;
  heading.scrollIntoView({ block: 'start' });
  heading.focus({ preventScroll: true });
}

/** The tenant requires two factors and this session signed in with one: what to do, and
 * the way to the account page's second factors. */
export function MfaRequiredNotice() {
  return (
    <div class="notice warning mfa-required" role="alert" id="mfa-required">
      <p>{t('mfa_required_text')}</p>
      <a href="#/account?section=security" class="button-link" onClick={() => setTimeout(showSecurity, 50)}>{t('mfa_required_link')}</a>
    </div>
  );
}

/** A refusal as a notice: the way to the second factors for `mfa_required`. */
export function ProblemNotice({ problem }) {
  if (!problem) return null;
  if (problem.code === 'mfa_required') return <MfaRequiredNotice />;
  return <Notice>{problemText(problem)}</Notice>;
}

let fieldIds = 0;

/**
 * A form from field descriptions ({name, label, type, options, required, placeholder,
 * help}); `submit(values)` returns a promise. A refused submit keeps the values and shows
 * the problem beside the field it names (`field` in the problem), or above the buttons.
 * `validate(values)` may refuse in the page first ({field, detail}): nothing is sent then.
 */
export function Form({ fields, submit, label, initial = {}, onDone, id, reset = true, validate }) {
  const [values, setValues] = useState(() => Object.fromEntries(fields.map((f) => [f.name, initial[f.name] ?? (f.type === 'checkbox' ? false : '')])));
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const [prefix] = useState(() => `f${++fieldIds}`);
  const onSubmit = async (event) => {
    event.preventDefault();
    const refused = validate ? validate(values) : null;
    if (refused) {
      setProblem(refused);
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      const result = await submit(values);
      if (reset) setValues(Object.fromEntries(fields.map((f) => [f.name, initial[f.name] ?? (f.type === 'checkbox' ? false : '')])));
      if (onDone) onDone(result, values);
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  const fieldProblem = (name) => problem && problem.field === name ? problem : null;
  const general = problem && !fields.some((f) => f.name === problem.field) ? problem : null;
  return (
    <form onSubmit={onSubmit} id={id} novalidate>
      {fields.map((f) => {
        const inputId = `${prefix}-${f.name}`;
        const error = fieldProblem(f.name);
        const set = (value) => setValues({ ...values, [f.name]: value });
        const described = [f.help && `${inputId}-help`, error && `${inputId}-error`].filter(Boolean).join(' ');
        const common = { id: inputId, name: f.name, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': described || undefined };
        let input;
        if (f.type === 'select') {
          input = (
            <select {...common} value={values[f.name]} onChange={(e) => set(e.currentTarget.value)} required={f.required}>
              {f.options.map((o) => <option value={o.value ?? o}>{o.label ?? o}</option>)}
            </select>
          );
        } else if (f.type === 'textarea') {
          input = <textarea {...common} rows={f.rows || 4} value={values[f.name]} onInput={(e) => set(e.currentTarget.value)} required={f.required} placeholder={f.placeholder} spellcheck={f.secret ? false : undefined} autocomplete={f.secret ? 'off' : undefined} />;
        } else if (f.type === 'checkbox') {
          input = <input {...common} type="checkbox" checked={values[f.name]} onChange={(e) => set(e.currentTarget.checked)} />;
        } else {
          input = (
            <input {...common} type={f.type || 'text'} value={values[f.name]} onInput={(e) => set(e.currentTarget.value)} required={f.required}
              placeholder={f.placeholder} autocomplete={f.autocomplete} inputmode={f.inputmode}
              spellcheck={f.secret ? false : undefined} autocapitalize={f.secret ? 'off' : undefined} />
          );
        }
        return (
          <div class={`field${f.type === 'checkbox' ? ' checkbox' : ''}${error ? ' invalid' : ''}`}>
            <label for={inputId}>{f.label}</label>
            {input}
            {f.help && <small id={`${inputId}-help`}>{f.help}</small>}
            {error && <span class="field-error" id={`${inputId}-error`} role="alert">{problemText(error)}</span>}
          </div>
        );
      })}
      {general && <ProblemNotice problem={general} />}
      <button type="submit" disabled={busy}>{label}</button>
    </form>
  );
}

/** A table of rows with its columns ({label, value(row)}) and optional actions per row. */
export function Table({ columns, rows, actions, empty }) {
  if (!rows || rows.length === 0) return <p class="empty">{empty || t('nothing_yet')}</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>{columns.map((c) => <th scope="col">{c.label}</th>)}{actions && <th scope="col"><span class="sr-only">{t('actions')}</span></th>}</tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr>
              {columns.map((c) => <td data-label={c.label}>{c.value(row)}</td>)}
              {actions && <td class="actions"><div class="actions-inner">{actions(row)}</div></td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** How near a limit a use is: ok, warning (80 % and more) or danger (at the limit). */
export function level(used, limit) {
  if (limit === null || limit === undefined || limit < 0) return 'ok';
  const ratio = limit === 0 ? 1 : used / limit;
  return ratio >= 1 ? 'danger' : ratio >= 0.8 ? 'warning' : 'ok';
}

/** A use's share of its limit in words: under 1 % is "< 1%", never a misleading 0 %. */
function share(used, limit) {
  const ratio = used / (limit || 1);
  return used > 0 && ratio < 0.01 ? `< ${formatPercent(0.01)}` : formatPercent(ratio);
}

/** The narrowest bar drawn for a use that is not zero (of 320): 1 of 100,000 stays visible. */
const MIN_BAR = 4;

/**
 * Usage against a limit as a horizontal bar chart (SVG); -1 or null is no limit. Each item:
 * {label, used, limit, unit ('mb' for sizes), quota (its name, as data-quota)}. A use at 80 %
 * of its limit is drawn in the warning colour and says so in words, at 100 % in the danger one.
 */
export function UsageChart({ items, label: chartLabel }) {
  const width = 320;
  // A User Timing mark when the chart is first drawn: what `scripts/bench.sh console` reads.
  useEffect(() => {
    if (!performance.getEntriesByName('tenantry:chart').length) performance.mark('tenantry:chart');
  }, []);
  return (
    <ul class="chart" aria-label={chartLabel || t('usage_chart')}>
      {items.map(({ label, used, limit, unit, quota }) => {
        const unlimited = limit === null || limit === undefined || limit < 0;
        const ratio = unlimited ? 0 : Math.min(1, limit === 0 ? 1 : used / limit);
        const kind = level(used, limit);
        const format = unit === 'mb' ? formatMegabytes : formatNumber;
        const shown = `${format(used)} / ${unlimited ? '∞' : format(limit)}`;
        const spoken = unlimited ? `${format(used)}, ${t('no_limit')}` : `${shown} (${share(used, limit)})`;
        const bar = used > 0 ? Math.max(unlimited ? 0 : MIN_BAR, ratio * width) : 0;
        return (
          <li data-quota={quota} data-level={kind} class={`chart-row ${kind}`}>
            <span class="chart-label">
              {label}
              {kind !== 'ok' && <span class={`badge ${kind} chart-level`}>{t(kind === 'danger' ? 'limit_reached' : 'limit_near')}</span>}
            </span>
            <svg viewBox={`0 0 ${width} 14`} role="img" aria-label={`${label}: ${spoken}`} preserveAspectRatio="none">
              <rect x="0" y="0" width={width} height="14" class="chart-track" />
              <rect x="0" y="0" width={bar} height="14" class={`chart-bar ${kind}`} />
            </svg>
            <span class="chart-value" data-used={used}>
              {shown}{!unlimited && <small class="chart-percent"> · {share(used, limit)}</small>}
            </span>
          </li>
        );
      })}
    </ul>
  );
}

/** Parts of a whole as labelled bars ({label, value, key}): the count and its share. */
export function ShareChart({ items, total, label }) {
  const width = 320;
  const whole = total || items.reduce((sum, i) => sum + i.value, 0) || 1;
  return (
    <ul class="chart share" aria-label={label}>
      {items.map((i) => (
        <li data-key={i.key}>
          <span class="chart-label">{i.label}</span>
          <svg viewBox={`0 0 ${width} 14`} role="img" aria-label={`${i.label}: ${formatNumber(i.value)} (${formatPercent(i.value / whole)})`} preserveAspectRatio="none">
            <rect x="0" y="0" width={width} height="14" class="chart-track" />
            <rect x="0" y="0" width={i.value > 0 ? Math.max(MIN_BAR, (i.value / whole) * width) : 0} height="14" class={`chart-bar ${i.kind || ''}`} />
          </svg>
          <span class="chart-value">{formatNumber(i.value)}<small class="chart-percent"> · {formatPercent(i.value / whole)}</small></span>
        </li>
      ))}
    </ul>
  );
}

/** Labelled figures ({label, value, key}), large: totals at a glance. */
export function Figures({ items }) {
  return (
    <dl class="figures">
      {items.map((i) => (
        <div class="figure" data-key={i.key}>
          <dt>{i.label}</dt>
          <dd>{formatNumber(i.value)}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * Copies `value` to the clipboard: [copied, copy]. `copy(event)` may be given the click's
 * event: where the clipboard is refused, the text of the element just before the button is
 * selected instead, for the person to copy it.
 */
export function useCopy(value) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return undefined;
    const timer = setTimeout(() => setCopied(false), 4000);
    return () => clearTimeout(timer);
  }, [copied]);
  // Another value (a list drawn again with other data) was not copied.
  useEffect(() => setCopied(false), [value]);
  const copy = async (event) => {
    const shown = event && event.currentTarget && event.currentTarget.previousElementSibling;
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
      if (shown) {
        const range = document.createRange();
        range.selectNodeContents(shown);
        const selection = getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
    }
  };
  return [copied, copy];
}

/** A secret shown once, with a button that copies it. */
export function Secret({ value, label }) {
  const [copied, copy] = useCopy(value);
  return (
    <div class="secret">
      <p>{label || t('shown_once')}</p>
      <code class="secret-value">{value}</code>
      <button type="button" onClick={copy}>{copied ? t('copied') : t('copy')}</button>
    </div>
  );
}

/**
 * A value to copy (a DNS record's name, say) as one group of a <dl>: its label, the value
 * (or `shown`, the same laid out otherwise) and a copy button that names what it copies for
 * screen readers.
 */
export function CopyField({ label, value, id, kind, shown }) {
  const [copied, copy] = useCopy(value);
  const word = copied ? t('copied') : t('copy');
  return (
    <div class="copy-field">
      <dt>{label}</dt>
      <dd>
        <code class={`copy-value${kind ? ` ${kind}` : ''}`} id={id}>{shown ?? value}</code>
        <button type="button" class="secondary" onClick={copy} aria-label={`${word}: ${label}`} data-copies={id}>{word}</button>
        <span class="sr-only" role="status">{copied ? t('copied_what', { what: label }) : ''}</span>
      </dd>
    </div>
  );
}

/** A moment, unambiguous in both languages (7 Dec 2026, 09:58). */
export function formatTime(seconds) {
  return formatDateTime(seconds);
}

/**
 * Loads `path` (again when `reload` is called or the path changes): {data, problem, reload,
 * loads}; `loads` counts the answers received (what a page shows as `data-loads`, for a test
 * to see a list drawn again).
 */
export function useLoad(path) {
  const [state, setState] = useState({ data: null, problem: null, loads: 0 });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) return undefined;
    let live = true;
    call('GET', path).then(
      (data) => live && setState((s) => ({ data, problem: null, loads: s.loads + 1 })),
      (problem) => live && setState((s) => ({ data: null, problem, loads: s.loads + 1 })),
    );
    return () => { live = false; };
  }, [path, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

/** A page's loading or refusal state, or its content. */
export function Loaded({ state, children }) {
  if (state.problem) return <ProblemNotice problem={state.problem} />;
  if (!state.data) return <p class="loading">{t('loading')}</p>;
  return children(state.data);
}

/** A confirm-then-act button whose refusal is shown beside it. */
export function ActionButton({ label, action, danger, primary, confirmText, onDone, context, id }) {
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    if (busy || (confirmText && !confirm(confirmText))) return;
    setProblem(null);
    setBusy(true);
    try {
      const result = await action();
      if (onDone) onDone(result);
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span>
      <button type="button" id={id} class={danger ? 'danger' : primary ? undefined : 'secondary'} onClick={run} disabled={busy} aria-label={context ? `${label}: ${context}` : undefined}>{label}</button>
      {problem && <span class="field-error" role="alert"> {problemText(problem)}</span>}
    </span>
  );
}

/**
 * A keyset-paged list (`?limit=&cursor=`, answered with `next_cursor`): the loaded page, a
 * pager to go forward and back, and `restart()` for when the query changes.
 */
export function usePages(path, params = {}, limit = 25) {
  const [cursors, setCursors] = useState([]);
  const filters = new URLSearchParams(Object.fromEntries(Object.entries(params).filter(([, v]) => v))).toString();
  // Another query starts from its first page.
  useEffect(() => setCursors([]), [filters]);
  const query = new URLSearchParams({ ...Object.fromEntries(Object.entries(params).filter(([, v]) => v)), limit: String(limit) });
  if (cursors.length) query.set('cursor', cursors[cursors.length - 1]);
  const state = useLoad(`${path}?${query}`);
  const pager = state.data && (cursors.length > 0 || state.data.next_cursor) ? (
    <div class="pager">
      <button type="button" class="secondary" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>{t('previous')}</button>
      <button type="button" class="secondary" disabled={!state.data.next_cursor} onClick={() => setCursors([...cursors, state.data.next_cursor])}>{t('next')}</button>
    </div>
  ) : null;
  return { ...state, pager, restart: () => setCursors([]) };
}
