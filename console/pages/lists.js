// console/pages/lists — recipient lists: the lists and a form for a new one (#/lists); one
// list (#/lists/NAME) with a file upload (XMLHttpRequest, for its progress; the API takes
// the file as multipart and answers with the per-line report), its members browsed and
// searched a page at a time, the members exported as CSV, and removing the list.
import { useState } from 'preact/hooks';
import { api, download, query, toCsv, upload } from '../api.js';
import { canChange, useAction, when } from '../actions.js';
import { Empty, ErrorLine, html, useDraft, useLoad } from '../ui.js';

const PAGE = 100;

export const words = {
  en: {
    lists: 'Recipient lists', name: 'Name', alias: 'Alias address', description: 'Description', members: 'Members', variables: 'Variables',
    created: 'Created', create: 'Create list', noLists: 'No recipient lists yet. Create one here, then upload its members from a CSV or TXT file.',
    upload: 'Upload members', file: 'CSV or TXT file (EAddr column, then variables)', strict: 'Refuse the whole file if one row is invalid',
    encoding: 'Encoding', auto: 'detect', send: 'Upload', report: 'Import report', rows: 'Rows', imported: 'Added', updated: 'Updated',
    duplicates: 'Duplicates', invalid: 'Invalid', refused: 'Refused: nothing was imported (strict).', line: 'Line', value: 'Value', reason: 'Reason',
    truncated: 'Only the first problem rows are listed.', search: 'Search addresses', more: 'More', export: 'Export CSV', back: 'All lists',
    remove: 'Remove list', confirmRemove: 'Remove this list and all its members?', yes: 'Yes, remove', cancel: 'Cancel', readAs: 'read as',
    noMembers: 'No members match. Upload a file above, or clear the search.', updatedAt: 'Updated',
  },
  zh: {
    lists: '收件人列表', name: '名称', alias: '别名地址', description: '描述', members: '成员数', variables: '变量',
    created: '创建时间', create: '创建列表', noLists: '尚无收件人列表。在此创建一个，然后从 CSV 或 TXT 文件上传成员。',
    upload: '上传成员', file: 'CSV 或 TXT 文件（EAddr 列，其后为变量列）', strict: '任一行无效则拒绝整个文件',
    encoding: '编码', auto: '自动识别', send: '上传', report: '导入报告', rows: '行数', imported: '新增', updated: '更新',
    duplicates: '重复', invalid: '无效', refused: '已拒绝：未导入任何内容（严格模式）。', line: '行', value: '值', reason: '原因',
    truncated: '仅列出前若干个问题行。', search: '搜索地址', more: '更多', export: '导出 CSV', back: '全部列表',
    remove: '删除列表', confirmRemove: '删除此列表及其全部成员？', yes: '确认删除', cancel: '取消', readAs: '读取编码',
    noMembers: '没有匹配的成员。请在上方上传文件，或清除搜索。', updatedAt: '更新时间',
  },
};

function All({ t, role, lang }) {
  const lists = useLoad(() => api('GET', '/api/v1/lists?limit=1000'));
  const act = useAction(t);
  const create = (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries([...new FormData(ev.target)].filter(([, v]) => v !== ''));
    act.run(async () => { await api('POST', '/api/v1/lists', f); ev.target.reset(); lists.reload(); });
  };
  return html`<section>
    <h1>${t.lists}</h1>
    <${ErrorLine} t=${t} error=${lists.error} />
    ${lists.data && (lists.data.items.length ? html`<div class="scroll"><table data-testid="lists">
      <thead><tr><th>${t.name}</th><th>${t.alias}</th><th>${t.members}</th><th>${t.variables}</th><th>${t.created}</th></tr></thead>
      <tbody>${lists.data.items.map((l) => html`<tr data-list=${l.name}><td><a href=${`#/lists/${encodeURIComponent(l.name)}`}>${l.name}</a></td>
        <td>${l.alias}</td><td>${l.member_count}</td><td>${l.variables.join(', ')}</td><td>${when(l.created_at, lang)}</td></tr>`)}</tbody></table></div>`
      : html`<${Empty} t=${t} text=${t.noLists} />`)}
    ${canChange(role) && html`<h2>${t.create}</h2><form class="row" onSubmit=${create} data-testid="list-create">
      <label>${t.name}<input name="name" required pattern="[A-Za-z0-9_.\\-]{1,64}" /></label>
      <label>${t.alias}<input name="alias" type="email" required /></label>
      <label>${t.description}<input name="description" /></label>
      <button type="submit" disabled=${act.busy}>${t.create}</button> <${act.Notice} /></form>`}
  </section>`;
}

function Report({ t, r }) {
  return html`<section data-testid="report"><h2>${t.report}</h2>
    ${r.refused && html`<p class="error">${t.refused}</p>`}
    <dl class="figures">${['rows', 'imported', 'updated', 'duplicates', 'invalid'].map((k) => html`<div><dt>${t[k]}</dt><dd data-key=${k}>${r[k]}</dd></div>`)}</dl>
    ${r.encoding && html`<p class="muted">${t.readAs} ${r.encoding}${r.encoding_note ? ` — ${r.encoding_note}` : ''}</p>`}
    ${r.errors.length > 0 && html`<table data-testid="problems"><thead><tr><th>${t.line}</th><th>${t.value}</th><th>${t.reason}</th></tr></thead>
      <tbody>${r.errors.map((e) => html`<tr data-line=${e.line}><td>${e.line}</td><td>${e.value}</td><td>${e.reason}</td></tr>`)}</tbody></table>`}
    ${r.errors_truncated && html`<p class="muted">${t.truncated}</p>`}
  </section>`;
}

function Upload({ t, name, done }) {
  const [progress, setProgress] = useState(null);
  const [report, setReport] = useState(null);
  const act = useAction(t);
  const submit = (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target);
    if (!form.get('strict')) form.delete('strict');
    setReport(null);
    act.run(async () => {
      setProgress(0);
      const r = await upload(`/api/v1/lists/${encodeURIComponent(name)}/members`, form, setProgress);
      setReport(r);
      done();
    });
  };
  return html`<h2>${t.upload}</h2>
    <form class="row" onSubmit=${submit} data-testid="upload">
      <label>${t.file}<input type="file" name="file" accept=".csv,.txt,text/csv,text/plain" required /></label>
      <label>${t.encoding}<select name="encoding"><option value="auto">${t.auto}</option><option value="utf8">UTF-8</option><option value="gbk">GBK</option></select></label>
      <label><span><input type="checkbox" name="strict" value="true" /> ${t.strict}</span></label>
      <button type="submit" disabled=${act.busy}>${t.send}</button>
      ${progress !== null && html`<progress max="1" value=${progress} data-testid="progress">${Math.round(progress * 100)}%</progress>`}
      <${act.Notice} />
    </form>
    ${report && html`<${Report} t=${t} r=${report} />`}`;
}

function One({ t, role, lang, name }) {
  const [q, setQ] = useState('');
  const field = useDraft({ q: '' });
  const [extra, setExtra] = useState([]);
  const path = `/api/v1/lists/${encodeURIComponent(name)}`;
  const list = useLoad(async () => { setExtra([]); return api('GET', `${path}${query({ q, limit: PAGE })}`); }, [q]);
  const act = useAction(t);
  const [asking, setAsking] = useState(false);
  if (list.error) return html`<section><p><a href="#/lists">${t.back}</a></p><${ErrorLine} t=${t} error=${list.error} /></section>`;
  if (!list.data) return html`<p>${t.loading}</p>`;
  const l = list.data;
  const pages = [l.members, ...extra];
  const members = pages.flatMap((p) => p.items);
  const next = pages.at(-1).next_cursor;
  const more = () => act.run(async () => { setExtra([...extra, (await api('GET', `${path}${query({ q, limit: PAGE, cursor: next })}`)).members]); }, '');
  const exportCsv = () => act.run(async () => {
    const rows = [];
    for (let cursor; ;) {
      const page = (await api('GET', `${path}${query({ limit: 1000, cursor })}`)).members;
      rows.push(...page.items);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    download(`${name}.csv`, toCsv(['EAddr', ...l.variables], rows.map((m) => [m.EAddr, ...l.variables.map((v) => m.variables[v] ?? '')])));
  });
  const remove = () => act.run(async () => { await api('DELETE', path); location.hash = '#/lists'; });
  return html`<section>
    <p><a href="#/lists">${t.back}</a></p>
    <h1>${l.name}</h1>
    <p>${t.alias}: <code>${l.alias}</code> · ${t.members}: <strong data-testid="member-count">${l.member_count}</strong> · ${t.variables}: ${l.variables.join(', ') || '—'}</p>
    ${l.description && html`<p>${l.description}</p>`}
    ${canChange(role) && html`<${Upload} t=${t} name=${name} done=${list.reload} />`}
    <h2>${t.members}</h2>
    <div class="row"><label>${t.search}<input type="search" ...${field('q')} onChange=${(e) => setQ(e.target.value)} data-testid="member-search" /></label>
      <button class="quiet" onClick=${exportCsv} data-testid="export">${t.export}</button> <${act.Notice} /></div>
    ${members.length ? html`<div class="scroll"><table data-testid="members"><thead><tr><th>EAddr</th>${l.variables.map((v) => html`<th>${v}</th>`)}<th>${t.updatedAt}</th></tr></thead>
      <tbody>${members.map((m) => html`<tr data-addr=${m.EAddr}><td>${m.EAddr}</td>${l.variables.map((v) => html`<td>${m.variables[v] ?? ''}</td>`)}<td>${when(m.updated_at, lang)}</td></tr>`)}</tbody></table></div>
      ${next && html`<p><button class="quiet" onClick=${more}>${t.more}</button></p>`}` : html`<${Empty} t=${t} text=${t.noMembers} />`}
    ${canChange(role) && html`<h2>${t.remove}</h2>${asking
      ? html`<p>${t.confirmRemove} <button class="danger" onClick=${() => { setAsking(false); remove(); }}>${t.yes}</button> <button class="quiet" onClick=${() => setAsking(false)}>${t.cancel}</button></p>`
      : html`<p><button class="danger" onClick=${() => setAsking(true)} data-testid="remove-list">${t.remove}</button></p>`}`}
  </section>`;
}

export function Lists({ t, role, lang, args }) {
  return args[0] ? html`<${One} t=${t} role=${role} lang=${lang} name=${args[0]} key=${args[0]} />` : html`<${All} t=${t} role=${role} lang=${lang} />`;
}
