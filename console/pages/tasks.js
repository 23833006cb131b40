// console/pages/tasks — batch tasks: the tasks and a form for a new one (list, approved
// template, batch sender, tag, tracking, unsubscribe) at #/tasks; one task at #/tasks/ID,
// polled while it runs, with its progress, its rate and the time left (from the task's own
// counts and times: members handled since it was created), opens and clicks when tracked,
// and pause, resume and cancel.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { canChange, useAction, when } from '../actions.js';
import { Empty, ErrorLine, html, useLoad } from '../ui.js';

/** How often a running task is read again. */
const POLL_MS = 2000;

export const words = {
  en: {
    tasks: 'Batch tasks', create: 'Create task', list: 'Recipient list', template: 'Template (approved)', sender: 'Sender (batch)',
    tag: 'Tag (optional)', addressType: 'Envelope sender', addrSender: 'the sender address', addrRandom: 'per recipient (VERP)',
    tracking: 'Track opens and clicks', unsubscribe: 'Unsubscribe link and List-Unsubscribe headers', id: 'Task', state: 'State',
    progress: 'Progress', requested: 'Queued', delivered: 'Delivered', failed: 'Failed', invalid: 'Invalid', suppressed: 'Suppressed',
    waiting: 'Waiting', created: 'Created', finished: 'Finished', rate: 'Rate', perMinute: '/min', timeLeft: 'Time left',
    pause: 'Pause', resume: 'Resume', cancel: 'Cancel task', confirmCancel: 'Cancel this task? Its waiting mail is deleted.', yes: 'Yes, cancel',
    no: 'Keep it', back: 'All tasks', detailsLink: 'Send details of this task', opens: 'Opens (unique)', clicks: 'Clicks (unique)', none: '—',
    noTasks: 'No batch tasks yet. A task needs a recipient list, an approved template and a batch sender; create it here.',
    needs: 'To create a task you need a list with members, an approved template and a batch sender.', cancelled: (n) => `Cancelled; ${n} waiting recipients deleted.`,
  },
  zh: {
    tasks: '批量任务', create: '创建任务', list: '收件人列表', template: '模板（已审核）', sender: '发信地址（批量）',
    tag: '标签（可选）', addressType: '信封发件人', addrSender: '发信地址', addrRandom: '每个收件人随机（VERP）',
    tracking: '跟踪打开和点击', unsubscribe: '退订链接和 List-Unsubscribe 头', id: '任务', state: '状态',
    progress: '进度', requested: '已入队', delivered: '已送达', failed: '失败', invalid: '无效', suppressed: '已抑制',
    waiting: '等待中', created: '创建时间', finished: '完成时间', rate: '速率', perMinute: '/分钟', timeLeft: '剩余时间',
    pause: '暂停', resume: '继续', cancel: '取消任务', confirmCancel: '取消此任务？等待中的邮件将被删除。', yes: '确认取消',
    no: '保留', back: '全部任务', detailsLink: '查看此任务的发送详情', opens: '打开（去重）', clicks: '点击（去重）', none: '—',
    noTasks: '尚无批量任务。任务需要收件人列表、已审核的模板和批量发信地址；在此创建。',
    needs: '创建任务需要有成员的列表、已审核的模板和批量发信地址。', cancelled: (n) => `已取消；删除了 ${n} 个等待中的收件人。`,
  },
};

/** Members handled so far (finished one way or another) and the whole, for progress and rate. */
function handled(task) {
  return { done: task.delivered + task.failed + task.invalid + task.suppressed, total: task.list_size ?? task.requested };
}

/** Per minute since the task was created (until it finished), and the minutes left at that rate. */
export function pace(task, now) {
  const { done, total } = handled(task);
  const end = task.finished_at ? Date.parse(task.finished_at) : now;
  const minutes = Math.max((end - Date.parse(task.created_at)) / 60_000, 1 / 60);
  const rate = done / minutes;
  return { done, total, rate, left: task.finished || !rate ? 0 : Math.max(total - done, 0) / rate };
}

function duration(minutes) {
  if (minutes < 1) return `${Math.ceil(minutes * 60)} s`;
  if (minutes < 120) return `${Math.round(minutes)} min`;
  return `${(minutes / 60).toFixed(1)} h`;
}

function Create({ t, created }) {
  const lists = useLoad(() => api('GET', '/api/v1/lists?limit=1000'));
  const templates = useLoad(() => api('GET', '/api/v1/templates'));
  const senders = useLoad(() => api('GET', '/api/v1/senders?limit=1000'));
  const act = useAction(t);
  const approved = (templates.data?.items ?? []).filter((x) => x.state === 'approved');
  const batch = (senders.data?.items ?? []).filter((s) => s.type === 'batch' && !s.disabled);
  const submit = (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { list: f.get('list'), template: f.get('template'), from: f.get('from'), address_type: f.get('address_type'),
      tracking: !!f.get('tracking'), unsubscribe: !!f.get('unsubscribe') };
    if (String(f.get('tag')).trim()) body.tag = String(f.get('tag')).trim();
    act.run(async () => { const task = await api('POST', '/api/v1/tasks', body); created(task); });
  };
  const ready = lists.data?.items.length && approved.length && batch.length;
  return html`<h2>${t.create}</h2>
    ${!ready && lists.data && templates.data && senders.data && html`<p class="notice">${t.needs}</p>`}
    <form class="stack" onSubmit=${submit} data-testid="task-create">
      <label>${t.list}<select name="list" required>${(lists.data?.items ?? []).map((l) => html`<option value=${l.name}>${l.name} (${l.member_count})</option>`)}</select></label>
      <label>${t.template}<select name="template" required>${approved.map((x) => html`<option value=${x.name}>${x.name} — ${x.subject}</option>`)}</select></label>
      <label>${t.sender}<select name="from" required>${batch.map((s) => html`<option value=${s.address}>${s.address}</option>`)}</select></label>
      <label>${t.tag}<input name="tag" maxlength="64" /></label>
      <label>${t.addressType}<select name="address_type"><option value="sender">${t.addrSender}</option><option value="random">${t.addrRandom}</option></select></label>
      <label><span><input type="checkbox" name="tracking" /> ${t.tracking}</span></label>
      <label><span><input type="checkbox" name="unsubscribe" /> ${t.unsubscribe}</span></label>
      <p><button type="submit" disabled=${act.busy || !ready}>${t.create}</button> <${act.Notice} /></p>
    </form>`;
}

function All({ t, role, lang }) {
  const tasks = useLoad(() => api('GET', '/api/v1/tasks?limit=200'));
  return html`<section>
    <h1>${t.tasks}</h1>
    <${ErrorLine} t=${t} error=${tasks.error} />
    ${tasks.data && (tasks.data.items.length ? html`<div class="scroll"><table data-testid="tasks">
      <thead><tr><th>${t.id}</th><th>${t.state}</th><th>${t.list}</th><th>${t.template}</th><th>${t.progress}</th><th>${t.delivered}</th><th>${t.failed}</th><th>${t.created}</th></tr></thead>
      <tbody>${tasks.data.items.map((x) => html`<tr data-task=${x.id}><td><a href=${`#/tasks/${encodeURIComponent(x.id)}`}>${x.id}</a></td><td>${x.state_shown}</td>
        <td>${x.list}</td><td>${x.template}</td><td>${x.progress}</td><td>${x.delivered}</td><td>${x.failed}</td><td>${when(x.created_at, lang)}</td></tr>`)}</tbody></table></div>`
      : html`<${Empty} t=${t} text=${t.noTasks} />`)}
    ${canChange(role) && html`<${Create} t=${t} created=${(task) => { location.hash = `#/tasks/${encodeURIComponent(task.id)}`; }} />`}
  </section>`;
}

function One({ t, role, lang, id }) {
  const path = `/api/v1/tasks/${encodeURIComponent(id)}`;
  const task = useLoad(() => api('GET', path), [id]);
  const tracking = useLoad(() => (task.data?.tracking ? api('GET', `${path}/tracking`) : Promise.resolve(null)), [task.data?.tracking, task.data?.delivered]);
  const act = useAction(t);
  const [asking, setAsking] = useState(false);
  const running = task.data && !task.data.finished;
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(task.reload, POLL_MS);
    return () => clearInterval(timer);
  }, [running]);
  if (task.error) return html`<section><p><a href="#/tasks">${t.back}</a></p><${ErrorLine} t=${t} error=${task.error} /></section>`;
  if (!task.data) return html`<p>${t.loading}</p>`;
  const x = task.data;
  const p = pace(x, Date.now());
  const change = (what) => act.run(async () => { const r = await api('POST', `${path}/${what}`); task.reload(); return what === 'cancel' ? t.cancelled(r.deleted) : undefined; });
  const figures = ['requested', 'delivered', 'failed', 'invalid', 'suppressed', 'waiting'];
  return html`<section>
    <p><a href="#/tasks">${t.back}</a></p>
    <h1>${t.id} ${x.id}</h1>
    <p>${t.state}: <strong data-testid="task-state">${x.state_shown}</strong> · ${t.list} ${x.list} · ${x.template} · ${x.sender}${x.tag ? ` · ${x.tag}` : ''}</p>
    <p><progress max=${Math.max(p.total, 1)} value=${p.done} data-testid="task-progress"></progress> <span data-testid="task-count">${p.done} / ${p.total}</span>${' '}
      · ${t.rate} ${p.rate.toFixed(1)}${t.perMinute} · ${t.timeLeft} <span data-testid="time-left">${x.finished ? t.none : p.rate ? duration(p.left) : t.none}</span></p>
    <dl class="figures">${figures.map((k) => html`<div><dt>${t[k]}</dt><dd data-key=${k}>${x[k]}</dd></div>`)}</dl>
    ${tracking.data && html`<dl class="figures" data-testid="task-tracking"><div><dt>${t.opens}</dt><dd>${tracking.data.human.opens} (${tracking.data.human.unique_opens})</dd></div>
      <div><dt>${t.clicks}</dt><dd>${tracking.data.human.clicks} (${tracking.data.human.unique_clicks})</dd></div></dl>`}
    ${x.tracking_note && html`<p class="muted">${x.tracking_note}</p>`}
    <p class="muted">${t.created} ${when(x.created_at, lang)}${x.finished_at ? ` · ${t.finished} ${when(x.finished_at, lang)}` : ''}</p>
    ${canChange(role) && !x.finished && html`<p class="row">
      ${x.state === 'paused' || x.state === 'paused_quota' ? html`<button onClick=${() => change('resume')} data-testid="resume" disabled=${act.busy}>${t.resume}</button>`
        : html`<button class="quiet" onClick=${() => change('pause')} data-testid="pause" disabled=${act.busy}>${t.pause}</button>`}
      ${asking ? html`<span>${t.confirmCancel} <button class="danger" onClick=${() => { setAsking(false); change('cancel'); }} data-testid="yes-cancel">${t.yes}</button>
        <button class="quiet" onClick=${() => setAsking(false)}>${t.no}</button></span>`
        : html`<button class="danger" onClick=${() => setAsking(true)} data-testid="cancel">${t.cancel}</button>`}</p>`}
    <p><${act.Notice} /></p>
    ${x.finished && html`<p><a href=${`#/sends?task_id=${encodeURIComponent(x.id)}`}>${t.detailsLink}</a></p>`}
  </section>`;
}

export function Tasks({ t, role, lang, args }) {
  return args[0] ? html`<${One} t=${t} role=${role} lang=${lang} id=${args[0]} key=${args[0]} />` : html`<${All} t=${t} role=${role} lang=${lang} />`;
}
