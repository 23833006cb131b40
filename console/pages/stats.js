// console/pages/stats — sending statistics for up to 31 days (GET /api/v1/stats): one row
// per day, sender domain, sender, tag or recipient domain, as a chart and a table, and the
// table's rows as a CSV file (made in the page from the rows the API gave: no second query).
import { useState } from 'preact/hooks';
import { api, download, query, toCsv } from '../api.js';
import { Chart } from '../chart.js';
import { STAT_FIELDS, dayBefore } from '../actions.js';
import { Empty, ErrorLine, html, useDraft, useLoad } from '../ui.js';

const GROUPS = ['day', 'domain', 'sender', 'tag', 'rcpt-domain'];
/** Columns of the table and the CSV: the API's field names, words for the headings. */
const COLUMNS = ['requests', 'delivered', 'failed', 'deferred', 'invalid', 'expired', 'cancelled', 'delivery_rate', 'invalid_rate'];

export const words = {
  en: {
    stats: 'Statistics', from: 'From', to: 'To', by: 'One row per', domain: 'Sender domain', sender: 'Sender', tag: 'Tag', show: 'Show',
    csv: 'Export CSV', key: 'Key', day: 'Day', 'rcpt-domain': 'Recipient domain', total: 'Total', timeZone: 'Days of',
    requests: 'Sent', expired: 'Expired', cancelled: 'Cancelled', delivery_rate: 'Delivery rate', invalid_rate: 'Invalid rate',
    rcptNote: 'By recipient domain only the sender domain filter applies.', range: 'At most 31 days.',
  },
  zh: {
    stats: '数据统计', from: '开始日期', to: '结束日期', by: '分组', domain: '发信域名', sender: '发信地址', tag: '标签', show: '查询',
    csv: '导出 CSV', key: '分组键', day: '日期', 'rcpt-domain': '收件域名', total: '合计', timeZone: '日期按时区',
    requests: '发送', expired: '过期', cancelled: '已取消', delivery_rate: '送达率', invalid_rate: '无效率',
    rcptNote: '按收件域名分组时仅“发信域名”筛选生效。', range: '最多 31 天。',
  },
};

const pct = (v) => `${(v * 100).toFixed(1)}%`;
const cell = (c, v) => (c.endsWith('_rate') ? pct(v) : v);

/** The chart's x labels and series: per day, or per key (recipient domains summed over the days). */
function chartOf(t, r) {
  const sums = new Map();
  for (const row of r.rows) {
    const k = r.by === 'day' ? row.key.slice(5) : row.key;
    const acc = sums.get(k) ?? Object.fromEntries(STAT_FIELDS.map(([, f]) => [f, 0]));
    for (const [, f] of STAT_FIELDS) acc[f] += row[f];
    sums.set(k, acc);
  }
  const labels = [...sums.keys()];
  return { labels, series: STAT_FIELDS.map(([k, f]) => ({ key: k, label: t[k], values: labels.map((l) => sums.get(l)[f]) })) };
}

export function Stats({ t }) {
  // No dates yet: the last 7 days up to today as the server counts days (its configured zone).
  const [filter, setFilter] = useState({ by: 'day' });
  const field = useDraft({ by: 'day' });
  // Asking again with the same filter reads again (new mail since): `asked` counts the asks.
  const [asked, setAsked] = useState(0);
  const r = useLoad(async () => {
    if (filter.to) return api('GET', `/api/v1/stats${query(filter)}`);
    const today = (await api('GET', '/api/v1/stats')).to;
    return api('GET', `/api/v1/stats${query({ ...filter, from: dayBefore(today, 6), to: today })}`);
  }, [JSON.stringify(filter), asked]);
  const submit = (ev) => {
    ev.preventDefault();
    setFilter(Object.fromEntries([...new FormData(ev.target)].filter(([, v]) => v !== '')));
    setAsked(asked + 1);
  };
  const rcpt = r.data?.by === 'rcpt-domain';
  const head = [...(rcpt ? ['day'] : []), 'key', ...COLUMNS];
  const rowCells = (row) => [...(rcpt ? [row.day] : []), row.key, ...COLUMNS.map((c) => row[c])];
  const exportCsv = () => download(`mta-stats-${r.data.from}-${r.data.to}-${r.data.by}.csv`, toCsv(head, [...r.data.rows, r.data.total].map(rowCells)));
  const chart = r.data && chartOf(t, r.data);
  return html`<section>
    <h1>${t.stats}</h1>
    <form class="row" onSubmit=${submit} data-testid="stats-form">
      <label>${t.from}<input type="date" ...${field('from', r.data?.from ?? '')} /></label>
      <label>${t.to}<input type="date" ...${field('to', r.data?.to ?? '')} /></label>
      <label>${t.by}<select ...${field('by')}>${GROUPS.map((g) => html`<option value=${g}>${t[g === 'domain' ? 'domain' : g]}</option>`)}</select></label>
      <label>${t.domain}<input ...${field('domain')} /></label>
      <label>${t.sender}<input ...${field('sender')} /></label>
      <label>${t.tag}<input ...${field('tag')} /></label>
      <button type="submit">${t.show}</button>
    </form>
    <p class="muted">${t.range} ${rcpt ? t.rcptNote : ''} ${r.data ? `${t.timeZone} ${r.data.time_zone}.` : ''}</p>
    <${ErrorLine} t=${t} error=${r.error} />
    ${r.data && (r.data.total.requests ? html`
      <${Chart} id="stats-chart" labels=${chart.labels} series=${chart.series} height=${260} />
      <p><button class="quiet" onClick=${exportCsv} data-testid="csv">${t.csv}</button></p>
      <div class="scroll"><table data-testid="stats-table">
        <thead><tr>${head.map((c) => html`<th>${c === 'key' ? t[r.data.by] : t[c] ?? c}</th>`)}</tr></thead>
        <tbody>${r.data.rows.map((row) => html`<tr data-key=${row.key}>${rowCells(row).map((v, i) => html`<td data-col=${head[i]}>${cell(head[i], v)}</td>`)}</tr>`)}</tbody>
        <tfoot><tr data-key="TOTAL">${rowCells(r.data.total).map((v, i) => html`<td data-col=${head[i]}>${i === 0 ? t.total : cell(head[i], v)}</td>`)}</tr></tfoot>
      </table></div>` : html`<${Empty} t=${t} text=${t.emptyStats} />`)}
  </section>`;
}
