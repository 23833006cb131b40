// console/kit — what the configuration pages (domains, senders, tags, templates,
// suppression, webhooks, users, settings) share beyond ui.js: the role a change needs (a
// mirror of src/admin/roles.ts, only to hide buttons: the server decides), an action
// runner that reports the API's own message, a two-step remove button, a copy button, a
// labelled field, and the words all of them use. A button that changes nothing carries
// `data-read` (or is a copy button): the browser test checks a viewer sees no other.
// Must never: decide anything the server does not check again.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { errorText, html, useLoad } from './ui.js';

const RANK = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` may make changes that need `need` (the server checks again). */
export function may(role, need) {
  return (RANK[role] ?? -1) >= RANK[need];
}

/** A page's words with the kit's own under them (routes.js `words`). */
export function withKitWords(words) {
  return { en: { ...KIT_WORDS.en, ...words.en }, zh: { ...KIT_WORDS.zh, ...words.zh } };
}

const KIT_WORDS = {
  en: {
    add: 'Add', remove: 'Remove', cancel: 'Cancel', confirmRemove: 'Remove {x}?', yesRemove: 'Yes, remove', copy: 'Copy', copied: 'Copied',
    save: 'Save', saved: 'Saved', removed: 'Removed', added: 'Added', actions: 'Actions', created: 'Created', never: 'never', more: 'More',
  },
  zh: {
    add: '添加', remove: '删除', cancel: '取消', confirmRemove: '确定删除 {x}？', yesRemove: '确定删除', copy: '复制', copied: '已复制',
    save: '保存', saved: '已保存', removed: '已删除', added: '已添加', actions: '操作', created: '创建时间', never: '从未', more: '更多',
  },
};

/** `{x}` in a word replaced. */
export function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (all, k) => (k in vars ? String(vars[k]) : all));
}

/** An ISO time in the reader's locale, or the word for "never". */
export function when(t, iso, lang) {
  return iso ? new Date(iso).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : t.never;
}

/**
 * Runs API calls on a user's action and keeps one line about the last: `run(fn, ok)` awaits
 * fn(), shows `ok` (a word, a function of fn's result, or nothing for null) and returns the result; a refused
 * call shows the API's message (or that the role does not allow it) and returns undefined.
 */
export function useAction(t) {
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (fn, ok) => {
    setBusy(true);
    try {
      const r = await fn();
      if (ok !== null) setNotice({ ok: true, text: typeof ok === 'function' ? ok(r) : ok ?? t.done });
      return r;
    } catch (e) {
      setNotice({ ok: false, text: errorText(t, e) });
      return undefined;
    } finally { setBusy(false); }
  };
  const line = notice && html`<p class=${notice.ok ? 'notice' : 'error'} role=${notice.ok ? 'status' : 'alert'} data-testid="notice">${notice.ok ? '' : `${t.error}: `}${notice.text}</p>`;
  return { run, busy, line, clear: () => setNotice(null) };
}

/**
 * Remove, then "Remove X? Yes / Cancel": a slip of the keyboard removes nothing. The focus
 * moves to the question's "Yes" and, on Cancel, back to Remove (autofocus does not apply
 * to elements added after the page loaded).
 */
export function RemoveButton({ t, what, onConfirm, testid = 'remove' }) {
  const [asking, setAsking] = useState(false);
  const [touched, setTouched] = useState(false);
  const focus = useRef(null);
  // A layout effect: the focus moves in the same frame the question appears.
  useLayoutEffect(() => { if (touched) focus.current?.focus(); }, [asking, touched]);
  const ask = (on) => { setTouched(true); setAsking(on); };
  if (!asking) return html`<button type="button" class="danger-outline" ref=${focus} data-testid=${testid} onClick=${() => ask(true)}>${t.remove}</button>`;
  return html`<span class="confirm" role="group" aria-label=${fill(t.confirmRemove, { x: what })}>
    ${fill(t.confirmRemove, { x: what })}
    <button type="button" class="danger" ref=${focus} data-testid="confirm" onClick=${async () => { setAsking(false); await onConfirm(); }}>${t.yesRemove}</button>
    <button type="button" class="plain" onClick=${() => ask(false)}>${t.cancel}</button>
  </span>`;
}

/** Copies `text`; where the clipboard is not offered (plain HTTP off loopback) it selects the text beside it instead. */
export function CopyButton({ t, text, label }) {
  const [done, setDone] = useState(false);
  const copy = async (ev) => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const code = ev.currentTarget.parentElement?.querySelector('code');
      if (code) getSelection()?.selectAllChildren(code);
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return html`<button type="button" class="plain copy" aria-label=${`${t.copy} ${label ?? ''}`.trim()} onClick=${copy}>${done ? t.copied : t.copy}</button>`;
}

/** A labelled input; `children` replaces the input (select, textarea). */
export function Field({ label, children, ...input }) {
  return html`<label class="field"><span>${label}</span>${children ?? html`<input ...${input} />`}</label>`;
}

/** The values of a submitted form as an object of strings, and the form reset. */
export function formValues(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const values = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v)]));
  return { values, reset: () => form.reset() };
}

/**
 * A paged listing (admin/pagination.ts): the first page of `url` now and again on reload(),
 * further pages on next() while the API gives a next_cursor. Returns { items, error,
 * reload, next }: items undefined while loading, next null on the last page.
 */
export function usePaged(url) {
  const [extra, setExtra] = useState({ items: [], cursor: null });
  const { data, error, reload } = useLoad(async () => {
    const page = await api('GET', url);
    setExtra({ items: [], cursor: page.next_cursor });
    return page;
  }, [url]);
  const next = async () => {
    const page = await api('GET', `${url}${url.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(extra.cursor)}`);
    setExtra({ items: [...extra.items, ...page.items], cursor: page.next_cursor });
  };
  return { items: data && [...data.items, ...extra.items], error, reload, next: extra.cursor ? next : null };
}

/** "More" under a paged listing while there is a next page. */
export function More({ t, act, next }) {
  return next && html`<p><button type="button" class="plain" data-read data-testid="more" onClick=${() => act.run(next, null)}>${t.more}</button></p>`;
}
