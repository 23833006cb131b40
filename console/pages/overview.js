// console/pages/overview — today and the last 7 days, queue depth by state.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { Empty, html } from '../ui.js';

const QUEUE_STATES = ['queued', 'sending', 'deferred', 'held'];

function dayBefore(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

function Figures({ t, row, id }) {
  const cells = [['sent', row.requests], ['delivered', row.delivered], ['failed', row.failed], ['deferred', row.deferred], ['invalid', row.invalid]];
  return html`<dl class="figures" data-testid=${id}>${cells.map(([k, v]) => html`<div><dt>${t[k]}</dt><dd data-key=${k}>${v}</dd></div>`)}</dl>`;
}

export function Overview({ t, role }) {
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

