/**
 * bench/world — what every run of a scenario shares: the sink host, the run's time limit,
 * the message factory, the DNS zone for the recipient domains, and which sink a scenario uses.
 */
import type { TestDnsServer } from '../test/helpers/dns-server.js';
import { startOwnSink, startSmtpSink, type Sink } from './sinks.js';
import { SENDER } from './mta.js';
import { SINK_DOMAIN, domainsOf, recipientsOf, type Scenario } from './scenarios.js';

export const SINK_HOST = '127.0.0.2';
export const RUN_LIMIT_MS = 10 * 60_000;

export interface World { dir: string; dns: TestDnsServer }

export const log = (s: string): void => { process.stderr.write(`${s}\n`); };

/** Per-scenario message factory: headers differ per message, the body is built once. */
export function messageFactory(s: Scenario, runId: string): (i: number) => Buffer {
  const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen\r\n';
  const date = new Date().toUTCString().replace('GMT', '+0000');
  const headerLen = 330;
  const body = Buffer.from(line.repeat(Math.max(1, Math.ceil((s.size - headerLen) / line.length))), 'latin1');
  return (i) => {
    const rcpts = recipientsOf(s, i);
    const to = rcpts.length === 1 ? `<${rcpts[0]}>` : 'undisclosed-recipients:;';
    const head = `From: Bench <${SENDER}>\r\nTo: ${to}\r\nSubject: bench ${runId} message ${i}\r\nDate: ${date}\r\n` +
      `Message-ID: <${i}.${runId}@bench.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n` +
      'Content-Transfer-Encoding: 7bit\r\n\r\n';
    return Buffer.concat([Buffer.from(head, 'latin1'), body]);
  };
}

export function zoneFor(s: Scenario, dns: TestDnsServer, dkim?: { selector: string; publicKey: string }): void {
  dns.set(`mx.${SINK_DOMAIN}`, { A: [SINK_HOST] });
  for (const d of [...domainsOf(s), 'bench.test']) dns.set(d, { MX: [{ preference: 10, exchange: `mx.${SINK_DOMAIN}` }] });
  if (dkim) dns.set(`${dkim.selector}._domainkey.bench.test`, { TXT: [`v=DKIM1; k=rsa; p=${dkim.publicKey}`] });
}

export function startSink(s: Scenario, port: number): Promise<Sink> {
  return s.sink === 'smtp-sink' ? startSmtpSink(SINK_HOST, port) : startOwnSink(SINK_HOST, port, s.odds ?? {});
}
