// console/pages/send — one message to up to 20 recipients (Tencent SES's 普通发送): a
// stored template with its variables, or a subject with text and/or HTML; sender, tag,
// tracking. The answer is the send API's own: the queue id and each recipient's reply, or
// the API's error (which names the field).
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { canChange, useAction } from '../actions.js';
import { ErrorLine, html, useLoad } from '../ui.js';

/** The console's limit, as the seed's form has it (the API itself takes smtp.max_recipients). */
export const MAX_RECIPIENTS = 20;

export const words = {
  en: {
    send: 'Send', from: 'Sender', to: `Recipients (one per line, at most ${MAX_RECIPIENTS})`, content: 'Content',
    useTemplate: 'Template', useText: 'Text or HTML', template: 'Template', subject: 'Subject', text: 'Text', htmlBody: 'HTML',
    variables: 'Variables', addVariable: 'Add a variable', varName: 'Name', varValue: 'Value', remove: 'Remove', tag: 'Tag (optional)',
    opens: 'Track opens', clicks: 'Track clicks', submit: 'Send now', queued: 'Queued', queueId: 'Queue id',
    rcpt: 'Recipient', accepted: 'Accepted', reply: 'Reply', yes: 'yes', no: 'no', details: 'See it in Send details',
    tooMany: `At most ${MAX_RECIPIENTS} recipients here; send larger mailings as a batch task.`, noRcpt: 'Give at least one recipient.',
    noSenders: 'No sender addresses yet: add one under Senders first.', viewerNote: 'Your role can look but not send.',
    asJson: 'Variables as JSON', badJson: 'Variables: not a JSON object of names to text.',
  },
  zh: {
    send: '发送', from: '发信地址', to: `收件人（每行一个，最多 ${MAX_RECIPIENTS} 个）`, content: '内容',
    useTemplate: '模板', useText: '文本或 HTML', template: '模板', subject: '主题', text: '文本', htmlBody: 'HTML',
    variables: '模板变量', addVariable: '添加变量', varName: '变量名', varValue: '值', remove: '删除', tag: '标签（可选）',
    opens: '跟踪打开', clicks: '跟踪点击', submit: '立即发送', queued: '已入队', queueId: '队列 ID',
    rcpt: '收件人', accepted: '已接受', reply: '回复', yes: '是', no: '否', details: '在发送详情中查看',
    tooMany: `此处最多 ${MAX_RECIPIENTS} 个收件人；更多请使用批量任务。`, noRcpt: '请至少填写一个收件人。',
    noSenders: '尚无发信地址：请先在“发信地址”页面添加。', viewerNote: '您的角色只能查看，不能发送。',
    asJson: '以 JSON 填写变量', badJson: '变量：需要一个“变量名 → 文本”的 JSON 对象。',
  },
};

/** Key/value rows, or (asJson) one JSON object; returns the variables or throws with t.badJson. */
function variablesOf(t, rows, json, asJson) {
  if (!asJson) return Object.fromEntries(rows.filter((r) => r.name.trim()).map((r) => [r.name.trim(), r.value]));
  let v;
  try { v = JSON.parse(json || '{}'); } catch { throw new Error(t.badJson); }
  if (!v || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new Error(t.badJson);
  return v;
}

function Variables({ t, rows, setRows }) {
  const set = (i, k, v) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  return html`<div data-testid="variables">
    ${rows.map((r, i) => html`<div class="row">
      <label>${t.varName}<input value=${r.name} onInput=${(e) => set(i, 'name', e.target.value)} data-var-name=${i} /></label>
      <label>${t.varValue}<input value=${r.value} onInput=${(e) => set(i, 'value', e.target.value)} data-var-value=${i} /></label>
      <button type="button" class="quiet" onClick=${() => setRows(rows.filter((_r, j) => j !== i))}>${t.remove}</button></div>`)}
    <button type="button" class="quiet" onClick=${() => setRows([...rows, { name: '', value: '' }])}>${t.addVariable}</button>
  </div>`;
}

function Result({ t, r }) {
  const first = r.recipients.find((x) => x.accepted)?.rcpt;
  return html`<section data-testid="send-result">
    <h2>${t.queued}</h2><p>${t.queueId}: <code data-testid="queue-id">${r.queue_id}</code></p>
    <table><thead><tr><th>${t.rcpt}</th><th>${t.accepted}</th><th>${t.reply}</th></tr></thead>
      <tbody>${r.recipients.map((x) => html`<tr data-rcpt=${x.rcpt}><td>${x.rcpt}</td><td>${x.accepted ? t.yes : t.no}</td><td>${x.code} ${x.reason}</td></tr>`)}</tbody></table>
    ${first && html`<p><a href=${`#/sends?rcpt=${encodeURIComponent(first)}`}>${t.details}</a></p>`}
  </section>`;
}

export function Send({ t, role }) {
  const senders = useLoad(() => api('GET', '/api/v1/senders?limit=1000'));
  const templates = useLoad(() => api('GET', '/api/v1/templates'));
  const [mode, setMode] = useState('text');
  const [rows, setRows] = useState([]);
  const [asJson, setAsJson] = useState(false);
  const [json, setJson] = useState('');
  const [result, setResult] = useState(null);
  const act = useAction(t);
  if (senders.error) return html`<${ErrorLine} t=${t} error=${senders.error} />`;
  if (!senders.data) return html`<p>${t.loading}</p>`;
  const usable = senders.data.items.filter((s) => !s.disabled);
  const approved = (templates.data?.items ?? []).filter((x) => x.state === 'approved');
  const pickTemplate = (name) => {
    const tpl = approved.find((x) => x.name === name);
    if (tpl) setRows(tpl.variables.map((v) => ({ name: v, value: rows.find((r) => r.name === v)?.value ?? '' })));
  };
  const submit = (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    setResult(null);
    act.run(async () => {
      const to = String(f.get('to')).split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
      if (!to.length) throw new Error(t.noRcpt);
      if (to.length > MAX_RECIPIENTS) throw new Error(t.tooMany);
      const body = { from: f.get('from'), to };
      if (mode === 'template') Object.assign(body, { template: f.get('template'), variables: variablesOf(t, rows, json, asJson) });
      else {
        body.subject = f.get('subject');
        for (const k of ['text', 'html']) if (String(f.get(k)).trim()) body[k] = f.get(k);
      }
      const tag = String(f.get('tag')).trim();
      if (tag) body.tag = tag;
      if (f.get('opens') || f.get('clicks')) body.tracking = { opens: !!f.get('opens'), clicks: !!f.get('clicks') };
      const r = await api('POST', '/api/v1/send', body);
      setResult(r);
      return r.queue_id;
    });
  };
  return html`<section>
    <h1>${t.send}</h1>
    ${!usable.length && html`<p class="notice">${t.noSenders}</p>`}
    ${!canChange(role) && html`<p class="muted">${t.viewerNote}</p>`}
    <form class="stack" onSubmit=${submit} data-testid="send-form">
      <label>${t.from}<select name="from" required>${usable.map((s) => html`<option value=${s.address}>${s.address} (${s.type})</option>`)}</select></label>
      <label>${t.to}<textarea name="to" rows="4" required></textarea></label>
      <fieldset class="row"><legend>${t.content}</legend>
        <label><span><input type="radio" name="mode" checked=${mode === 'text'} onChange=${() => setMode('text')} /> ${t.useText}</span></label>
        <label><span><input type="radio" name="mode" value="template" checked=${mode === 'template'} onChange=${() => setMode('template')} /> ${t.useTemplate}</span></label>
      </fieldset>
      ${mode === 'template' ? html`
        <label>${t.template}<select name="template" required onChange=${(e) => pickTemplate(e.target.value)}>
          <option value=""></option>${approved.map((x) => html`<option value=${x.name}>${x.name} — ${x.subject}</option>`)}</select></label>
        <fieldset><legend>${t.variables}</legend>
          <label><span><input type="checkbox" checked=${asJson} onChange=${(e) => setAsJson(e.target.checked)} /> ${t.asJson}</span></label>
          ${asJson ? html`<textarea aria-label=${t.variables} value=${json} onInput=${(e) => setJson(e.target.value)} placeholder='{"UserName": "Ada"}'></textarea>`
            : html`<${Variables} t=${t} rows=${rows} setRows=${setRows} />`}
        </fieldset>` : html`
        <label>${t.subject}<input name="subject" required maxlength="998" /></label>
        <label>${t.text}<textarea name="text" rows="5"></textarea></label>
        <label>${t.htmlBody}<textarea name="html" rows="5"></textarea></label>`}
      <label>${t.tag}<input name="tag" maxlength="128" /></label>
      <div class="row"><label><span><input type="checkbox" name="opens" /> ${t.opens}</span></label>
        <label><span><input type="checkbox" name="clicks" /> ${t.clicks}</span></label></div>
      ${canChange(role) && html`<p><button type="submit" disabled=${act.busy || !usable.length}>${t.submit}</button> <${act.Notice} /></p>`}
    </form>
    ${result && html`<${Result} t=${t} r=${result} />`}
  </section>`;
}
