// console/pages/templates — mail templates (邮件模板): the list with each template's state,
// and the editor (#/templates/NAME, #/templates/+new: '+' is never in a template name) for
// subject, sender name, HTML and text with {Variable} placeholders. The preview is the
// server's (POST /api/v1/templates/preview, nothing stored) filled with the sample values
// typed here, shown in an iframe with sandbox="" (no scripts, no forms, an opaque origin)
// and srcdoc, so a template's HTML can never act on the console. A viewer, who may call
// no POST, sees the saved parts in the same iframe with their placeholders as written.
// Approve / reject move a saved template between states; any edit sends it back to draft
// (the server's rule).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Field, RemoveButton, fill, formValues, may, useAction, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, errorText, html, useLoad } from '../ui.js';

const P = '/api/v1/templates';
const NEW = '+new';
const enc = encodeURIComponent;
/** How long typing pauses before the preview is asked for again. */
const PREVIEW_PAUSE_MS = 300;

export const TEMPLATE_WORDS = withKitWords({
  en: {
    templates: 'Templates', template: 'Template', subject: 'Subject', state: 'State', updated: 'Updated', newTemplate: 'New template',
    draft: 'draft', approved: 'approved', rejected: 'rejected', back: 'All templates', fromName: 'Sender name',
    htmlBody: 'HTML body', textBody: 'Text body', textHelp: 'Leave empty to generate it from the HTML.', variables: 'Sample variables',
    noVariables: 'The template uses no {Variable} placeholders.', preview: 'Preview', previewText: 'Text part', missing: 'No sample value yet: {x}',
    malformed: 'Malformed placeholders (write {Name}): {x}', approve: 'Approve', reject: 'Reject', reason: 'Reason', rejectedBecause: 'Rejected: {x}',
    create: 'Create', nameHelp: '1-64 letters, digits, _ - .', approvedOk: 'Approved', rejectedOk: 'Rejected', editResets: 'Saving an approved or rejected template returns it to draft.',
    emptyTemplates: 'No template yet. Create one: write the subject and HTML with {Variable} placeholders, check the preview, then approve it.',
  },
  zh: {
    templates: '邮件模板', template: '模板名称', subject: '邮件主题', state: '状态', updated: '更新时间', newTemplate: '新建模板',
    draft: '草稿', approved: '审核通过', rejected: '审核未通过', back: '全部模板', fromName: '发信人昵称',
    htmlBody: 'HTML 正文', textBody: '纯文本正文', textHelp: '留空则由 HTML 自动生成。', variables: '变量示例值',
    noVariables: '模板未使用 {变量} 占位符。', preview: '预览', previewText: '纯文本部分', missing: '尚未填写示例值：{x}',
    malformed: '占位符格式错误（应写作 {Name}）：{x}', approve: '审核通过', reject: '驳回', reason: '原因', rejectedBecause: '未通过原因：{x}',
    create: '创建', nameHelp: '1-64 个字母、数字或 _ - .', approvedOk: '已审核通过', rejectedOk: '已驳回', editResets: '保存已审核或已驳回的模板会使其回到草稿状态。',
    emptyTemplates: '还没有模板。新建一个：填写主题和带 {变量} 占位符的 HTML，检查预览后审核通过。',
  },
});

function StateBadge({ t, state }) {
  const tone = state === 'approved' ? 'good' : state === 'rejected' ? 'bad' : 'quiet';
  return html`<span class=${`badge ${tone}`} data-state=${state}>${t[state] ?? state}</span>`;
}

function TemplateList({ t, role, lang }) {
  const { data, error } = useLoad(() => api('GET', P));
  return html`<section>
    <h1>${t.templates}</h1>
    ${may(role, 'operator') && html`<p><a class="button" href=${`#/templates/${NEW}`} data-testid="new-template">${t.newTemplate}</a></p>`}
    <${ErrorLine} t=${t} error=${error} />
    ${data && (data.items.length === 0 ? html`<${Empty} t=${t} text=${t.emptyTemplates} />` : html`<div class="scroll"><table data-testid="templates">
      <thead><tr><th>${t.template}</th><th>${t.subject}</th><th>${t.state}</th><th>${t.updated}</th></tr></thead>
      <tbody>${data.items.map((x) => html`<tr data-template=${x.name}><td><a href=${`#/templates/${enc(x.name)}`}>${x.name}</a></td>
        <td>${x.subject}</td><td><${StateBadge} t=${t} state=${x.state} /></td><td>${when(t, x.updated_at, lang)}</td></tr>`)}</tbody>
    </table></div>`)}
    ${!data && !error && html`<p>${t.loading}</p>`}
  </section>`;
}

/**
 * The server's preview of `draft` with `samples`, asked again once typing pauses; when
 * not `live` (a viewer), the draft itself with its placeholders as written.
 */
function usePreview(draft, samples, live) {
  const [result, setResult] = useState({ preview: null, error: null });
  useEffect(() => {
    if (!live) {
      setResult({ preview: { subject: draft.subject, html: draft.html, text: draft.text, variables: [], missing: [], malformed: [] }, error: null });
      return undefined;
    }
    const timer = setTimeout(() => {
      const body = { subject: draft.subject, html: draft.html, text: draft.text === '' ? null : draft.text, vars: samples };
      api('POST', `${P}/preview`, body).then((preview) => setResult({ preview, error: null }), (error) => setResult((r) => ({ preview: r.preview, error })));
    }, PREVIEW_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [draft.subject, draft.html, draft.text, JSON.stringify(samples), live]);
  return result;
}

/** keyed by the HTML: each rendering gets a fresh frame instead of navigating the last one. */
function Preview({ t, preview, error, samples, setSample, live }) {
  const p = preview;
  return html`<div class="preview">
    ${live && html`<h2>${t.variables}</h2>`}
    ${live && p && (p.variables.length === 0 ? html`<p class="muted">${t.noVariables}</p>` : html`<div class="vars">${p.variables.map((v) => html`
      <${Field} label=${v} name=${`var-${v}`} data-testid=${`var-${v}`} value=${samples[v] ?? ''} onInput=${(e) => setSample(v, e.currentTarget.value)} />`)}</div>`)}
    ${p?.missing.length > 0 && html`<p class="muted" data-testid="missing">${fill(t.missing, { x: p.missing.join(', ') })}</p>`}
    ${p?.malformed.length > 0 && html`<p class="error" data-testid="malformed">${fill(t.malformed, { x: p.malformed.join(', ') })}</p>`}
    <h2>${t.preview}</h2>
    ${error && html`<p class="error" role="alert">${t.error}: ${errorText(t, error)}</p>`}
    ${p && html`<p><strong>${t.subject}:</strong> <span data-testid="preview-subject">${p.subject}</span></p>
      <iframe sandbox="" srcdoc=${p.html} title=${t.preview} data-testid="preview" key=${p.html}></iframe>
      <details><summary>${t.previewText}</summary><pre data-testid="preview-text">${p.text}</pre></details>`}
  </div>`;
}

/** The template (none for a new one), loaded before the form so the form starts from it. */
function Editor(props) {
  const { t, name } = props;
  const isNew = name === NEW;
  const { data, error } = useLoad(() => (isNew ? Promise.resolve(null) : api('GET', `${P}/${enc(name)}`)), [name]);
  if (error) return html`<section><p><a href="#/templates">← ${t.back}</a></p><${ErrorLine} t=${t} error=${error} /></section>`;
  if (data === undefined) return html`<p>${t.loading}</p>`;
  return html`<${EditorForm} ...${props} isNew=${isNew} data=${data} />`;
}

function EditorForm({ t, role, lang, name, isNew, data }) {
  const [saved, setSaved] = useState(null);
  const current = saved ?? data;
  const [draft, setDraft] = useState(() => ({ subject: data?.subject ?? '', from_name: data?.from_name ?? '', html: data?.html ?? '', text: data?.text ?? '' }));
  const [samples, setSamples] = useState({});
  const act = useAction(t);
  const operator = may(role, 'operator');
  const { preview, error: previewError } = usePreview(draft, samples, operator);
  const change = (k) => (e) => setDraft({ ...draft, [k]: e.currentTarget.value });
  const save = async (ev) => {
    const { values } = formValues(ev);
    const parts = { subject: draft.subject, html: draft.html, ...(draft.from_name ? { from_name: draft.from_name } : {}) };
    if (isNew) {
      const made = await act.run(() => api('POST', P, { name: values.name.trim(), ...parts, ...(draft.text ? { text: draft.text } : {}) }), t.saved);
      if (made) location.hash = `#/templates/${enc(made.name)}`;
      return;
    }
    const body = { ...parts, from_name: draft.from_name || null, text: draft.text || null };
    const r = await act.run(() => api('PUT', `${P}/${enc(name)}`, body), t.saved);
    if (r) setSaved(r);
  };
  const decide = async (verb, body, ok) => { const r = await act.run(() => api('POST', `${P}/${enc(name)}/${verb}`, body), ok); if (r) setSaved(r); };
  const reject = (ev) => { const { values, reset } = formValues(ev); decide('reject', { reason: values.reason }, t.rejectedOk).then(reset); };
  const remove = async () => { if (await act.run(() => api('DELETE', `${P}/${enc(name)}`), t.removed)) location.hash = '#/templates'; };
  const ro = !operator;
  return html`<section class="editor">
    <p><a href="#/templates">← ${t.back}</a></p>
    <h1>${isNew ? t.newTemplate : name} ${current && html`<${StateBadge} t=${t} state=${current.state} />`}</h1>
    ${current?.state === 'rejected' && current.reject_reason && html`<p class="error" data-testid="reject-reason">${fill(t.rejectedBecause, { x: current.reject_reason })}</p>`}
    ${current && html`<p class="muted">${t.updated}: ${when(t, current.updated_at, lang)}</p>`}
    ${act.line}
    <div class="split">
      <form class="stack" onSubmit=${save} data-testid="template-form">
        ${isNew && html`<${Field} label=${t.template} name="name" required pattern="[A-Za-z0-9_.\\-]{1,64}" title=${t.nameHelp} />`}
        <${Field} label=${t.subject} name="subject" required maxlength="998" readonly=${ro} value=${draft.subject} onInput=${change('subject')} />
        <${Field} label=${t.fromName} name="from_name" maxlength="256" readonly=${ro} value=${draft.from_name} onInput=${change('from_name')} />
        <${Field} label=${t.htmlBody}><textarea name="html" rows="12" required readonly=${ro} value=${draft.html} onInput=${change('html')}></textarea><//>
        <${Field} label=${t.textBody}><textarea name="text" rows="6" readonly=${ro} placeholder=${t.textHelp} value=${draft.text} onInput=${change('text')}></textarea><//>
        ${operator && html`<div class="toolbar"><button type="submit" data-testid="save" disabled=${act.busy}>${isNew ? t.create : t.save}</button>
          ${!isNew && current.state !== 'draft' && html`<span class="muted">${t.editResets}</span>`}</div>`}
      </form>
      <${Preview} t=${t} live=${operator} preview=${preview} error=${previewError} samples=${samples} setSample=${(k, v) => setSamples({ ...samples, [k]: v })} />
    </div>
    ${operator && !isNew && html`<div class="toolbar decisions">
      ${current.state === 'draft' && html`<button type="button" data-testid="approve" disabled=${act.busy} onClick=${() => decide('approve', {}, t.approvedOk)}>${t.approve}</button>`}
      ${current.state !== 'rejected' && html`<form class="inline-form" onSubmit=${reject} data-testid="reject-form">
        <${Field} label=${t.reason} name="reason" required maxlength="1000" />
        <button type="submit" class="plain" disabled=${act.busy}>${t.reject}</button></form>`}
      <${RemoveButton} t=${t} what=${name} onConfirm=${remove} />
    </div>`}
  </section>`;
}

export function Templates(props) {
  const [name] = props.args;
  return name ? html`<${Editor} ...${props} name=${name} key=${name} />` : html`<${TemplateList} ...${props} />`;
}
