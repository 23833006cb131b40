// console/pages/sends — send details: recipients searched by time received, sender,
// recipient, tag, batch task and result (GET /api/v1/messages, newest first, a page at a
// time), and one recipient's timeline (#/sends/QUEUE_ID/RCPT): every attempt with the
// remote reply, bounces, opens and clicks, from the same API with events=true.
import { useState } from 'preact/hooks';
import { api, query } from '../api.js';
import { when } from '../actions.js';
import { Empty, ErrorLine, html, useDraft, useLoad } from '../ui.js';

const RESULTS = ['delivered', 'failed', 'expired', 'deferred', 'queued', 'rejected'];
const FIELDS = ['sender', 'rcpt', 'tag', 'task_id'];

export const words = {
  en: {
    sends: 'Send details', from: 'Received from', to: 'Received until', sender: 'Sender', rcpt: 'Recipient', tag: 'Tag', task_id: 'Task',
    result: 'Result', any: 'any', search: 'Search', more: 'More', received: 'Received', subject: 'Subject', attempts: 'Attempts',
    lastReply: 'Last reply', timeline: 'Timeline', back: 'Back to the search', queueId: 'Queue id', messageId: 'Message-ID',
    noSends: 'No mail matches. Widen the time range (the default is the last 24 hours) or clear a filter.',
    gone: 'This recipient is no longer in the send details (kept for the retention period).',
    hint: 'Recipient: a whole address, @domain, or part of an address. Times are in your zone.',
  },
  zh: {
    sends: '发送详情', from: '接收起始时间', to: '接收截止时间', sender: '发信地址', rcpt: '收件人', tag: '标签', task_id: '任务',
    result: '结果', any: '全部', search: '查询', more: '更多', received: '接收时间', subject: '主题', attempts: '尝试次数',
    lastReply: '最后回复', timeline: '投递时间线', back: '返回查询', queueId: '队列 ID', messageId: 'Message-ID',
    noSends: '没有匹配的邮件。请扩大时间范围（默认最近 24 小时）或清除筛选条件。',
    gone: '该收件人已不在发送详情中（超出保留期限）。',
    hint: '收件人：完整地址、@域名或地址的一部分。时间为您所在时区。',
  },
};

/** A datetime-local value (the reader's zone) as the API's UTC time; '' stays ''. */
const utc = (local) => (local ? new Date(local).toISOString() : '');

function Search({ t, lang, initial }) {
  const [filter, setFilter] = useState(initial);
  const field = useDraft(initial);
  // Searching again with the same filter reads again (new mail since): `asked` counts the searches.
  const [asked, setAsked] = useState(0);
  const [pages, setPages] = useState([]);
  const list = useLoad(async () => {
    const first = await api('GET', `/api/v1/messages${query({ ...filter, from: utc(filter.from), to: utc(filter.to) })}`);
    setPages([]);
    return first;
  }, [JSON.stringify(filter), asked]);
  const [error, setError] = useState(null);
  const submit = (ev) => {
    ev.preventDefault();
    setFilter(Object.fromEntries([...new FormData(ev.target)].filter(([, v]) => v !== '')));
    setAsked(asked + 1);
  };
  const all = list.data ? [list.data, ...pages] : [];
  const items = all.flatMap((p) => p.items);
  const next = all.at(-1)?.next_cursor;
  const more = async () => {
    try { setPages([...pages, await api('GET', `/api/v1/messages${query({ ...filter, from: utc(filter.from), to: utc(filter.to), cursor: next })}`)]); } catch (e) { setError(e); }
  };
  return html`<section>
    <h1>${t.sends}</h1>
    <form class="row" onSubmit=${submit} data-testid="sends-search">
      <label>${t.from}<input type="datetime-local" ...${field('from')} /></label>
      <label>${t.to}<input type="datetime-local" ...${field('to')} /></label>
      ${FIELDS.map((f) => html`<label>${t[f]}<input ...${field(f)} /></label>`)}
      <label>${t.result}<select ...${field('result')}><option value="">${t.any}</option>
        ${RESULTS.map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <button type="submit">${t.search}</button>
    </form>
    <p class="muted">${t.hint}</p>
    <${ErrorLine} t=${t} error=${list.error ?? error} />
    ${list.data && (items.length ? html`<div class="scroll"><table data-testid="sends">
      <thead><tr><th>${t.received}</th><th>${t.sender}</th><th>${t.rcpt}</th><th>${t.subject}</th><th>${t.tag}</th><th>${t.result}</th><th>${t.attempts}</th><th>${t.lastReply}</th></tr></thead>
      <tbody>${items.map((m) => html`<tr data-rcpt=${m.rcpt}>
        <td>${when(m.received_at, lang)}</td><td>${m.sender}</td>
        <td>${m.queue_id ? html`<a href=${`#/sends/${encodeURIComponent(m.queue_id)}/${encodeURIComponent(m.rcpt)}`}>${m.rcpt}</a>` : m.rcpt}</td>
        <td>${m.subject}</td><td>${m.tag}</td><td data-result>${m.result}</td><td>${m.attempts}</td><td>${m.last_reply}</td></tr>`)}</tbody>
    </table></div>
    ${next && html`<p><button class="quiet" onClick=${more}>${t.more}</button></p>`}` : html`<${Empty} t=${t} text=${t.noSends} />`)}
  </section>`;
}

/** An event's details other than its time and type, as "key: value" text. */
function detailText(e) {
  return Object.entries(e).filter(([k]) => k !== 'at' && k !== 'type')
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n');
}

function Timeline({ t, lang, queueId, rcpt }) {
  const one = useLoad(async () => {
    const msg = await api('GET', `/api/v1/queue/${encodeURIComponent(queueId)}`);
    // The send details of exactly this message's recipient: its receipt time bounds the search.
    const page = await api('GET', `/api/v1/messages${query({ rcpt, from: msg.received_at, to: msg.received_at, events: 'true', limit: 1000 })}`);
    return { msg, item: page.items.find((i) => i.queue_id === queueId && i.rcpt === rcpt) };
  }, [queueId, rcpt]);
  if (one.error) return html`<section><p><a href="#/sends">${t.back}</a></p><${ErrorLine} t=${t} error=${one.error} /></section>`;
  if (!one.data) return html`<p>${t.loading}</p>`;
  const { msg, item } = one.data;
  return html`<section>
    <p><a href="#/sends">${t.back}</a></p>
    <h1>${rcpt}</h1>
    <dl class="figures">
      <div><dt>${t.result}</dt><dd data-testid="result">${item?.result ?? '—'}</dd></div>
      <div><dt>${t.attempts}</dt><dd>${item?.attempts ?? '—'}</dd></div>
      <div><dt>${t.sender}</dt><dd style="font-size:1rem">${msg.sender}</dd></div>
      <div><dt>${t.subject}</dt><dd style="font-size:1rem">${msg.subject}</dd></div>
      <div><dt>${t.tag}</dt><dd style="font-size:1rem">${msg.tag ?? '—'}</dd></div>
    </dl>
    <p class="muted">${t.queueId} ${msg.queue_id} · ${t.messageId} ${msg.message_id} · ${t.received} ${when(msg.received_at, lang)}</p>
    <h2>${t.timeline}</h2>
    ${item ? html`<ol class="timeline" data-testid="timeline">${(item.events ?? []).map((e) => html`<li data-type=${e.type}>
      <strong>${e.type}</strong> <span class="muted">${when(e.at, lang)}</span><br /><code>${detailText(e)}</code></li>`)}</ol>`
      : html`<${Empty} t=${t} text=${t.gone} />`}
  </section>`;
}

export function Sends({ t, lang, args, query: q }) {
  if (args.length >= 2) return html`<${Timeline} t=${t} lang=${lang} queueId=${args[0]} rcpt=${args[1]} />`;
  const initial = Object.fromEntries(Object.entries(q ?? {}).filter(([k]) => FIELDS.includes(k) || k === 'result'));
  return html`<${Search} t=${t} lang=${lang} initial=${initial} key=${JSON.stringify(initial)} />`;
}
