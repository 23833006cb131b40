// Output a new operator can read: every time in `--json` (CLI and API) is ISO 8601, the
// DKIM key is printed once, `webhook log` says an HTTP 500 was a refusal even when its body
// says "ok", `queue show` events read as time, event and details.
import t from 'tap';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { runMta, type RunResult } from './helpers/run.js';
import { apiClient } from './helpers/api.js';
import { submitMail } from './helpers/submit.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/;
const TIME_KEY = /(^|_)(at|time|created|added|checked|received|updated|finished|since|until|expires)$|[a-z]At$/;

/** Every time-like field in a JSON value: ISO 8601 or null; no number that looks like epoch ms anywhere. */
function timeProblems(v: unknown, path: string, out: string[], key = ''): string[] {
  if (typeof v === 'number' && v > 1e12 && v < 1e14) out.push(`${path}: ${v} looks like epoch milliseconds`);
  else if (TIME_KEY.test(key) && v !== null && typeof v !== 'object' && !(typeof v === 'string' && ISO.test(v))) out.push(`${path}: ${JSON.stringify(v)} is not ISO 8601`);
  else if (Array.isArray(v)) v.forEach((x, i) => timeProblems(x, `${path}[${i}]`, out, key));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) timeProblems(x, `${path}.${k}`, out, k);
  return out;
}

let d: TestDaemon;
let dns: TestDnsServer;
const mta = (...args: string[]): Promise<RunResult> => runMta([...args, '--config', d.configPath]);

t.before(async () => {
  dns = await startDnsServer({});
  // allow_private: the webhooks these tests add point at loopback receivers.
  d = await startDaemon(`[dns]\nservers = ["${dns.server}"]\n[webhooks]\nallow_private = true\n`);
});
t.teardown(async () => { await d.stop(); await dns.close(); });

t.test('every --json listing of the CLI and the API prints times as ISO 8601', async (t) => {
  const id = await submitMail(d, ['a@dest.test']);
  await d.daemon.store.applyQueueOp('delete', { queueId: id }, Date.now());
  await submitMail(d, ['b@dest.test']);
  for (const args of [['suppression', 'add', 'gone@dest.test'], ['tag', 'add', 'promo'], ['list', 'create', 'news', '--alias', 'news@lists.example.com'],
    ['webhook', 'add', 'http://127.0.0.1:1/hook', '--secret', 'a-secret-of-length-16']]) {
    const r = await mta(...args);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
  }
  await mta('webhook', 'test', '1'); // fails (nothing listens): an attempt in the log
  const html = join(d.dir, 't.html');
  writeFileSync(html, '<p>hi {Name}</p>');
  t.equal((await mta('template', 'create', 'welcome', '--subject', 'Hi', '--html', html)).code, 0);
  await mta('domain', 'check', 'example.com'); // stores check results (unverified: exit 1)

  const listings: string[][] = [
    ['domain', 'list'], ['domain', 'show', 'example.com'], ['domain', 'check', 'example.com'], ['sender', 'list'], ['suppression', 'list'],
    ['queue', 'list', '--all'], ['queue', 'show', id], ['queue', 'summary'], ['status'], ['webhook', 'list'], ['webhook', 'log'],
    ['stats'], ['log', '--events'], ['list', 'list'], ['list', 'show', 'news'], ['tag', 'list'], ['template', 'list'], ['template', 'show', 'welcome'],
    ['task', 'list'],
  ];
  for (const args of listings) {
    const r = await mta(...args, '--json');
    t.not(r.out, '', `${args.join(' ')} printed JSON (${r.err})`);
    t.same(timeProblems(JSON.parse(r.out), args.join(' '), []), [], `mta ${args.join(' ')} --json`);
  }
  const call = apiClient(d);
  for (const path of ['/api/v1/domains', '/api/v1/domains/example.com', '/api/v1/senders', '/api/v1/suppressions', '/api/v1/queue?all=true', `/api/v1/queue/${id}`,
    '/api/v1/status', '/api/v1/webhooks', '/api/v1/webhooks/log', '/api/v1/messages?events=true', '/api/v1/stats', '/api/v1/lists', '/api/v1/tags',
    '/api/v1/templates', '/api/v1/tasks']) {
    const r = await call('GET', path);
    t.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
    t.same(timeProblems(r.json, path, []), [], `GET ${path}`);
  }
});

t.test('domain check and show print the DKIM key once', async (t) => {
  const key = (await d.daemon.store.getDomain('example.com'))!.dkimPublicKey;
  const times = (text: string): number => text.split(key.slice(0, 40)).length - 1;
  let r = await mta('domain', 'check', 'example.com');
  t.equal(times(r.out), 1, 'unpublished: once, as the zone line to publish');
  t.match(r.out, /\nDKIM record to publish:\n\S+\._domainkey\.example\.com\.\s+3600\s+IN\s+TXT\s+/);
  const recs = JSON.parse((await mta('domain', 'dns', 'example.com', '--json')).out) as { type: string; host: string; value: string; purpose: string }[];
  const dkim = recs.find((x) => x.purpose === 'dkim')!;
  dns.set(dkim.host, { TXT: [dkim.value.match(/.{1,255}/g)!] });
  r = await mta('domain', 'check', 'example.com');
  t.match(r.out, /\ndkim\s+ok\s+v=DKIM1; k=ed25519; p=\S+\.\.\.\s+as expected/, 'published: a short cell, and "as expected"');
  t.ok(times(r.out) <= 1, 'never twice');
  for (const line of r.out.split('\n')) t.ok(line.length < 300, `no 1,000-character lines (${line.length})`);
  r = await mta('domain', 'show', 'example.com');
  t.ok(times(r.out) <= 1, 'show: never twice');
});

t.test('webhook log shows an HTTP 500 as refused, even when its body says "ok"', async (t) => {
  const server = createServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/h`;
  const added = JSON.parse((await mta('webhook', 'add', url, '--secret', 'a-secret-of-length-16', '--json')).out) as { id: number };
  t.equal((await mta('webhook', 'test', String(added.id))).code, 1);
  const r = await mta('webhook', 'log', String(added.id));
  t.match(r.out, /^AT\s+WEBHOOK\s+EVENT\s+DELIVERY\s+STATUS\s+MS\s+RESULT\n\S+Z\s+\d+\s+test\s+test\s+500\s+\d+\s+refused: HTTP 500 \(body: ok\)\n$/);
});

t.test('queue show renders events as time, event and details', async (t) => {
  const id = await submitMail(d, ['x@dest.test']);
  await d.daemon.store.applyQueueOp('delete', { queueId: id }, Date.now());
  const r = await mta('queue', 'show', id);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /\nEvents:\nTIME\s+EVENT\s+RCPT\s+DETAILS\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+reception\s+x@dest\.test\s+sender=app@example\.com rcpt=x@dest\.test size=\d+ client_ip=127\.0\.0\.1 auth_user=app@example\.com\n\S+Z\s+deleted\s+x@dest\.test\s+deleted by the operator\n/);
  t.notMatch(r.out, /[{}"]/, 'no raw JSON');
});

/**
 * An option's entry in the help's option list: its line and the wrapped lines under it (indented
 * deeper than the next option's). Found line by line: a regular expression spanning the lines
 * backtracked for 30 s on `task create`'s help.
 */
function optionEntry(help: string, long: string): string {
  const lines = help.split('\n');
  const at = lines.findIndex((l) => /^ {2}(-\S, )?--/.test(l) && l.trimStart().replace(/^-\S, /, '').split(/[\s=]/)[0] === long);
  if (at < 0) return '';
  let end = at + 1;
  while (end < lines.length && /^ {3,}\S/.test(lines[end]!)) end++;
  return lines.slice(at, end).join('\n');
}

t.test('every command\'s --help has examples and marks required options', async (t) => {
  const { buildProgram } = await import('../src/cli/main.js');
  const { commandPath } = await import('../src/cli/examples.js');
  const program = await buildProgram();
  const all: typeof program[] = [];
  const walk = (c: typeof program): void => { all.push(c); c.commands.forEach(walk); };
  walk(program);
  t.ok(all.length > 60, `${all.length} commands`);
  for (const c of all) {
    let help = '';
    c.configureOutput({ writeOut: (s) => { help += s; }, writeErr: (s) => { help += s; } });
    c.outputHelp();
    t.match(help, /\nExamples:\n {2}\$ \S/, `mta ${commandPath(c)} --help has examples`);
    for (const o of c.options.filter((x) => x.mandatory)) t.match(optionEntry(help, o.long!), /\(required\)/, `${commandPath(c)} ${o.long} marked required`);
  }
  const r = await runMta(['task', 'create', '--help']);
  t.match(r.out, /--list <name>\s+[^\n]*\(required\)/, 'as the real program prints it');
  t.match(r.out, /\nExamples:\n {2}\$ mta task create --list news/);
});
