// console/app — the web console's shell: sign-in, navigation, language switch, and the
// hash router over routes.js's pages. Preact with htm templates, bundled by scripts/build-console.mjs;
// every number comes from the admin API (console/api.js), nothing is computed on the side.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { initialLanguage, wordsFor } from './i18n.js';
import { ApiError, SESSION_ENDED, session } from './api.js';
import { ROUTES } from './routes.js';
import { html } from './ui.js';

/**
 * The page the location's hash names (#/domains, #/sends/ID, #/sends?rcpt=...), Overview
 * when none does; what follows `?` is the page's query (a search it can be linked to).
 */
function currentRoute() {
  const [where, qs = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [path = '', ...rest] = where.split('/');
  const route = ROUTES.find((r) => r.path === path) ?? ROUTES[0];
  return { route, args: rest.map(decodeURIComponent), query: Object.fromEntries(new URLSearchParams(qs)) };
}

function useHashRoute() {
  const [where, setWhere] = useState(currentRoute());
  useEffect(() => {
    const onHash = () => setWhere(currentRoute());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return where;
}

function SignIn({ t, onDone }) {
  const [error, setError] = useState(null);
  const submit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      onDone(await session.signIn(String(f.get('name')), String(f.get('password'))));
    } catch (e) {
      setError(e instanceof ApiError && e.status === 429 ? t.throttled : e instanceof ApiError && e.status === 401 ? t.wrong : e.message);
    }
  };
  return html`<form class="signin" onSubmit=${submit}>
    <h1>${t.title}</h1>
    <label>${t.name}<input name="name" autocomplete="username" required /></label>
    <label>${t.password}<input name="password" type="password" autocomplete="current-password" required /></label>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">${t.signIn}</button>
  </form>`;
}

function App() {
  const [lang, setLang] = useState(initialLanguage());
  const [who, setWho] = useState(undefined);
  const { route, args, query } = useHashRoute();
  const t = wordsFor(lang, route);
  useEffect(() => { session.current().then(setWho, () => setWho(null)); }, []);
  useEffect(() => {
    const onEnded = () => setWho(null);
    addEventListener(SESSION_ENDED, onEnded);
    return () => removeEventListener(SESSION_ENDED, onEnded);
  }, []);
  useEffect(() => { document.documentElement.lang = lang; document.title = t.title; }, [lang]);
  const choose = (l) => { localStorage.setItem('mta.lang', l); setLang(l); };
  const switcher = html`<select aria-label=${t.language} data-testid="lang" value=${lang} onChange=${(e) => choose(e.target.value)}>
    <option value="en">English</option><option value="zh">中文</option></select>`;
  if (who === undefined) return html`<p>${t.loading}</p>`;
  if (!who) return html`<div class="bar">${switcher}</div><${SignIn} t=${t} onDone=${setWho} />`;
  return html`<header class="bar">
      <nav>${ROUTES.map((r) => html`<a href=${`#/${r.path}`} aria-current=${r === route ? 'page' : undefined}>${r.title[lang]}</a>`)}</nav>
      <span class="user">${t.signedInAs} <strong data-testid="user">${who.user ?? 'token'}</strong> (${who.role})</span>
      ${switcher}
      <button data-testid="signout" onClick=${async () => { await session.signOut(); setWho(null); }}>${t.signOut}</button>
    </header>
    <main><${route.page} t=${t} role=${who.role} args=${args} query=${query} lang=${lang} key=${route.path} /></main>`;
}

render(html`<${App} />`, document.getElementById('app'));
