// console/pages/settings — the running configuration, read-only (GET /api/v1/config: as
// compiled, defaults filled in, secrets "[redacted]" by the server), with what an operator
// looks for first pulled out: version and state, IP protection (SMTP and the send API;
// the admin API), the listeners, and settings waiting for a restart. Changing any of it
// is the configuration file's job (then SIGHUP or a restart).
import { api } from '../api.js';
import { fill, when, withKitWords } from '../kit.js';
import { ErrorLine, html, useLoad } from '../ui.js';

export const SETTINGS_WORDS = withKitWords({
  en: {
    settings: 'Settings', readOnly: 'Read-only: change the configuration file ({file}), then reload (SIGHUP) or restart.',
    version: 'Version', state: 'State', hostname: 'Host name', uptime: 'Up since', delivery: 'Delivery', pending: 'Waiting for a restart',
    ipProtection: 'IP protection', smtpIps: 'SMTP and the send API', adminIps: 'Admin API and console', off: 'off (every address may connect)',
    listeners: 'Listeners', listener: 'Listener', address: 'Address', tls: 'TLS', smtpListener: 'SMTP submission', adminListener: 'Admin API and console',
    publicListener: 'Public (tracking, unsubscribe, MTA-STS)', inboundListener: 'Inbound (bounces, replies)', configuration: 'Running configuration',
  },
  zh: {
    settings: '设置', readOnly: '只读：请修改配置文件（{file}），然后重新加载（SIGHUP）或重启。',
    version: '版本', state: '状态', hostname: '主机名', uptime: '启动时间', delivery: '投递', pending: '等待重启生效',
    ipProtection: 'IP 防护', smtpIps: 'SMTP 与发送 API', adminIps: '管理 API 与控制台', off: '未开启（所有地址均可连接）',
    listeners: '监听地址', listener: '监听', address: '地址', tls: 'TLS', smtpListener: 'SMTP 提交', adminListener: '管理 API 与控制台',
    publicListener: '公共端点（跟踪、退订、MTA-STS）', inboundListener: '收信（退信、回复）', configuration: '当前运行配置',
  },
});

const hostPort = (l) => (l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`);

function IpList({ t, entries, id }) {
  return html`<dd data-testid=${id}>${entries.length ? entries.map((e) => html`<code>${e}</code> `) : t.off}</dd>`;
}

export function Settings({ t, lang }) {
  const { data, error } = useLoad(async () => {
    const [config, status] = await Promise.all([api('GET', '/api/v1/config'), api('GET', '/api/v1/status')]);
    return { ...config, status };
  });
  if (error) return html`<section><h1>${t.settings}</h1><${ErrorLine} t=${t} error=${error} /></section>`;
  if (!data) return html`<p>${t.loading}</p>`;
  const c = data.config;
  const s = data.status;
  const listeners = [
    ...c.smtp.listen.map((l) => [t.smtpListener, l.text, l.tls]),
    [t.adminListener, hostPort(c.admin), ''],
    ...(c.public.baseUrl ? [[t.publicListener, hostPort(c.public), '']] : []),
    ...c.inbound.listen.map((l) => [t.inboundListener, hostPort(l), '']),
  ];
  return html`<section>
    <h1>${t.settings}</h1>
    <p class="muted">${fill(t.readOnly, { file: data.source })}</p>
    <dl class="facts" data-testid="about">
      <dt>${t.version}</dt><dd data-testid="version">${data.version}</dd>
      <dt>${t.state}</dt><dd>${s.state}</dd>
      <dt>${t.hostname}</dt><dd>${s.hostname}</dd>
      <dt>${t.uptime}</dt><dd>${when(t, s.started_at, lang)}</dd>
      <dt>${t.delivery}</dt><dd>${s.delivery}</dd>
      ${s.pending_restart.length > 0 && html`<dt>${t.pending}</dt><dd>${s.pending_restart.join(', ')}</dd>`}
    </dl>
    <h2>${t.ipProtection}</h2>
    <dl class="facts">
      <dt>${t.smtpIps}</dt><${IpList} t=${t} entries=${c.smtp.allowedIps} id="smtp-ips" />
      <dt>${t.adminIps}</dt><${IpList} t=${t} entries=${c.admin.allowedIps} id="admin-ips" />
    </dl>
    <h2>${t.listeners}</h2>
    <div class="scroll"><table data-testid="listeners">
      <thead><tr><th>${t.listener}</th><th>${t.address}</th><th>${t.tls}</th></tr></thead>
      <tbody>${listeners.map(([what, where, tls]) => html`<tr><td>${what}</td><td><code>${where}</code></td><td>${tls}</td></tr>`)}</tbody>
    </table></div>
    <h2>${t.configuration}</h2>
    <dl class="facts">${Object.entries(c).filter(([, v]) => typeof v !== 'object' || v === null).map(([k, v]) => html`<dt>${k}</dt><dd><code>${String(v)}</code></dd>`)}</dl>
    ${Object.entries(c).filter(([, v]) => typeof v === 'object' && v !== null).map(([k, v]) => html`<details class="config-section"><summary>${k}</summary>
      <pre data-section=${k}>${JSON.stringify(v, null, 2)}</pre></details>`)}
  </section>`;
}
