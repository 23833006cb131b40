// console/pages/overview — today and the last 7 days (figures and a chart per day), queue
// depth by state, and what needs attention: domains failing DNS checks, quotas nearly used,
// webhooks with a backlog or dead events, a TLS certificate near its end. Everything from
// the admin API; a source that fails (a role without access, say) leaves its part out
// instead of the whole page.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Chart } from '../chart.js';
import { STAT_FIELDS, canChange, dayBefore, daysBetween, useAction } from '../actions.js';
import { Empty, ErrorLine, html } from '../ui.js';

const QUEUE_STATES = ['queued', 'sending', 'deferred', 'held'];
/** A quota this far used is worth a look before it stops mail. */
const QUOTA_WARN = 0.8;
/** A certificate this close to its end needs renewing now (as `mta doctor` says). */
const CERT_WARN_DAYS = 14;
/** Domains whose quota is read (one call each). */
const QUOTA_DOMAINS = 20;

export const words = {
  en: {
    attention: 'Needs attention', allWell: 'Nothing needs attention: DNS checks pass, quotas have room, webhooks are keeping up.',
    dnsFailing: (d, f) => `Domain ${d}: ${f.join(', ')} — open Domains and check again once DNS is fixed.`,
    quotaNear: (d, k, used, limit) => `Domain ${d}: ${k} quota ${used} of ${limit} used.`,
    hookBacklog: (u, b, dead) => `Webhook ${u}: ${b} events waiting, ${dead} given up.`,
    certEnds: (p, days, end) => (days < 0 ? `TLS certificate ${p} expired on ${end}: renew it, then reload mta.`
      : `TLS certificate ${p} expires in ${days} days (${end}): renew it, then reload mta.`),
    certBad: (p, e) => `TLS certificate ${p} cannot be read: ${e}`,
    daily: 'daily', monthly: 'monthly', perDay: 'Per day', engagement: 'Opens and clicks by people, per day', opens: 'Opens', clicks: 'Clicks',
    noEngagement: 'No opens or clicks in these 7 days. They are counted for mail sent with tracking on (the Send form, a task, or X-Mta-Track).',
  },
  zh: {
    attention: '需要关注', allWell: '暂无需要关注的事项：DNS 检查通过，配额充足，Webhook 推送正常。',
    dnsFailing: (d, f) => `域名 ${d}：${f.join('，')} — 修正 DNS 后到“域名”页面重新检查。`,
    quotaNear: (d, k, used, limit) => `域名 ${d}：${k}配额已用 ${used} / ${limit}。`,
    hookBacklog: (u, b, dead) => `Webhook ${u}：${b} 个事件待推送，${dead} 个已放弃。`,
    certEnds: (p, days, end) => (days < 0 ? `TLS 证书 ${p} 已于 ${end} 过期：请续期后重新加载 mta。`
      : `TLS 证书 ${p} 将在 ${days} 天后（${end}）过期：请续期后重新加载 mta。`),
    certBad: (p, e) => `无法读取 TLS 证书 ${p}：${e}`,
    daily: '每日', monthly: '每月', perDay: '按天', engagement: '按天的打开和点击（真人）', opens: '打开', clicks: '点击',
    noEngagement: '最近 7 天没有打开或点击。开启跟踪发送的邮件才会统计（发送页面、批量任务或 X-Mta-Track）。',
  },
};

function Figures({ t, row, id }) {
  return html`<dl class="figures" data-testid=${id}>${STAT_FIELDS.map(([k, f]) => html`<div><dt>${t[k]}</dt><dd data-key=${k}>${row[f]}</dd></div>`)}</dl>`;
}

/** What needs attention, as lines of text; each source that cannot be read is skipped. */
async function attention(t) {
  const lines = [];
  const cert = (await api('GET', '/api/v1/status').catch(() => null))?.tls_certificate;
  if (cert?.error) lines.push(t.certBad(cert.path, cert.error));
  else if (cert && cert.days_left < CERT_WARN_DAYS) lines.push(t.certEnds(cert.path, cert.days_left, cert.valid_to.slice(0, 10)));
  const domains = await api('GET', '/api/v1/domains?limit=1000').catch(() => ({ items: [] }));
  for (const d of domains.items) if (d.failing.length) lines.push(t.dnsFailing(d.name, d.failing));
  for (const d of domains.items.slice(0, QUOTA_DOMAINS)) {
    const q = await api('GET', `/api/v1/domains/${encodeURIComponent(d.name)}/quota`).catch(() => null);
    for (const [k, lim] of [['daily', q?.daily], ['monthly', q?.monthly]]) {
      if (lim?.limit && lim.used >= lim.limit * QUOTA_WARN) lines.push(t.quotaNear(d.name, t[k], lim.used, lim.limit));
    }
  }
  const hooks = await api('GET', '/api/v1/webhooks?limit=1000').catch(() => ({ items: [] }));
  for (const w of hooks.items) if ((w.backlog ?? 0) > 0 || (w.dead ?? 0) > 0) lines.push(t.hookBacklog(w.url, w.backlog ?? 0, w.dead ?? 0));
  return lines;
}

export function Overview({ t, role }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [notes, setNotes] = useState(null);
  const flush = useAction(t);
  useEffect(() => {
    (async () => {
      const today = await api('GET', '/api/v1/stats');
      const from = dayBefore(today.to, 6);
      const week = await api('GET', `/api/v1/stats?from=${from}&to=${today.to}`);
      const status = await api('GET', '/api/v1/status');
      const engagement = await api('GET', `/api/v1/stats/engagement?from=${from}&to=${today.to}`);
      setData({ today: today.total, week, engagement, days: daysBetween(from, today.to), counts: status.counts });
    })().catch(setError);
    attention(t).then(setNotes, () => setNotes([]));
  }, []);
  if (error) return html`<${ErrorLine} t=${t} error=${error} />`;
  if (!data) return html`<p>${t.loading}</p>`;
  const depth = QUEUE_STATES.map((s) => [s, data.counts[s] ?? 0]);
  const waiting = depth.reduce((n, [, c]) => n + c, 0);
  const byDay = new Map(data.week.rows.map((r) => [r.key, r]));
  const series = STAT_FIELDS.map(([k, f]) => ({ key: k, label: t[k], values: data.days.map((d) => byDay.get(d)?.[f] ?? 0) }));
  return html`<section>
    <h1>${t.overview}</h1>
    <h2>${t.today}</h2>
    ${data.today.requests ? html`<${Figures} t=${t} row=${data.today} id="today" />` : html`<${Empty} t=${t} text=${t.emptyStats} />`}
    <h2>${t.last7}</h2>
    ${data.week.total.requests ? html`<${Figures} t=${t} row=${data.week.total} id="week" />
      <${Chart} id="week-chart" title=${t.perDay} labels=${data.days.map((d) => d.slice(5))} series=${series} />`
      : html`<${Empty} t=${t} text=${t.emptyStats} />`}
    ${data.week.total.requests > 0 && html`<h2>${t.engagement}</h2>${data.engagement.total.opens + data.engagement.total.clicks
      ? html`<${Chart} id="engagement-chart" labels=${data.days.map((d) => d.slice(5))} series=${['opens', 'clicks'].map((k) => ({
        key: k, label: t[k], values: data.days.map((d) => data.engagement.rows.find((r) => r.day === d)?.[k] ?? 0) }))} />`
      : html`<p class="muted" data-testid="engagement">${t.noEngagement}</p>`}`}
    <h2>${t.queueDepth}</h2>
    ${waiting ? html`<table data-testid="queue"><thead><tr><th>${t.state}</th><th>${t.count}</th></tr></thead>
      <tbody>${depth.map(([s, c]) => html`<tr><td>${s}</td><td data-state=${s}>${c}</td></tr>`)}</tbody></table>`
      : html`<${Empty} t=${t} text=${t.emptyQueue} />`}
    <p><button onClick=${() => flush.run(() => api('POST', '/api/v1/queue/flush', {}))} data-testid="flush" disabled=${flush.busy}
      title=${canChange(role) ? undefined : t.forbidden}>${t.flush}</button> <${flush.Notice} /></p>
    <h2>${t.attention}</h2>
    ${notes === null ? html`<p>${t.loading}</p>` : notes.length
      ? html`<div data-testid="attention">${notes.map((n) => html`<p class="notice">${n}</p>`)}</div>`
      : html`<p class="ok" data-testid="attention">${t.allWell}</p>`}
  </section>`;
}
