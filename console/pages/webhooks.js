// console/pages/webhooks — async notifications (事件通知): the webhooks with their backlog
// and dead events, adding one (a generated signing secret is shown once), a signed test
// event now, removal, and the delivery log of all webhooks or of one. The events a webhook
// takes are typed as the API names them; the API's message lists the valid ones. Changes
// are an admin's.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { CopyButton, Field, More, RemoveButton, fill, formValues, may, useAction, usePaged, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, html, useLoad } from '../ui.js';

const P = '/api/v1/webhooks';

export const WEBHOOK_WORDS = withKitWords({
  en: {
    webhooks: 'Webhooks', url: 'URL', scope: 'Scope', events: 'Events', format: 'Format', backlog: 'Waiting', dead: 'Given up', state: 'State',
    enabled: 'enabled', disabled: 'disabled', addWebhook: 'Add a webhook', sender: 'Sender (optional)', senderHelp: 'only this sender\'s mail',
    eventsHelp: '* for all, or a comma-separated list: delivered, failed, bounce…', test: 'Send test', log: 'Log', allLog: 'Delivery log',
    logOf: 'Delivery log of webhook {id}', showAll: 'Show all webhooks', event: 'Event', at: 'Time', httpStatus: 'HTTP status', attemptError: 'Error', duration: 'ms',
    testOk: 'Webhook {id} accepted the test event (HTTP {status}).', secret: 'Signing secret of webhook {id} (shown only now: keep it to verify signatures):',
    dismiss: 'I have copied it', emptyWebhooks: 'No webhook yet. Add your endpoint\'s URL above to be told of deliveries, bounces, opens and clicks as they happen.',
    emptyLog: 'No delivery attempt yet. Send a test event to see one here.',
  },
  zh: {
    webhooks: '事件通知', url: '回调地址', scope: '范围', events: '事件', format: '格式', backlog: '待发送', dead: '已放弃', state: '状态',
    enabled: '正常', disabled: '已停用', addWebhook: '添加回调', sender: '发信地址（可选）', senderHelp: '仅该发信地址的邮件',
    eventsHelp: '* 表示全部，或以逗号分隔：delivered, failed, bounce…', test: '发送测试', log: '日志', allLog: '推送日志',
    logOf: '回调 {id} 的推送日志', showAll: '显示全部回调', event: '事件', at: '时间', httpStatus: 'HTTP 状态', attemptError: '错误', duration: '毫秒',
    testOk: '回调 {id} 已接受测试事件（HTTP {status}）。', secret: '回调 {id} 的签名密钥（仅显示这一次，请保存以校验签名）：',
    dismiss: '我已复制', emptyWebhooks: '还没有回调。在上方添加您的接收地址，即可实时获知送达、退信、打开和点击等事件。',
    emptyLog: '还没有推送记录。发送一次测试事件即可在此看到。',
  },
});

function eventsOf(text) {
  const v = text.trim();
  if (!v || v === '*') return '*';
  return v.split(/[\s,]+/).filter(Boolean);
}

function DeliveryLog({ t, lang, id, onAll, version }) {
  const { data, error } = useLoad(() => api('GET', id ? `${P}/${id}/log?limit=50` : `${P}/log?limit=50`), [id, version]);
  return html`<section data-testid="log">
    <h2>${id ? fill(t.logOf, { id }) : t.allLog}</h2>
    ${id && html`<p><button type="button" class="plain" data-read onClick=${onAll}>${t.showAll}</button></p>`}
    <${ErrorLine} t=${t} error=${error} />
    ${data && (data.items.length === 0 ? html`<${Empty} t=${t} text=${t.emptyLog} />` : html`<div class="scroll"><table>
      <thead><tr><th>${t.at}</th><th>#</th><th>${t.event}</th><th>${t.httpStatus}</th><th>${t.attemptError}</th><th>${t.duration}</th></tr></thead>
      <tbody>${data.items.map((a) => html`<tr data-attempt=${a.id}><td>${when(t, a.at, lang)}</td><td>${a.webhook_id}</td><td>${a.event}</td>
        <td data-key="status">${a.status ?? '—'}</td><td>${a.error ?? ''}</td><td>${a.duration_ms}</td></tr>`)}</tbody>
    </table></div>`)}
  </section>`;
}

export function Webhooks({ t, role, lang }) {
  const { items, error, reload, next } = usePaged(P);
  const act = useAction(t);
  const [secret, setSecret] = useState(null);
  const [logOf, setLogOf] = useState(null);
  // Bumped after a test event so the log shows the new attempt.
  const [version, setVersion] = useState(0);
  const admin = may(role, 'admin');
  const add = async (ev) => {
    const { values, reset } = formValues(ev);
    const body = { url: values.url.trim(), events: eventsOf(values.events), format: values.format, ...(values.sender.trim() ? { sender: values.sender.trim() } : {}) };
    const w = await act.run(() => api('POST', P, body), t.added);
    if (!w) return;
    reset();
    setSecret(w.secret ? { id: w.id, secret: w.secret } : null);
    reload();
  };
  const test = async (w) => {
    await act.run(() => api('POST', `${P}/${w.id}/test`, {}), (r) => fill(t.testOk, { id: r.id, status: r.status }));
    setVersion(version + 1);
    reload();
  };
  const remove = async (w) => { if (await act.run(() => api('DELETE', `${P}/${w.id}`), t.removed)) { if (logOf === w.id) setLogOf(null); reload(); } };
  return html`<section>
    <h1>${t.webhooks}</h1>
    ${admin && html`<form class="inline-form" onSubmit=${add} data-testid="add-webhook">
      <${Field} label=${t.url} name="url" type="url" required placeholder="https://app.example.com/mta-events" />
      <${Field} label=${t.events} name="events" placeholder=${t.eventsHelp} />
      <${Field} label=${t.format}><select name="format"><option value="json">JSON</option><option value="form">form</option></select><//>
      <${Field} label=${t.sender} name="sender" placeholder=${t.senderHelp} />
      <button type="submit" disabled=${act.busy}>${t.addWebhook}</button>
    </form>`}
    ${act.line}
    ${secret && html`<div class="once" role="status" data-testid="once">
      <p>${fill(t.secret, { id: secret.id })}</p>
      <p class="copyable"><code data-testid="secret">${secret.secret}</code><${CopyButton} t=${t} text=${secret.secret} /></p>
      <button type="button" class="plain" data-read data-testid="dismiss" onClick=${() => setSecret(null)}>${t.dismiss}</button></div>`}
    <${ErrorLine} t=${t} error=${error} />
    ${items && (items.length === 0 ? html`<${Empty} t=${t} text=${t.emptyWebhooks} />` : html`<div class="scroll"><table data-testid="webhooks">
      <thead><tr><th>#</th><th>${t.url}</th><th>${t.scope}</th><th>${t.events}</th><th>${t.format}</th><th>${t.backlog}</th><th>${t.dead}</th><th>${t.state}</th><th>${t.actions}</th></tr></thead>
      <tbody>${items.map((w) => html`<tr data-webhook=${w.id}>
        <td>${w.id}</td><td><code>${w.url}</code></td><td>${w.scope}</td><td>${w.events === '*' ? '*' : w.events.join(', ')}</td><td>${w.format}</td>
        <td data-key="backlog">${w.backlog ?? 0}</td><td>${w.dead ?? 0}</td><td>${w.disabled ? t.disabled : t.enabled}</td>
        <td class="row-actions"><button type="button" class="plain" data-read data-testid="log-btn" onClick=${() => setLogOf(w.id)}>${t.log}</button>
          ${admin && html`<button type="button" class="plain" data-testid="test" disabled=${act.busy} onClick=${() => test(w)}>${t.test}</button>
          <${RemoveButton} t=${t} what=${w.url} onConfirm=${() => remove(w)} />`}</td>
      </tr>`)}</tbody></table></div>`)}
    <${More} t=${t} act=${act} next=${next} />
    ${!items && !error && html`<p>${t.loading}</p>`}
    <${DeliveryLog} t=${t} lang=${lang} id=${logOf} version=${version} onAll=${() => setLogOf(null)} />
  </section>`;
}
