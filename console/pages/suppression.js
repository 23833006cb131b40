// console/pages/suppression — the invalid-address list (无效地址): search, page through,
// add, remove, and the CSV export, which is the API's own (GET /api/v1/suppressions/export,
// a same-origin download carrying the session cookie). Changes are an operator's.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Field, More, RemoveButton, formValues, may, useAction, usePaged, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, html } from '../ui.js';

const P = '/api/v1/suppressions';
const PAGE = 50;

export const SUPPRESSION_WORDS = withKitWords({
  en: {
    suppression: 'Suppression list', address: 'Address', scope: 'Scope', everySender: 'every sender', reason: 'Reason', source: 'Source',
    bounce: 'bounce', complaint: 'complaint', unsubscribe: 'unsubscribe', manual: 'manual', search: 'Search', searchHelp: 'part of an address',
    addAddress: 'Suppress an address', scopeHelp: 'sender domain (empty: every sender)', exportCsv: 'Export CSV',
    alreadyThere: 'It was on the list already.',
    emptySuppression: 'No suppressed address. Hard bounces, complaints and unsubscribes land here by themselves; add one above to stop mail to it.',
    noMatch: 'No suppressed address contains this text.',
  },
  zh: {
    suppression: '无效地址', address: '收件地址', scope: '范围', everySender: '所有发信域名', reason: '原因', source: '来源',
    bounce: '退信', complaint: '投诉', unsubscribe: '退订', manual: '手动添加', search: '搜索', searchHelp: '地址的一部分',
    addAddress: '添加无效地址', scopeHelp: '发信域名（留空：所有发信域名）', exportCsv: '导出 CSV',
    alreadyThere: '该地址已在列表中。',
    emptySuppression: '没有无效地址。硬退信、投诉和退订会自动加入；也可在上方手动添加以停止向其发信。',
    noMatch: '没有包含此内容的无效地址。',
  },
});


export function Suppression({ t, role, lang }) {
  const [search, setSearch] = useState('');
  const { items: rows, error, reload, next } = usePaged(`${P}?${new URLSearchParams({ limit: String(PAGE), ...(search ? { search } : {}) })}`);
  const act = useAction(t);
  const operator = may(role, 'operator');
  const add = async (ev) => {
    const { values, reset } = formValues(ev);
    const body = { address: values.address.trim(), ...(values.reason.trim() ? { reason: values.reason.trim() } : {}), ...(values.scope.trim() ? { scope: values.scope.trim() } : {}) };
    if (await act.run(() => api('POST', P, body), (r) => (r.added ? t.added : t.alreadyThere))) { reset(); reload(); }
  };
  const remove = async (e) => {
    const scope = e.scope ? `?scope=${encodeURIComponent(e.scope)}` : '';
    if (await act.run(() => api('DELETE', `${P}/${encodeURIComponent(e.address)}${scope}`), t.removed)) reload();
  };
  return html`<section>
    <h1>${t.suppression}</h1>
    <form class="inline-form" role="search" onSubmit=${(ev) => setSearch(formValues(ev).values.search.trim())}>
      <${Field} label=${t.search} name="search" type="search" placeholder=${t.searchHelp} />
      <button type="submit" class="plain" data-read>${t.search}</button>
      <a class="button plain" data-testid="export" href=${`${P}/export?${new URLSearchParams(search ? { search } : {})}`} download="suppressions.csv">${t.exportCsv}</a>
    </form>
    ${operator && html`<form class="inline-form" onSubmit=${add} data-testid="add-suppression">
      <${Field} label=${t.address} name="address" required placeholder="user@example.net" />
      <${Field} label=${t.reason} name="reason" maxlength="500" />
      <${Field} label=${t.scope} name="scope" placeholder=${t.scopeHelp} />
      <button type="submit" disabled=${act.busy}>${t.addAddress}</button>
    </form>`}
    ${act.line}
    <${ErrorLine} t=${t} error=${error} />
    ${rows && (rows.length === 0 ? html`<${Empty} t=${t} text=${search ? t.noMatch : t.emptySuppression} />` : html`<div class="scroll"><table data-testid="suppressions">
      <thead><tr><th>${t.address}</th><th>${t.scope}</th><th>${t.source}</th><th>${t.reason}</th><th>${t.created}</th>${operator && html`<th>${t.actions}</th>`}</tr></thead>
      <tbody>${rows.map((e) => html`<tr data-address=${e.address}><td>${e.address}</td><td>${e.scope ?? t.everySender}</td><td>${t[e.source] ?? e.source}</td>
        <td>${e.reason}</td><td>${when(t, e.created_at, lang)}</td>
        ${operator && html`<td><${RemoveButton} t=${t} what=${e.address} onConfirm=${() => remove(e)} /></td>`}</tr>`)}</tbody>
    </table></div>`)}
    <${More} t=${t} act=${act} next=${next} />
    ${!rows && !error && html`<p>${t.loading}</p>`}
  </section>`;
}
