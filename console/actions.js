// console/actions — what the pages that change things share: who may change (the server
// decides; hiding a button only spares a viewer the 403), running a change with its
// outcome shown in a status line, the day arithmetic of the statistics pages, and times
// shown in the reader's zone.
import { useState } from 'preact/hooks';
import { errorText, html } from './ui.js';

/** Viewers only read; operators and admins change mail, queue, lists and tasks. */
export const canChange = (role) => role === 'operator' || role === 'admin';

/**
 * { busy, notice, run, Notice }: run(fn, doneText) calls fn once at a time, then shows
 * doneText (or fn's own string result) or the API's error; Notice renders that line.
 */
export function useAction(t) {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState(null);
  const run = async (fn, doneText = t.done) => {
    setBusy(true);
    setNotice(null);
    try {
      const r = await fn();
      setNotice({ ok: true, text: typeof r === 'string' ? r : doneText });
      return r;
    } catch (e) {
      setNotice({ ok: false, text: errorText(t, e) });
      return undefined;
    } finally { setBusy(false); }
  };
  const Notice = () => (notice ? html`<span role="status" class=${notice.ok ? 'ok' : 'error'}>${notice.text}</span>` : null);
  return { busy, notice, run, Notice };
}

/** The day `n` days before `day` (YYYY-MM-DD). */
export function dayBefore(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

/** Every day from `from` to `to` inclusive (YYYY-MM-DD). */
export function daysBetween(from, to) {
  const out = [];
  for (let d = from; d <= to && out.length < 400; d = dayBefore(d, -1)) out.push(d);
  return out;
}

/** An ISO time in the reader's zone and language; '' for none. */
export function when(iso, lang) {
  return iso ? new Date(iso).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false }) : '';
}

/** The figures a stats row shows, in order: the words' keys and the row's fields. */
export const STAT_FIELDS = [['sent', 'requests'], ['delivered', 'delivered'], ['failed', 'failed'], ['deferred', 'deferred'], ['invalid', 'invalid']];
