/**
 * A whole delivery world on loopback: the daemon, a DNS server it resolves through, and
 * sink MX hosts on 127.0.0.x sharing one port. The sender domain example.com publishes
 * its DKIM key in that DNS and has its own MX sink, which receives the DSNs.
 */
import { startDaemon, PASSWORD, type TestDaemon } from './daemon.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { freePort, startSink, type Sink, type SinkOptions } from './sink.js';
import { RawSmtp, message } from './smtp-client.js';
import type { QueueId } from '../../src/util/ids.js';
import type { MessageDetail } from '../../src/spool/types-queue.js';

export interface World {
  daemon: TestDaemon;
  dns: TestDnsServer;
  port: number;
  /** the MX sink of example.com (receives DSNs) */
  senderSink: Sink;
  sinks: Sink[];
  /** a sink on 127.0.0.<n> serving `domain` (MX mx.<domain>) */
  addDomain(domain: string, n: number, opts?: SinkOptions): Promise<Sink>;
  submit(to: string | string[], opts?: { from?: string; subject?: string; body?: string; extra?: string }): Promise<QueueId>;
  message(id: QueueId): Promise<MessageDetail>;
  waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** `listeners`: the daemon's [[smtp.listen]] tables (default one on 127.0.0.1). */
export async function startWorld(deliveryToml = '', opts: { extraToml?: string; listeners?: string } = {}): Promise<World> {
  const port = await freePort();
  const dns = await startDnsServer({});
  const sinks: Sink[] = [];
  // Test defaults, each unless the test sets the key itself.
  const defaults = { retry_schedule: '["400ms", "800ms"]', retry_jitter: '0', idle_timeout: '"2s"', connect_timeout: '"5s"' };
  const keys = Object.entries(defaults).filter(([k]) => !new RegExp(`^${k}\\s*=`, 'm').test(deliveryToml)).map(([k, v]) => `${k} = ${v}\n`).join('');
  // Keys first, then the test's own text (which may open [[delivery.shaping]] tables).
  const daemon = await startDaemon(
    `[smtp]\nallow_insecure_auth = true\nmax_recipients = 2000\nmax_connections_per_ip = 200\n` +
    `[delivery]\nport = ${port}\n${keys}${deliveryToml}\n` +
    `[dns]\nservers = ["${dns.server}"]\n${opts.extraToml ?? ''}`, opts.listeners ? { listeners: opts.listeners } : {},
  ).catch(async (e: unknown) => { await dns.close(); throw e; });
  const ed = await daemon.daemon.store.getDomain('example.com');
  dns.set(`${ed!.dkimSelector}._domainkey.example.com`, { TXT: [`v=DKIM1; k=ed25519; p=${ed!.dkimPublicKey}`] });
  const addDomain = sinkAdder(dns, port, sinks);
  const senderSink = await addDomain('example.com', 250);
  const world: World = {
    daemon, dns, port, senderSink, sinks, addDomain,
    async submit(to, o = {}) {
      const rcpts = Array.isArray(to) ? to : [to];
      const from = o.from ?? 'app@example.com';
      const c = await RawSmtp.connect(daemon.port);
      await c.greet(); await c.ehlo();
      const auth = await c.authPlain('app@example.com', PASSWORD);
      if (auth.code !== 235) throw new Error(`auth failed: ${auth.text}`);
      await c.cmd(`MAIL FROM:<${from}>${/[^\x00-\x7f]/.test(rcpts.join('')) ? ' SMTPUTF8' : ''}`);
      for (const r of rcpts) {
        const rr = await c.cmd(`RCPT TO:<${r}>`);
        if (rr.code !== 250) throw new Error(`RCPT ${r}: ${rr.text}`);
      }
      const d = await c.data(Buffer.from(message(from, rcpts[0]!, o.subject ?? 'test', o.body ?? 'hello\r\n', o.extra ?? '') + '.\r\n', 'utf8'));
      await c.quit();
      if (d.code !== 250) throw new Error(`DATA: ${d.text}`);
      return d.text.split(' ').pop() as QueueId;
    },
    async message(id) {
      const m = await daemon.daemon.store.getMessage(id);
      if (!m) throw new Error(`no message ${id}`);
      return m;
    },
    async waitFor(what, fn, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const v = await fn();
        if (v !== undefined && v !== false) return v as never;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      await daemon.stop();
      for (const s of sinks) await s.close();
      await dns.close();
    },
  };
  return world;
}

/** Every recipient of the message is in a final state. */
export function allFinal(m: MessageDetail): boolean {
  return m.recipients.every((r) => ['delivered', 'failed', 'expired', 'suppressed'].includes(r.state));
}

/** A domain whose MX is a new sink on 127.0.0.n (the world's shared port); the sink joins `sinks`. */
export function sinkAdder(dns: TestDnsServer, port: number, sinks: Sink[]): (domain: string, n: number, o?: SinkOptions) => Promise<Sink> {
  return async (domain, n, o = {}) => {
    const host = `127.0.0.${n}`;
    dns.set(domain, { MX: [{ preference: 10, exchange: `mx.${domain}` }] });
    dns.set(`mx.${domain}`, { A: [host] });
    const s = await startSink(host, port, o);
    sinks.push(s);
    return s;
  };
}
