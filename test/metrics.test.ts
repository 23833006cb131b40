// Prometheus metrics at /metrics: the series exist from the start, counters move after an
// SMTP auth failure, an API send, refusals and deliveries, the queue gauge is read from the
// spool at scrape time; and config/alerts.yml is a valid rule file whose every metric
// exists (promtool when installed, else a structural check with a small YAML reader).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { startDaemon, PASSWORD } from './helpers/daemon.js';
import { startWorld } from './helpers/delivery.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { apiClient, metricValue } from './helpers/api.js';
import { registry } from '../src/metrics/metrics.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { submitMail } from './helpers/submit.js';

const TOKEN = 'metrics-test-token-0123';
const ADMIN = `[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`;

t.test("a message's accept latency: the histogram and the diagnostics channel the benchmark reads", async (t) => {
  const d = await startDaemon(`${ADMIN}[smtp]\nallow_insecure_auth = true\n`);
  t.teardown(() => d.stop());
  const call = apiClient(d, TOKEN);
  const count = async (): Promise<number> => metricValue((await call('GET', '/metrics')).text, 'mta_smtp_accept_seconds_count');
  const before = await count();
  const seen: number[] = [];
  const onAccept = (m: unknown): void => { seen.push((m as { ms: number }).ms); };
  subscribe('mta:smtp:accept', onAccept);
  t.teardown(() => unsubscribe('mta:smtp:accept', onAccept));
  await submitMail(d, ['someone@dest.test']);
  const m = (await call('GET', '/metrics')).text;
  t.match(m, /# TYPE mta_smtp_accept_seconds histogram/);
  t.equal(await count(), before + 1, 'one accepted message, one observation');
  t.ok(metricValue(m, 'mta_smtp_accept_seconds_sum') > 0, 'a duration above zero');
  t.equal(seen.length, 1, 'published once on mta:smtp:accept');
  t.ok(seen[0]! > 0 && seen[0]! < 60_000, `${seen[0]} ms`);
});

t.test('counters move with SMTP auth, API sends and refusals; the queue gauge follows the spool', async (t) => {
  const d = await startDaemon(`${ADMIN}[smtp]\nallow_insecure_auth = true\nmax_recipients = 2\n`);
  t.teardown(() => d.stop());
  const call = apiClient(d, TOKEN);
  const scrape = async (): Promise<string> => {
    const r = await call('GET', '/metrics');
    t.equal(r.status, 200);
    return r.text;
  };
  let m = await scrape();
  t.match(m, /# HELP mta_smtp_auth_total SMTP AUTH attempts/);
  t.match(m, /# TYPE mta_delivery_latency_seconds histogram/);
  t.match(m, /# TYPE mta_webhook_backlog gauge/);
  t.match(m, /# TYPE mta_webhook_failures_total counter/);
  t.match(m, /\nmta_process_cpu_user_seconds_total /, 'process metrics too');
  for (const reason of ['size', 'quota', 'recipients', 'suppressed', 'allowlist', 'auth', 'smuggling']) {
    t.match(m, new RegExp(`\\nmta_rejections_total\\{source="smtp",reason="${reason}"\\} \\d`), `rejections{reason=${reason}} exists at start`);
  }
  const before = {
    fail: metricValue(m, 'mta_smtp_auth_total', { result: 'failure' }),
    ok: metricValue(m, 'mta_smtp_auth_total', { result: 'success' }),
    smtpAuth: metricValue(m, 'mta_rejections_total', { source: 'smtp', reason: 'auth' }),
    sends: metricValue(m, 'mta_api_sends_total', { endpoint: 'send' }),
    apiAccepted: metricValue(m, 'mta_messages_accepted_total', { source: 'api' }),
    suppressed: metricValue(m, 'mta_rejections_total', { source: 'api', reason: 'suppressed' }),
    recipients: metricValue(m, 'mta_rejections_total', { source: 'api', reason: 'recipients' }),
    apiAuth: metricValue(m, 'mta_rejections_total', { source: 'api', reason: 'auth' }),
    batches: metricValue(m, 'mta_intake_commit_batch_size_count'),
    sizes: metricValue(m, 'mta_message_size_bytes_count'),
  };

  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain('app@example.com', 'wrong password')).code, 535);
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  await c.quit();
  await d.daemon.store.addSuppression({ address: 'gone@dest.test', scope: '', reason: 'bounce', source: 'bounce', createdAt: Date.now() });
  const sent = await call('POST', '/api/v1/send', { from: 'app@example.com', to: ['a@dest.test', 'gone@dest.test'], subject: 's', text: 'x' });
  t.equal(sent.status, 200);
  t.equal((await call('POST', '/api/v1/send', { from: 'app@example.com', to: ['a@x.test', 'b@x.test', 'c@x.test'], subject: 's', text: 'x' })).status, 422);
  t.equal((await apiClient(d, 'wrong')('GET', '/api/v1/status')).status, 403);

  m = await scrape();
  t.equal(metricValue(m, 'mta_smtp_auth_total', { result: 'failure' }), before.fail + 1, 'auth failure counted');
  t.equal(metricValue(m, 'mta_smtp_auth_total', { result: 'success' }), before.ok + 1, 'auth success counted');
  t.equal(metricValue(m, 'mta_rejections_total', { source: 'smtp', reason: 'auth' }), before.smtpAuth + 1);
  t.equal(metricValue(m, 'mta_api_sends_total', { endpoint: 'send' }), before.sends + 1, 'API send counted');
  t.equal(metricValue(m, 'mta_messages_accepted_total', { source: 'api' }), before.apiAccepted + 1);
  t.equal(metricValue(m, 'mta_rejections_total', { source: 'api', reason: 'suppressed' }), before.suppressed + 1, 'the suppressed recipient');
  t.equal(metricValue(m, 'mta_rejections_total', { source: 'api', reason: 'recipients' }), before.recipients + 1, 'too many recipients');
  t.equal(metricValue(m, 'mta_rejections_total', { source: 'api', reason: 'auth' }), before.apiAuth + 1, 'a wrong admin token');
  t.ok(metricValue(m, 'mta_intake_commit_batch_size_count') >= before.batches + 1, 'commit batch observed');
  t.equal(metricValue(m, 'mta_message_size_bytes_count'), before.sizes + 1);
  const counts = await d.daemon.store.countByState();
  t.equal(metricValue(m, 'mta_queue_recipients', { state: 'queued' }), counts.queued, 'queue gauge = the spool now');
  t.equal(counts.queued, 1);
  await call('POST', `/api/v1/queue/${sent.json.queue_id}/hold`);
  m = await scrape();
  t.same([metricValue(m, 'mta_queue_recipients', { state: 'queued' }), metricValue(m, 'mta_queue_recipients', { state: 'held' })], [0, 1], 'read at scrape time');
});

t.test('deliveries by result and category, and the accepted → final latency histogram', async (t) => {
  const w = await startWorld('', { extraToml: ADMIN });
  t.teardown(() => w.stop());
  await w.addDomain('dest.test', 3);
  await w.addDomain('bounce.test', 4, { rcpt: () => '550 5.1.1 No such user' });
  const call = apiClient(w.daemon, TOKEN);
  const before = await call('GET', '/metrics');
  const delivered = (text: string): number => [...text.matchAll(/^mta_deliveries_total\{result="delivered",category="[a-z_]+"\} (\d+)/gm)].reduce((n, x) => n + Number(x[1]), 0);
  const delivered0 = delivered(before.text);
  const lat0 = metricValue(before.text, 'mta_delivery_latency_seconds_count', { result: 'delivered' });
  const sent = await call('POST', '/api/v1/send', { from: 'app@example.com', to: ['x@dest.test', 'nobody@bounce.test'], subject: 's', text: 'x' });
  t.equal(sent.status, 200, sent.text);
  await w.waitFor('both final', async () => (await w.message(sent.json.queue_id)).recipients.every((r) => r.state === 'delivered' || r.state === 'failed'));
  const m = (await call('GET', '/metrics')).text;
  const categories = [...m.matchAll(/^mta_deliveries_total\{result="failed",category="([a-z_]+)"\} (\d+)/gm)].map((x) => x[1]);
  t.ok(categories.includes('user_unknown'), `failed by category: ${categories.join(', ')}`);
  t.equal(delivered(m), delivered0 + 1, 'delivered counted');
  t.equal(metricValue(m, 'mta_delivery_latency_seconds_count', { result: 'delivered' }), lat0 + 1, 'latency observed once per final outcome');
  t.ok(metricValue(m, 'mta_delivery_latency_seconds_bucket', { result: 'delivered', le: '+Inf' }) >= 1);
});

// ---- config/alerts.yml ----

type Yaml = string | number | boolean | null | Yaml[] | { [k: string]: Yaml };

/**
 * Reads the YAML subset alerts.yml is written in: block mappings and sequences by
 * indentation, plain, 'single' and "double" quoted scalars, full-line comments. Anything
 * else (flow collections, anchors, block scalars) is an error, so the file stays simple.
 */
function readYaml(text: string): Yaml {
  const lines = text.split('\n').map((raw, i) => ({ n: i + 1, indent: raw.search(/\S/), body: raw.trim() }))
    .filter((l) => l.indent >= 0 && !l.body.startsWith('#'));
  let pos = 0;
  const scalar = (s: string, n: number): Yaml => {
    if (s.startsWith("'")) { if (!/^'(?:[^']|'')*'$/.test(s)) throw new Error(`line ${n}: bad single-quoted scalar`); return s.slice(1, -1).replace(/''/g, "'"); }
    if (s.startsWith('"')) return JSON.parse(s) as string;
    const plain = s.replace(/\s+#.*$/, '');
    if (/^[[{&*!|>%@`]/.test(plain)) throw new Error(`line ${n}: unsupported YAML: ${plain}`);
    if (/^-?\d+(\.\d+)?$/.test(plain)) return Number(plain);
    if (plain === 'true' || plain === 'false') return plain === 'true';
    return plain === '' || plain === '~' || plain === 'null' ? null : plain;
  };
  const block = (indent: number): Yaml => {
    const first = lines[pos]!;
    if (first.body.startsWith('- ')) {
      const out: Yaml[] = [];
      while (pos < lines.length && lines[pos]!.indent === indent && lines[pos]!.body.startsWith('- ')) {
        const l = lines[pos]!;
        const rest = l.body.slice(2);
        if (/^[A-Za-z_][\w-]*:(\s|$)/.test(rest)) {
          // "- key: value": a mapping whose keys sit two columns in.
          lines[pos] = { n: l.n, indent: indent + 2, body: rest };
          out.push(block(indent + 2));
        } else {
          pos++;
          out.push(scalar(rest, l.n));
        }
      }
      return out;
    }
    const out: { [k: string]: Yaml } = {};
    while (pos < lines.length && lines[pos]!.indent === indent) {
      const l = lines[pos]!;
      const m = /^([A-Za-z_][\w-]*):(?:\s+(.*))?$/.exec(l.body);
      if (!m) throw new Error(`line ${l.n}: expected "key: value", got ${l.body}`);
      if (m[1]! in out) throw new Error(`line ${l.n}: duplicate key ${m[1]}`);
      pos++;
      if (m[2] !== undefined && m[2] !== '') out[m[1]!] = scalar(m[2], l.n);
      else if (pos < lines.length && lines[pos]!.indent > indent) out[m[1]!] = block(lines[pos]!.indent);
      else out[m[1]!] = null;
    }
    if (pos < lines.length && lines[pos]!.indent > indent) throw new Error(`line ${lines[pos]!.n}: unexpected indentation`);
    return out;
  };
  const doc = block(0);
  if (pos !== lines.length) throw new Error(`line ${lines[pos]!.n}: not read`);
  return doc;
}

t.test('config/alerts.yml: Prometheus rules over metrics that exist', async (t) => {
  const text = readFileSync('config/alerts.yml', 'utf8');
  const promtool = spawnSync('promtool', ['check', 'rules', 'config/alerts.yml'], { encoding: 'utf8' });
  if (promtool.error) t.comment('promtool is not installed: structural check only');
  else t.equal(promtool.status, 0, `promtool check rules: ${promtool.stdout}${promtool.stderr}`);

  t.same(readYaml('a:\n  - b: 1\n    c: \'x\'\'y\'\n  - "z"\nd: true\n'), { a: [{ b: 1, c: "x'y" }, 'z'], d: true }, 'the reader reads its subset');
  t.throws(() => readYaml('a: [1, 2]\n'), /unsupported/);
  const doc = readYaml(text) as { groups: { name: string; rules: Record<string, Yaml>[] }[] };
  t.same(Object.keys(doc), ['groups']);
  const names = new Set(registry.getMetricsAsArray().map((x) => x.name));
  const exists = (n: string): boolean => names.has(n) || names.has(n.replace(/_(bucket|count|sum)$/, ''));
  const alerts: string[] = [];
  for (const g of doc.groups) {
    t.type(g.name, 'string');
    t.ok(Array.isArray(g.rules) && g.rules.length > 0, `${g.name} has rules`);
    for (const r of g.rules) {
      const where = `${g.name}/${String(r['alert'])}`;
      t.same(Object.keys(r).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations'].includes(k)), [], `${where}: only rule keys`);
      t.match(r['alert'], /^Mta[A-Za-z]+$/, `${where}: alert name`);
      alerts.push(String(r['alert']));
      const expr = r['expr'] as string;
      t.type(expr, 'string', `${where}: expr`);
      if (r['for'] !== undefined) t.match(r['for'], /^\d+(ms|s|m|h|d|w|y)$/, `${where}: for is a duration`);
      const labels = r['labels'] as Record<string, Yaml>;
      t.ok(['warning', 'critical'].includes(labels?.['severity'] as string), `${where}: severity`);
      const ann = r['annotations'] as Record<string, Yaml>;
      t.type(ann?.['summary'], 'string', `${where}: summary`);
      t.type(ann?.['description'], 'string', `${where}: description`);
      let depth = 0;
      for (const ch of expr.replace(/"[^"]*"/g, '')) { if ('({['.includes(ch)) depth++; if (')}]'.includes(ch)) depth--; if (depth < 0) break; }
      t.equal(depth, 0, `${where}: balanced brackets`);
      const used = [...expr.matchAll(/\bmta_[a-z_]+\b/g)].map((x) => x[0]);
      t.ok(used.length > 0, `${where}: uses mta metrics`);
      for (const n of used) t.ok(exists(n), `${where}: ${n} is a metric mta serves`);
    }
  }
  t.equal(new Set(alerts).size, alerts.length, 'alert names are unique');
  for (const must of ['MtaApiInvalidAddressRate', 'MtaSmtpAuthFailures', 'MtaInvalidAddressBounceRate', 'MtaQueueGrowing', 'MtaWebhookBacklog']) {
    t.ok(alerts.includes(must), `${must} (the seed's alarms)`);
  }
});
