// console/pages/domains — sending domains (发信域名): the list with each domain's status and
// failing checks, adding one; and one domain's page: every check's status, the DNS records
// to publish (copy buttons, BIND zone lines), "check now" with the last-checked time, DKIM
// rotation and removal. The API does the work (src/admin/routes/domains.ts); changes are
// an admin's.
import { api } from '../api.js';
import { CopyButton, Field, More, RemoveButton, fill, formValues, may, useAction, usePaged, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, html, useLoad } from '../ui.js';

const P = '/api/v1/domains';
const enc = encodeURIComponent;

export const DOMAIN_WORDS = withKitWords({
  en: {
    domains: 'Sending domains', domain: 'Domain', status: 'Status', lastChecked: 'Last checked', failing: 'Failing checks',
    addDomain: 'Add a domain', emptyDomains: 'No sending domain yet. Add one above, publish the DNS records it shows, then run "Check now".',
    back: 'All domains', checks: 'Checks', check: 'Check', expected: 'Expected', found: 'Found', detail: 'Detail',
    records: 'DNS records to publish', type: 'Type', host: 'Host', value: 'Value', purpose: 'For', zone: 'Zone-file lines', copyZone: 'Copy all lines',
    checkNow: 'Check now', checked: 'Checked: {status}', noChecks: 'Not checked yet: publish the records below, then "Check now".',
    dkim: 'DKIM key', selector: 'Selector', algorithm: 'Algorithm', rotate: 'Rotate DKIM key',
    rotated: 'New key under selector {s}: publish its record; it replaces the current key once DNS shows it.',
    pendingKey: 'A new key under selector {s} waits for its DNS record.', none: 'none',
    st_verified: 'verified', st_unverified: 'unverified', st_ok: 'ok', st_missing: 'missing', st_mismatch: 'mismatch', st_error: 'DNS error',
    st_skipped: 'skipped', st_unchecked: 'not checked',
  },
  zh: {
    domains: '发信域名', domain: '域名', status: '状态', lastChecked: '上次验证', failing: '未通过的检查',
    addDomain: '新建域名', emptyDomains: '还没有发信域名。请在上方新建，按显示的内容配置 DNS 解析，然后点击“立即验证”。',
    back: '全部域名', checks: '验证项', check: '检查项', expected: '期望值', found: '实际值', detail: '说明',
    records: '需要配置的 DNS 记录', type: '类型', host: '主机记录', value: '记录值', purpose: '用途', zone: '区域文件格式', copyZone: '复制全部',
    checkNow: '立即验证', checked: '验证完成：{status}', noChecks: '尚未验证：请先配置下列记录，再点击“立即验证”。',
    dkim: 'DKIM 密钥', selector: '选择器', algorithm: '算法', rotate: '轮换 DKIM 密钥',
    rotated: '已生成选择器 {s} 下的新密钥：请添加其 DNS 记录，DNS 生效后将替换当前密钥。',
    pendingKey: '选择器 {s} 下的新密钥正在等待其 DNS 记录。', none: '无',
    st_verified: '验证通过', st_unverified: '未验证', st_ok: '验证通过', st_missing: '未配置', st_mismatch: '记录值不符', st_error: 'DNS 查询失败',
    st_skipped: '已跳过', st_unchecked: '未验证',
  },
});

/** A status word (domain or check) as a badge: ok/verified green, skipped/unchecked grey, the rest red. */
function Badge({ t, status }) {
  const tone = status === 'ok' || status === 'verified' ? 'good' : status === 'skipped' || status === 'unchecked' ? 'quiet' : 'bad';
  return html`<span class=${`badge ${tone}`} data-status=${status}>${t[`st_${status}`] ?? status}</span>`;
}

function DomainList({ t, role, lang }) {
  const { items, error, next } = usePaged(P);
  const act = useAction(t);
  const add = async (ev) => {
    const { values, reset } = formValues(ev);
    const d = await act.run(() => api('POST', P, { name: values.name.trim() }), t.added);
    if (d) { reset(); location.hash = `#/domains/${enc(d.name)}`; }
  };
  return html`<section>
    <h1>${t.domains}</h1>
    ${may(role, 'admin') && html`<form class="inline-form" onSubmit=${add} data-testid="add-domain">
      <${Field} label=${t.domain} name="name" required placeholder="mail.example.com" />
      <button type="submit" disabled=${act.busy}>${t.addDomain}</button>
    </form>`}
    ${act.line}
    <${ErrorLine} t=${t} error=${error} />
    ${items && (items.length === 0 ? html`<${Empty} t=${t} text=${t.emptyDomains} />` : html`<div class="scroll"><table data-testid="domains">
      <thead><tr><th>${t.domain}</th><th>${t.status}</th><th>${t.failing}</th><th>${t.lastChecked}</th></tr></thead>
      <tbody>${items.map((d) => html`<tr data-domain=${d.name}>
        <td><a href=${`#/domains/${enc(d.name)}`}>${d.name}</a></td><td><${Badge} t=${t} status=${d.status} /></td>
        <td>${d.failing.length ? d.failing.join(', ') : t.none}</td><td>${when(t, d.checked_at, lang)}</td></tr>`)}</tbody>
    </table></div>`)}
    <${More} t=${t} act=${act} next=${next} />
    ${!items && !error && html`<p>${t.loading}</p>`}
  </section>`;
}

function Records({ t, records }) {
  return html`<div class="scroll"><table data-testid="records">
    <thead><tr><th>${t.type}</th><th>${t.host}</th><th>${t.value}</th><th>${t.purpose}</th><th>${t.status}</th></tr></thead>
    <tbody>${records.map((r) => html`<tr data-purpose=${r.purpose}>
      <td>${r.type}</td>
      <td><span class="copyable"><code>${r.host}</code><${CopyButton} t=${t} text=${r.host} label=${`${r.purpose} ${t.host}`} /></span></td>
      <td><span class="copyable"><code class="value">${r.value}</code><${CopyButton} t=${t} text=${r.value} label=${`${r.purpose} ${t.value}`} /></span>
        ${r.note && html`<div class="muted">${r.note}</div>`}</td>
      <td>${r.purpose}</td><td><${Badge} t=${t} status=${r.status} /></td></tr>`)}</tbody>
  </table></div>`;
}

function Checks({ t, checks }) {
  if (!checks.length) return html`<p class="muted" data-testid="no-checks">${t.noChecks}</p>`;
  return html`<div class="scroll"><table data-testid="checks">
    <thead><tr><th>${t.check}</th><th>${t.status}</th><th>${t.expected}</th><th>${t.found}</th><th>${t.detail}</th></tr></thead>
    <tbody>${checks.map((c) => html`<tr data-check=${c.name}><td>${c.name}</td><td><${Badge} t=${t} status=${c.status} /></td>
      <td><code>${c.expected ?? ''}</code></td><td><code>${c.found ?? ''}</code></td><td class="wrap">${c.detail ?? ''}</td></tr>`)}</tbody>
  </table></div>`;
}

function DomainPage({ t, role, lang, name }) {
  const path = `${P}/${enc(name)}`;
  const { data, error, reload } = useLoad(async () => {
    const [domain, checks, records] = await Promise.all([api('GET', path), api('GET', `${path}/checks`), api('GET', `${path}/records`)]);
    return { domain, checks: checks.checks, records };
  }, [name]);
  const act = useAction(t);
  const admin = may(role, 'admin');
  const checkNow = async () => { if (await act.run(() => api('POST', `${path}/check`, {}), (r) => fill(t.checked, { status: t[`st_${r.status}`] ?? r.status }))) reload(); };
  const rotate = async () => { if (await act.run(() => api('POST', `${path}/dkim-rotate`, {}), (r) => fill(t.rotated, { s: r.next_selector }))) reload(); };
  const remove = async () => { if (await act.run(() => api('DELETE', path), t.removed)) location.hash = '#/domains'; };
  if (error) return html`<section><p><a href="#/domains">← ${t.back}</a></p><${ErrorLine} t=${t} error=${error} /></section>`;
  if (!data) return html`<p>${t.loading}</p>`;
  const d = data.domain;
  const zone = data.records.zone.join('\n');
  return html`<section>
    <p><a href="#/domains">← ${t.back}</a></p>
    <h1>${d.name} <${Badge} t=${t} status=${d.status} /></h1>
    <p>${t.lastChecked}: <time data-testid="checked-at" datetime=${d.checked_at ?? ''}>${when(t, d.checked_at, lang)}</time></p>
    <div class="toolbar">
      ${admin && html`<button type="button" data-testid="check-now" disabled=${act.busy} onClick=${checkNow}>${t.checkNow}</button>`}
      ${admin && html`<button type="button" class="plain" data-testid="rotate" disabled=${act.busy} onClick=${rotate}>${t.rotate}</button>`}
      ${admin && html`<${RemoveButton} t=${t} what=${d.name} onConfirm=${remove} />`}
    </div>
    ${act.line}
    <h2>${t.checks}</h2>
    <${Checks} t=${t} checks=${data.checks} />
    <h2>${t.records}</h2>
    <${Records} t=${t} records=${data.records.records} />
    <h3>${t.zone}</h3>
    <div class="copyable block"><pre data-testid="zone"><code>${zone}</code></pre><${CopyButton} t=${t} text=${zone} label=${t.zone} /></div>
    <h2>${t.dkim}</h2>
    <dl class="facts"><dt>${t.selector}</dt><dd>${d.dkim_selector}</dd><dt>${t.algorithm}</dt><dd>${d.dkim_algorithm}</dd></dl>
    ${d.next_dkim_selector && html`<p class="notice" data-testid="pending-key">${fill(t.pendingKey, { s: d.next_dkim_selector })}</p>`}
  </section>`;
}

export function Domains(props) {
  const [name] = props.args;
  return name ? html`<${DomainPage} ...${props} name=${name} key=${name} />` : html`<${DomainList} ...${props} />`;
}
