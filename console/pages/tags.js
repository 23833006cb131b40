// console/pages/tags — mail tags (邮件标签): list, add, remove. A tag groups mail for the
// statistics and send details; changes are an operator's (src/admin/roles.ts).
import { api } from '../api.js';
import { Field, RemoveButton, formValues, may, useAction, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, html, useLoad } from '../ui.js';

const P = '/api/v1/tags';

export const TAG_WORDS = withKitWords({
  en: {
    tags: 'Tags', tag: 'Tag', description: 'Description', addTag: 'Add a tag', nameHelp: '1-64 letters, digits, _ - .',
    emptyTags: 'No tag yet. Add one above, then give it to mail (the X-Mta-Tag header or the send API\'s tag) to follow it in the statistics.',
  },
  zh: {
    tags: '邮件标签', tag: '标签名称', description: '描述', addTag: '新建标签', nameHelp: '1-64 个字母、数字或 _ - .',
    emptyTags: '还没有邮件标签。请在上方新建，发信时指定标签（X-Mta-Tag 头或发送 API 的 tag），即可在统计中按标签查看。',
  },
});

export function Tags({ t, role, lang }) {
  const { data, error, reload } = useLoad(() => api('GET', P));
  const act = useAction(t);
  const operator = may(role, 'operator');
  const add = async (ev) => {
    const { values, reset } = formValues(ev);
    if (await act.run(() => api('POST', P, { name: values.name.trim(), description: values.description }), t.added)) { reset(); reload(); }
  };
  const remove = async (name) => { if (await act.run(() => api('DELETE', `${P}/${encodeURIComponent(name)}`), t.removed)) reload(); };
  return html`<section>
    <h1>${t.tags}</h1>
    ${operator && html`<form class="inline-form" onSubmit=${add} data-testid="add-tag">
      <${Field} label=${t.tag} name="name" required pattern="[A-Za-z0-9_.\\-]{1,64}" title=${t.nameHelp} />
      <${Field} label=${t.description} name="description" maxlength="1000" />
      <button type="submit" disabled=${act.busy}>${t.addTag}</button>
    </form>`}
    ${act.line}
    <${ErrorLine} t=${t} error=${error} />
    ${data && (data.items.length === 0 ? html`<${Empty} t=${t} text=${t.emptyTags} />` : html`<div class="scroll"><table data-testid="tags">
      <thead><tr><th>${t.tag}</th><th>${t.description}</th><th>${t.created}</th>${operator && html`<th>${t.actions}</th>`}</tr></thead>
      <tbody>${data.items.map((g) => html`<tr data-tag=${g.name}><td>${g.name}</td><td>${g.description}</td><td>${when(t, g.created_at, lang)}</td>
        ${operator && html`<td><${RemoveButton} t=${t} what=${g.name} onConfirm=${() => remove(g.name)} /></td>`}</tr>`)}</tbody>
    </table></div>`)}
    ${!data && !error && html`<p>${t.loading}</p>`}
  </section>`;
}
