// console/app — the web console's shell: sign-in, navigation, language switch, and the
// pages (Overview first). Preact with htm templates, bundled by scripts/build-console.mjs;
// every number comes from the admin API (console/api.js), nothing is computed on the side.
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { STRINGS, initialLanguage } from './i18n.js';
import { ApiError, api, session } from './api.js';

const html = htm.bind(h);
const QUEUE_STATES = ['queued', 'sending', 'deferred', 'held'];

function dayBefore(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

function Empty({ t, text }) {
  return html`<div class="empty" data-testid="empty"><strong>${t.emptyTitle}</strong><p>${text}</p></div>`;
}

function Figures({ t, row, id }) {
  const cells = [['sent', row.requests], ['delivered', row.delivered], ['failed', row.failed], ['deferred', row.deferred], ['invalid', row.invalid]];
  return html`<dl class="figures" data-testid=${id}>${cells.map(([k, v]) => html`<div><dt>${t[k]}</dt><dd data-key=${k}>${v}</dd></div>`)}</dl>`;
}

function Overview({ t, role }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  useEffect(() => {
    (async () => {
      const today = await api('GET', '/api/v1/stats');
      const week = await api('GET', `/api/v1/stats?from=${dayBefore(today.to, 6)}&to=${today.to}`);
      const status = await api('GET', '/api/v1/status');
      setData({ today: today.total, week: week.total, counts: status.counts });
    })().catch((e) => setError(e.message));
  }, []);
  const flush = async () => {
    try { await api('POST', '/api/v1/queue/flush', {}); setNotice(t.done); } catch (e) { setNotice(e instanceof ApiError && e.status === 403 ? t.forbidden : e.message); }
  };
  if (error) return html`<p class="error" role="alert">${t.error}: ${error}</p>`;
  if (!data) return html`<p>${t.loading}</p>`;
  const depth = QUEUE_STATES.map((s) => [s, data.counts[s] ?? 0]);
  const waiting = depth.reduce((n, [, c]) => n + c, 0);
  return html`<section>
    <h1>${t.overview}</h1>
    <h2>${t.today}</h2>
    ${data.today.requests ? html`<${Figures} t=${t} row=${data.today} id="today" />` : html`<${Empty} t=${t} text=${t.emptyStats} />`}
    <h2>${t.last7}</h2>
    ${data.week.requests ? html`<${Figures} t=${t} row=${data.week} id="week" />` : html`<${Empty} t=${t} text=${t.emptyStats} />`}
    <h2>${t.queueDepth}</h2>
    ${waiting ? html`<table data-testid="queue"><thead><tr><th>${t.state}</th><th>${t.count}</th></tr></thead>
      <tbody>${depth.map(([s, c]) => html`<tr><td>${s}</td><td data-state=${s}>${c}</td></tr>`)}</tbody></table>`
      : html`<${Empty} t=${t} text=${t.emptyQueue} />`}
    <p><button onClick=${flush} data-testid="flush">${t.flush}</button> ${notice && html`<span role="status">${notice}</span>`}</p>
    <p class="muted">${role}</p>
  </section>`;
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
  const t = STRINGS[lang];
  useEffect(() => { session.current().then(setWho, () => setWho(null)); }, []);
  useEffect(() => { document.documentElement.lang = lang; document.title = t.title; }, [lang]);
  const choose = (l) => { localStorage.setItem('mta.lang', l); setLang(l); };
  const switcher = html`<select aria-label=${t.language} data-testid="lang" value=${lang} onChange=${(e) => choose(e.target.value)}>
    <option value="en">English</option><option value="zh">中文</option></select>`;
  if (who === undefined) return html`<p>${t.loading}</p>`;
  if (!who) return html`<div class="bar">${switcher}</div><${SignIn} t=${t} onDone=${setWho} />`;
  return html`<header class="bar">
      <nav><a href="#/overview" aria-current="page">${t.overview}</a></nav>
      <span class="user">${t.signedInAs} <strong data-testid="user">${who.user ?? 'token'}</strong> (${who.role})</span>
      ${switcher}
      <button data-testid="signout" onClick=${async () => { await session.signOut(); setWho(null); }}>${t.signOut}</button>
    </header>
    <main><${Overview} t=${t} role=${who.role} /></main>`;
}

render(html`<${App} />`, document.getElementById('app'));
