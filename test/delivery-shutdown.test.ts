// Delivery across process death: SIGTERM hands unfinished deliveries back to the queue
// within shutdown_timeout; kill -9 mid-delivery leaves 'sending' rows that the next start
// queues again. Either way the mail is delivered after the restart (maybe twice, never zero).
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDaemon, type ChildDaemon } from './helpers/child.js';
import { tempDir, PASSWORD } from './helpers/daemon.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { freePort, startSink, type Sink, type SinkOptions } from './helpers/sink.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { openTestStore } from './helpers/store.js';
import { Domains } from '../src/accounts/domains.js';
import { Senders } from '../src/accounts/senders.js';
import type { QueueId } from '../src/util/ids.js';
import type { MessageDetail } from '../src/spool/types-queue.js';

const dir = tempDir('mta-shutdown-');
const dataDir = join(dir, 'data');
const configPath = join(dir, 'mta.toml');
let dns: TestDnsServer;
let sink: Sink;
const sinkOpts: SinkOptions = {};

t.before(async () => {
  dns = await startDnsServer({});
  const port = await freePort();
  dns.set('slow.test', { MX: [{ preference: 10, exchange: 'mx.slow.test' }] });
  dns.set('mx.slow.test', { A: ['127.0.0.40'] });
  sink = await startSink('127.0.0.40', port, sinkOpts);
  writeFileSync(configPath, [
    'hostname = "mta.test"', `data_dir = "${dataDir}"`,
    '[[smtp.listen]]', 'address = "127.0.0.1:0"', 'tls = "none"',
    '[smtp]', 'allow_insecure_auth = true', '[domains]', 'require_verified = false',
    '[delivery]', `port = ${port}`, 'shutdown_timeout = "1s"', 'retry_schedule = ["1h"]', 'send_dsn = false',
    '[dns]', `servers = ["${dns.server}"]`, '',
  ].join('\n'));
  const store = openTestStore(dataDir);
  await new Domains(store).add('example.com', { algorithm: 'ed25519' });
  await new Senders(store).add({ address: 'app@example.com', type: 'trigger', password: PASSWORD });
  await store.close();
});
t.teardown(async () => { await sink.close(); await dns.close(); rmSync(dir, { recursive: true, force: true }); });

async function submit(port: number, to: string): Promise<QueueId> {
  const c = await RawSmtp.connect(port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd(`RCPT TO:<${to}>`);
  const r = await c.data(message('app@example.com', to) + '.\r\n');
  await c.quit();
  return r.text.split(' ').pop() as QueueId;
}

async function look(id: QueueId): Promise<MessageDetail> {
  const store = openTestStore(dataDir);
  try { return (await store.getMessage(id))!; } finally { await store.close(); }
}

async function until<T>(what: string, fn: () => Promise<T | false>): Promise<T> {
  for (let i = 0; i < 800; i++) {
    const v = await fn();
    if (v !== false) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function inFlight(d: ChildDaemon, id: QueueId): Promise<void> {
  await until('the delivery to be in flight', async () => (await look(id)).recipients[0]!.state === 'sending' && sink.current > 0);
  void d;
}

t.test('SIGTERM: the delivery in flight past the deadline goes back to the queue, then is delivered after restart', async (t) => {
  sinkOpts.dataDelayMs = 30_000;
  const d = await spawnDaemon(configPath);
  const id = await submit(d.port, 'a@slow.test');
  await inFlight(d, id);
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0, 'clean exit');
  const m = await look(id);
  t.equal(m.recipients[0]!.state, 'queued', 'handed back');
  t.equal(m.recipients[0]!.attempts, 0, 'not counted as an attempt');
  t.match(m.events.at(-1), { type: 'requeued', detail: { reason: 'shutdown' } });
  t.match(d.output(), /shutdown deadline passed/);
  sinkOpts.dataDelayMs = 0;
  const before = sink.messages.length;
  const again = await spawnDaemon(configPath);
  await until('delivery after restart', async () => (await look(id)).recipients[0]!.state === 'delivered');
  t.ok(sink.messages.length > before, 'delivered');
  again.proc.kill('SIGTERM');
  t.equal(await again.exited, 0);
});

t.test('kill -9 mid-delivery: the next start queues the recipient again and delivers it', async (t) => {
  sinkOpts.dataDelayMs = 30_000;
  const d = await spawnDaemon(configPath);
  const id = await submit(d.port, 'b@slow.test');
  await inFlight(d, id);
  d.proc.kill('SIGKILL');
  await d.exited;
  t.equal((await look(id)).recipients[0]!.state, 'sending', 'left in sending by the crash');
  sinkOpts.dataDelayMs = 0;
  const again = await spawnDaemon(configPath);
  const m = await until('delivery after restart', async () => { const m = await look(id); return m.recipients[0]!.state === 'delivered' && m; });
  const types = m.events.map((e) => e.type);
  t.same(types, ['reception', 'requeued', 'delivered'], 'requeued at start-up, then delivered once more');
  t.match(again.output(), /queued again/);
  again.proc.kill('SIGTERM');
  t.equal(await again.exited, 0);
});
