// console/ui — what every page shares: the htm template tag bound to Preact, the empty
// state, the error line (always the API's own message), useLoad, which fetches a page's
// data and reloads it on demand, and useDraft, a search form's fields as they are typed.
import { h } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { ApiError } from './api.js';

export const html = htm.bind(h);

/** An empty state that says what to do next. */
export function Empty({ t, text }) {
  return html`<div class="empty" data-testid="empty"><strong>${t.emptyTitle}</strong><p>${text}</p></div>`;
}

/** The API's message for a failed call; a 403 says the role does not allow it. */
export function errorText(t, e) {
  return e instanceof ApiError && e.status === 403 ? t.forbidden : (e?.message ?? String(e));
}

export function ErrorLine({ t, error }) {
  return error ? html`<p class="error" role="alert">${t.error}: ${errorText(t, error)}</p>` : null;
}

/**
 * Runs `load` now and whenever `deps` change; `reload()` runs it again (after a change).
 * Returns { data, error, reload }: data is undefined while loading.
 */
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: undefined, error: null });
  const reload = useCallback(() => {
    load().then((data) => setState({ data, error: null }), (error) => setState({ data: undefined, error }));
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

/**
 * A search form's fields as the reader types them: `field(name, fallback)` gives an input's
 * name, value and onInput. Bound only to the last search, a field lost what was typed into it
 * whenever the page drew again before the next search (its first results arriving): Preact
 * sets a controlled input back to its value on every render.
 */
export function useDraft(initial) {
  const [draft, setDraft] = useState(initial);
  return (name, fallback = '') => ({
    name,
    value: draft[name] ?? fallback,
    onInput: (e) => { const v = e.currentTarget.value; setDraft((d) => ({ ...d, [name]: v })); },
  });
}
