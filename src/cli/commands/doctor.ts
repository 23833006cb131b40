/**
 * mta doctor — checks the whole server the way a mail expert would and prints a checklist
 * with the fix for each failure: configuration, the running daemon and its listeners, the
 * TLS certificate (expiry, self-signed, names), hostname A/AAAA and forward-confirmed PTR,
 * outbound port 25 (resolved with `[dns] servers`, like delivery, so a DNS failure is named
 * as one and not blamed on a blocked port), exposure (plaintext listeners, insecure AUTH,
 * the admin token; cli/doctor-checks.ts), mail stuck in the queue, and every domain's DNS
 * status. Exit 1 when anything fails; "all good" only when nothing fails or warns.
 */
import { Command, CommanderError } from 'commander';
import { connect, isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { withContext } from '../context.js';
import { callAdmin } from '../admin-client.js';
import { print, printJson } from '../output.js';
import { DnsClient } from '../../dns/client.js';
import { checkHost } from '../../dns/checker.js';
import { checkContext } from '../../accounts/verification.js';
import type { Config } from '../../config/config.js';
import type { Store } from '../../spool/types.js';
import { postureItems, queueItem, type DoctorItem, type Verdict } from '../doctor-checks.js';

export type { DoctorItem, Verdict };

const DAY = 86_400_000;
const DEFAULT_PROBE = 'gmail-smtp-in.l.google.com:25';

/** Connects and waits for a 220 greeting. */
function greet(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let buf = '';
    const done = (e?: Error): void => { clearTimeout(timer); s.destroy(); if (e) reject(e); else resolve(buf.split('\r\n')[0]!); };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs / 1000}s`)), timeoutMs);
    s.setEncoding('latin1');
    s.on('data', (d: string) => { buf += d; if (buf.includes('\r\n')) done(/^220[ -]/.test(buf) ? undefined : new Error(`greeting was "${buf.trim().slice(0, 80)}"`)); });
    s.on('error', (e) => done(e));
  });
}

function listenerHost(h: string): string { return h === '0.0.0.0' || h === '' ? '127.0.0.1' : h === '::' ? '::1' : h; }

async function daemonItems(config: Config): Promise<DoctorItem[]> {
  const items: DoctorItem[] = [];
  let status;
  try {
    status = await callAdmin(config, 'GET', '/api/v1/status');
  } catch (e) {
    return [{ check: 'daemon', verdict: 'fail', detail: (e as Error).message, fix: 'check admin.token and admin.listen' }];
  }
  if (!status) {
    items.push({ check: 'daemon', verdict: 'fail', detail: 'not running (the admin API does not answer)', fix: 'systemctl start mta; journalctl -u mta shows why it stopped' });
  } else {
    items.push({ check: 'daemon', verdict: 'ok', detail: `${String(status['state'])}, pid ${String(status['pid'])}` });
  }
  for (const l of config.smtp.listen) {
    if (l.port === 0) { items.push({ check: `listener ${l.text}`, verdict: 'skip', detail: 'port 0 (chosen at start)' }); continue; }
    try {
      const g = await greet(listenerHost(l.host), l.port, 5000);
      items.push({ check: `listener ${l.text}`, verdict: 'ok', detail: `${l.tls === 'implicit' ? 'TCP open (implicit TLS)' : g}` });
    } catch (e) {
      // An implicit-TLS listener sends nothing before the handshake: an open port is enough.
      const open = l.tls === 'implicit' && /no answer/.test((e as Error).message);
      items.push(open ? { check: `listener ${l.text}`, verdict: 'ok', detail: 'TCP open (implicit TLS)' }
        : { check: `listener ${l.text}`, verdict: 'fail', detail: (e as Error).message, fix: 'is the daemon running, and is another program on this port?' });
    }
  }
  return items;
}

function certificateItem(config: Config, now: number): DoctorItem {
  const path = config.smtp.tls.cert;
  if (!path) return { check: 'TLS certificate', verdict: config.smtp.listen.some((l) => l.tls !== 'none') ? 'fail' : 'skip', detail: 'none configured' };
  try {
    const cert = new X509Certificate(readFileSync(path));
    const left = Date.parse(cert.validTo) - now;
    const names = cert.subjectAltName ?? cert.subject;
    if (left < 0) return { check: 'TLS certificate', verdict: 'fail', detail: `${path} expired on ${cert.validTo}`, fix: 'renew it (certbot renew), then systemctl reload mta' };
    if (left < 14 * DAY) return { check: 'TLS certificate', verdict: 'fail', detail: `${path} expires in ${Math.floor(left / DAY)} days (${cert.validTo})`, fix: 'renew it now, then systemctl reload mta' };
    if (cert.issuer === cert.subject && cert.verify(cert.publicKey)) {
      return {
        check: 'TLS certificate', verdict: 'fail', detail: `${path} is self-signed (${cert.subject.replace(/\n/g, ', ')}): mail clients refuse it unless each is told to trust it`,
        fix: `use a certificate from a CA for ${config.hostname} (certbot certonly -d ${config.hostname}), then systemctl reload mta`,
      };
    }
    const matches = cert.checkHost(config.hostname) !== undefined;
    return matches
      ? { check: 'TLS certificate', verdict: 'ok', detail: `valid until ${cert.validTo} (${Math.floor(left / DAY)} days), names ${config.hostname}` }
      : { check: 'TLS certificate', verdict: 'warn', detail: `does not name ${config.hostname} (${names})`, fix: `get a certificate for ${config.hostname}` };
  } catch (e) {
    return { check: 'TLS certificate', verdict: 'fail', detail: `${path}: ${(e as Error).message}`, fix: 'point smtp.tls.cert at a readable PEM certificate' };
  }
}

async function hostItems(config: Config, dns: DnsClient): Promise<DoctorItem[]> {
  const checks = await checkHost(checkContext(config, dns));
  return checks.map((c) => ({
    check: c.name === 'ptr' ? 'PTR (reverse DNS)' : `hostname ${config.hostname}`,
    verdict: c.status === 'ok' ? 'ok' : c.status === 'skipped' ? 'skip' : 'fail',
    detail: [c.found ? `found ${c.found}` : '', c.expected && c.status !== 'ok' ? `expected ${c.expected}` : '', c.detail ?? ''].filter(Boolean).join('; ') || c.status,
    ...(c.status === 'ok' ? {} : { fix: c.name === 'ptr'
      ? (config.egress.sources.length > 0
        ? 'ask your provider to set the PTR of each egress source address to its helo name, and publish A/AAAA for each helo name (see expected)'
        : `ask your VPS provider to set the PTR of each sending IP to ${config.hostname}, and publish A/AAAA for ${config.hostname}`)
      : `publish an A (and AAAA) record for ${config.hostname} pointing at this server` }),
  }));
}

/** The probe host's first address, through the resolver delivery uses; a DNS failure is its own answer. */
async function resolveProbe(config: Config, dns: DnsClient, host: string): Promise<{ address: string } | DoctorItem> {
  if (isIP(host) !== 0) return { address: host };
  const resolver = config.dns.servers.length ? `[dns] servers ${config.dns.servers.join(', ')}` : 'the system resolver';
  const fix = `this is DNS, not port 25: delivery resolves with the same resolver, so make ${resolver} answer for public names (or set [dns] servers to a working recursive resolver), then run mta doctor again`;
  try {
    let rcode = '';
    for (const type of ['A', 'AAAA'] as const) {
      const a = await dns.query(host, type);
      rcode ||= a.rcode;
      const found = a.records.find((r) => typeof r.data === 'string');
      if (found) return { address: found.data as string };
    }
    return { check: 'outbound port 25', verdict: 'fail', detail: `DNS: ${resolver} finds no address for ${host} (${rcode === 'NOERROR' ? 'no A/AAAA records' : rcode})`, fix };
  } catch (e) {
    return { check: 'outbound port 25', verdict: 'fail', detail: `DNS: ${resolver} did not answer for ${host}: ${(e as Error).message}`, fix };
  }
}

async function port25Item(config: Config, probe: string, dns: DnsClient): Promise<DoctorItem> {
  if (config.delivery.sink) return { check: 'outbound port 25', verdict: 'skip', detail: 'the development sink takes all mail' };
  if (config.routes.some((r) => r.domains.includes('*'))) return { check: 'outbound port 25', verdict: 'skip', detail: 'all mail goes through the smarthost route ("*")' };
  const m = /^(.*?)(?::(\d+))?$/.exec(probe)!;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = Number(m[2] ?? 25);
  const resolved = await resolveProbe(config, dns, host);
  if ('verdict' in resolved) return resolved;
  try {
    const g = await greet(resolved.address, port, 8000);
    return { check: 'outbound port 25', verdict: 'ok', detail: `${probe} answered: ${g.slice(0, 60)}` };
  } catch (e) {
    return {
      check: 'outbound port 25', verdict: 'fail', detail: `cannot reach ${probe}${resolved.address !== host ? ` (${resolved.address})` : ''}: ${(e as Error).message}`,
      fix: 'many VPS providers block outgoing port 25: ask them to open it, or send through a smarthost ([[route]] domains = ["*"] with host, username, password)',
    };
  }
}

async function domainItems(store: Store): Promise<DoctorItem[]> {
  const out: DoctorItem[] = [];
  for (const d of await store.listDomains()) {
    const failing = (await store.getDomainChecks(d.name)).filter((c) => c.status !== 'ok' && c.status !== 'skipped');
    if (!d.checkedAt) out.push({ check: `domain ${d.name}`, verdict: 'fail', detail: 'never checked', fix: `mta domain check ${d.name}` });
    else if (d.status !== 'verified') out.push({ check: `domain ${d.name}`, verdict: 'fail', detail: `unverified: ${failing.map((c) => `${c.name} ${c.status}`).join(', ')}`, fix: `publish the records from "mta domain dns ${d.name}", then "mta domain check ${d.name}"` });
    else out.push({ check: `domain ${d.name}`, verdict: failing.length ? 'warn' : 'ok', detail: failing.length ? `verified; also: ${failing.map((c) => `${c.name} ${c.status}`).join(', ')}` : 'verified' });
  }
  if (out.length === 0) out.push({ check: 'domains', verdict: 'warn', detail: 'no sending domain yet', fix: 'mta domain add example.com' });
  return out;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check the whole server (config, daemon, listeners, TLS, hostname and PTR, port 25, domains) and say how to fix what fails')
    .option('--probe <host:port>', 'a remote MX to test outbound port 25 with', DEFAULT_PROBE)
    .option('--json', 'JSON output')
    .action(async (o: { probe: string; json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const dns = new DnsClient({ servers: config.dns.servers });
      const items: DoctorItem[] = [{ check: 'configuration', verdict: 'ok', detail: config.source }];
      try {
        items.push(...await daemonItems(config));
        items.push(certificateItem(config, Date.now()));
        items.push(...postureItems(config));
        items.push(...await hostItems(config, dns));
        items.push(await port25Item(config, o.probe, dns));
        items.push(await queueItem(store, Date.now()));
        items.push(...await domainItems(store));
      } finally {
        dns.close();
      }
      const failed = items.filter((i) => i.verdict === 'fail').length;
      if (o.json) printJson({ ok: failed === 0, items });
      else {
        const mark: Record<Verdict, string> = { ok: '[ ok ]', fail: '[FAIL]', warn: '[warn]', skip: '[skip]' };
        for (const i of items) {
          print(`${mark[i.verdict]} ${i.check}: ${i.detail}`);
          if (i.fix && i.verdict !== 'ok') print(`       fix: ${i.fix}`);
        }
        const warned = items.filter((i) => i.verdict === 'warn').length;
        const warnings = warned ? `${warned} warning${warned > 1 ? 's' : ''}` : '';
        print(failed ? `\n${failed} problem${failed > 1 ? 's' : ''} found${warned ? `, ${warnings}` : ''}` : warned ? `\nno failures, ${warnings}` : '\nall good');
      }
      if (failed) throw new CommanderError(1, 'mta.doctor.failed', '');
    }));
}
