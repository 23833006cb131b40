// console/pages/queue — mail waiting for delivery: recipients by state, and by destination
// domain and age like Postfix's qshape (GET /api/v1/queue/summary); the waiting recipients
// themselves, oldest first; and the operator's levers: flush (everything or one domain),
// hold, release and delete (one domain, or one message), deleting only after a second click.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { canChange, useAction, when } from '../actions.js';
import { Empty, ErrorLine, html, useLoad } from '../ui.js';

const STATES = ['queued', 'sending', 'deferred', 'held'];
const ACTIONS = ['flush', 'hold', 'release', 'delete'];

export const words = {
  en: {
    byDomain: 'Waiting by destination and age', domain: 'Domain', total: 'Total', waitingList: 'Waiting recipients (oldest first)',
    flushAll: 'Retry all now', flush: 'Retry now', hold: 'Hold', release: 'Release', delete: 'Delete', retry: 'Retry now',
    confirmDelete: (what) => `Delete the waiting mail of ${what}? It ends as failed, with no bounce.`, yesDelete: 'Yes, delete', cancel: 'Cancel',
    affected: (n) => `${n} recipients changed.`, rcpt: 'Recipient', sender: 'Sender', attempts: 'Attempts', next: 'Next attempt',
    lastReply: 'Last reply', actions: 'Actions', refresh: 'Refresh', message: (id) => `message ${id}`,
  },
  zh: {
    byDomain: '按目标域名和等待时长', domain: '域名', total: '合计', waitingList: '等待中的收件人（最早的在前）',
    flushAll: '全部立即重试', flush: '立即重试', hold: '暂停', release: '恢复', delete: '删除', retry: '立即重试',
    confirmDelete: (what) => `删除 ${what} 的等待邮件？它们将记为失败，不发退信。`, yesDelete: '确认删除', cancel: '取消',
    affected: (n) => `已变更 ${n} 个收件人。`, rcpt: '收件人', sender: '发信地址', attempts: '尝试次数', next: '下次尝试',
    lastReply: '最后回复', actions: '操作', refresh: '刷新', message: (id) => `邮件 ${id}`,
  },
};

/**
 * The buttons for one target: `path(action)` is its endpoint and `body` its selector. Delete
 * asks again in place (no browser dialog: it stays keyboard-reachable and in the language).
 */
function Levers({ t, act, path, body, what, after, actions = ACTIONS, id }) {
  const [asking, setAsking] = useState(false);
  const go = (a) => act.run(async () => { const r = await api('POST', path(a), body); after(); return t.affected(r.affected); });
  if (asking) {
    return html`<span role="group" data-testid=${`confirm-${id}`}>${t.confirmDelete(what)}
      <button class="danger" onClick=${() => { setAsking(false); go('delete'); }} data-testid=${`yes-${id}`}>${t.yesDelete}</button>
      <button class="quiet" onClick=${() => setAsking(false)}>${t.cancel}</button></span>`;
  }
  return html`<span class="row" style="margin:0">${actions.map((a) => html`<button class=${a === 'delete' ? 'danger' : 'quiet'} disabled=${act.busy}
    data-testid=${`${a}-${id}`} onClick=${() => (a === 'delete' ? setAsking(true) : go(a))}>${t[a]}</button>`)}</span>`;
}

export function Queue({ t, role, lang }) {
  const summary = useLoad(() => api('GET', '/api/v1/queue/summary'));
  const waiting = useLoad(() => api('GET', '/api/v1/queue?limit=200'));
  const act = useAction(t);
  const change = canChange(role);
  const reload = () => { summary.reload(); waiting.reload(); };
  if (summary.error) return html`<${ErrorLine} t=${t} error=${summary.error} />`;
  if (!summary.data) return html`<p>${t.loading}</p>`;
  const s = summary.data;
  return html`<section>
    <h1>${t.queue}</h1>
    <p class="row">${change && html`<button onClick=${() => act.run(async () => { const r = await api('POST', '/api/v1/queue/flush', {}); reload(); return t.affected(r.affected); })}
      data-testid="flush-all" disabled=${act.busy}>${t.flushAll}</button>`}
      <button class="quiet" onClick=${reload}>${t.refresh}</button> <${act.Notice} /></p>
    <h2>${t.queueDepth}</h2>
    <div class="scroll"><table data-testid="queue-states"><thead><tr>${STATES.map((x) => html`<th>${x}</th>`)}<th>${t.total}</th></tr></thead>
      <tbody><tr>${STATES.map((x) => html`<td data-state=${x}>${s.counts[x]}</td>`)}<td data-state="waiting">${s.waiting}</td></tr></tbody></table></div>
    <h2>${t.byDomain}</h2>
    ${s.domains.length ? html`<div class="scroll"><table data-testid="qshape">
      <thead><tr><th>${t.domain}</th><th>${t.total}</th>${s.buckets.map((b) => html`<th>${b}</th>`)}${change && html`<th>${t.actions}</th>`}</tr></thead>
      <tbody>${s.domains.map((d) => html`<tr data-domain=${d.domain}><td>${d.domain}</td><td data-col="total">${d.total}</td>
        ${s.buckets.map((b) => html`<td>${d.age[b] ?? 0}</td>`)}
        ${change && html`<td><${Levers} t=${t} act=${act} id=${d.domain} what=${d.domain} body=${{ domain: d.domain }} after=${reload}
          path=${(a) => `/api/v1/queue/${a}`} /></td>`}</tr>`)}</tbody></table></div>`
      : html`<${Empty} t=${t} text=${t.emptyQueue} />`}
    <h2>${t.waitingList}</h2>
    ${waiting.data?.items.length ? html`<div class="scroll"><table data-testid="waiting">
      <thead><tr><th>${t.rcpt}</th><th>${t.state}</th><th>${t.sender}</th><th>${t.attempts}</th><th>${t.next}</th><th>${t.lastReply}</th>${change && html`<th>${t.actions}</th>`}</tr></thead>
      <tbody>${waiting.data.items.map((e) => html`<tr data-rcpt=${e.rcpt}>
        <td><a href=${`#/sends/${encodeURIComponent(e.queue_id)}/${encodeURIComponent(e.rcpt)}`}>${e.rcpt}</a></td><td>${e.state}</td><td>${e.sender}</td>
        <td>${e.attempts}</td><td>${when(e.next_attempt_at, lang)}</td><td>${e.last_reply}</td>
        ${change && html`<td><${Levers} t=${t} act=${act} id=${e.queue_id} what=${t.message(e.queue_id)} after=${reload}
          actions=${['retry', 'hold', 'release', 'delete']} path=${(a) => `/api/v1/queue/${encodeURIComponent(e.queue_id)}/${a}`} /></td>`}</tr>`)}</tbody></table></div>`
      : waiting.data ? html`<${Empty} t=${t} text=${t.emptyQueue} />` : html`<${ErrorLine} t=${t} error=${waiting.error} />`}
  </section>`;
}
