/**
 * delivery/tls-rpt-send — sends the daily TLS reports (RFC 8460): flushes the session counts
 * (delivery/tls-rpt.ts) to the spool every minute, and for each policy domain and finished
 * UTC day, at a time spread over `send_window` after midnight (stable per domain and day, so
 * every node agrees), claims the report row in the spool and, holding it, sends the gzipped
 * JSON to each `rua` of `_smtp._tls.<domain>`: mailto (DKIM-signed with the key of the `from`
 * domain, straight to the address's MX with opportunistic TLS) or https (POST).
 *
 * Must never: send a report twice (the store-level claim decides), or apply an MTA-STS or
 * DANE policy to the report's own delivery (§5.1: a report about failing TLS must get out).
 */
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import { checkServerIdentity } from 'node:tls';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { DnsClient } from '../dns/client.js';
import type { MxResolver } from '../dns/mx.js';
import { dkimSignature } from './dkim.js';
import { SmtpSession } from './transport.js';
import { loadCa } from './mta-sts.js';
import { buildReport, TlsRptTally, utcDay } from './tls-rpt.js';
import { ALWAYS_LEAD, type JobGate } from '../util/cluster-jobs.js';

const FLUSH_MS = 60_000;
const DAY_MS = 86_400_000;
/** A claim not finished within this long (a crash, a failed send) may be taken again. */
const CLAIM_STALE_MS = 3600_000;
const POST_TIMEOUT_MS = 30_000;
/** Counts and report rows are kept this long (a report not sent by then is given up). */
const KEEP_DAYS = 14;

export type ReportTarget = { kind: 'mailto'; address: string } | { kind: 'https'; url: URL };

/** The rua targets of a `v=TLSRPTv1; rua=...` record (unknown schemes ignored). */
export function parseRua(txt: string): ReportTarget[] {
  if (!/^v=TLSRPTv1\s*(;|$)/.test(txt)) return [];
  const rua = /(?:^|;)\s*rua\s*=\s*([^;]+)/.exec(txt)?.[1] ?? '';
  return rua.split(',').map((u) => u.trim()).flatMap((u): ReportTarget[] => {
    if (/^mailto:[^\s@]+@[^\s@]+$/i.test(u)) return [{ kind: 'mailto', address: decodeURIComponent(u.slice(7)) }];
    try { const url = new URL(u); return url.protocol === 'https:' ? [{ kind: 'https', url }] : []; } catch { return []; }
  });
}

export class TlsRptReporter {
  readonly tally: TlsRptTally;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  /**
   * whether this node sends the due reports (one node of a cluster does: util/cluster-jobs.ts);
   * every node still writes its own session counts, which are the cluster's together
   */
  gate: JobGate = ALWAYS_LEAD;

  constructor(private config: Config, private readonly store: Store, private readonly dns: DnsClient, private readonly mx: MxResolver,
    private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.tally = new TlsRptTally(now);
  }

  reload(config: Config): void { this.config = config; }

  start(everyMs = FLUSH_MS): void {
    this.stop();
    this.timer = setInterval(() => { void this.run(); }, everyMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what was counted (a send under way is not waited for: its claim goes stale and is retried). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** When the report of (domain, day) is due: after the day, spread over the send window. */
  sendAt(domain: string, day: string): number {
    const spread = createHash('sha256').update(`${domain}|${day}`).digest().readUInt32BE(0) / 0x1_0000_0000;
    return Date.parse(`${day}T00:00:00Z`) + DAY_MS + Math.floor(spread * this.config.delivery.tlsRpt.sendWindowMs);
  }

  /** Flushes the counts and sends the reports that are due; resolves with the number sent. */
  run(): Promise<number> {
    this.running ??= this.cycle().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async flush(): Promise<void> {
    const rows = this.tally.drain();
    if (rows.length === 0) return;
    try {
      await this.store.addTlsRptCounts(rows);
    } catch (e) {
      this.tally.restore(rows);
      this.log.warn({ err: (e as Error).message }, 'TLS-RPT counts not written; kept for the next try');
    }
  }

  private async cycle(): Promise<number> {
    await this.flush();
    const cfg = this.config.delivery.tlsRpt;
    if (!cfg.enabled || !cfg.from) return 0;
    if (!(await this.gate.lead('tls-rpt-send'))) return 0;
    let sent = 0;
    const now = this.now();
    try {
      for (const { domain, day } of await this.store.tlsRptPending(utcDay(now), 100)) {
        if (now < this.sendAt(domain, day)) continue;
        if (!(await this.store.claimTlsRptReport(domain, day, this.config.node.id, now, now - CLAIM_STALE_MS))) continue;
        try {
          const where = await this.send(domain, day);
          await this.store.finishTlsRptReport(domain, day, { sentAt: this.now() });
          if (where.length) sent++;
          this.log.info({ domain, day, to: where }, where.length ? 'TLS report sent' : 'no TLS-RPT record; no report sent');
        } catch (e) {
          await this.store.finishTlsRptReport(domain, day, { error: (e as Error).message });
          this.log.warn({ domain, day, err: (e as Error).message }, 'TLS report not sent; tried again within the hour');
        }
      }
      const pruned = await this.store.pruneTlsRpt(utcDay(now - KEEP_DAYS * DAY_MS));
      if (pruned > 0) this.log.info({ rows: pruned, before: utcDay(now - KEEP_DAYS * DAY_MS) }, 'old TLS-RPT counts and report rows removed');
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'TLS-RPT run failed; the next one tries again');
    }
    return sent;
  }

  /** The report, gzipped, to every rua; resolves with where it went (none without a record), throws when none took it. */
  private async send(domain: string, day: string): Promise<string[]> {
    const ans = await this.dns.query(`_smtp._tls.${domain}`, 'TXT');
    if (ans.rcode !== 'NOERROR' && ans.rcode !== 'NXDOMAIN') throw new Error(`${ans.rcode} for _smtp._tls.${domain}`);
    const records = ans.records.map((r) => (r.data as string[]).join('')).filter((t) => /^v=TLSRPTv1\s*(;|$)/.test(t));
    const targets = records.length === 1 ? parseRua(records[0]!) : [];
    if (targets.length === 0) return [];
    const cfg = this.config.delivery.tlsRpt;
    const reportId = `${day}_${domain}_${randomBytes(6).toString('hex')}@${this.config.hostname}`;
    const json = buildReport(day, await this.store.tlsRptCounts(domain, day), { organization: cfg.organization, contact: `mailto:${cfg.from}`, reportId });
    const gz = gzipSync(JSON.stringify(json));
    const done: string[] = [];
    const errors: string[] = [];
    for (const t of targets) {
      try {
        if (t.kind === 'https') await this.post(t.url, gz); else await this.mail(t.address, domain, day, reportId, gz);
        done.push(t.kind === 'https' ? t.url.href : `mailto:${t.address}`);
      } catch (e) {
        errors.push(`${t.kind === 'https' ? t.url.href : t.address}: ${(e as Error).message}`);
      }
    }
    if (done.length === 0) throw new Error(errors.join('; '));
    return done;
  }

  private async post(url: URL, body: Buffer): Promise<void> {
    const host = url.hostname;
    const a = await this.dns.query(host, 'A');
    const address = (a.records[0]?.data as string | undefined) ?? ((await this.dns.query(host, 'AAAA')).records[0]?.data as string | undefined);
    if (!address) throw new Error(`${host} has no address`);
    const ca = loadCa(this.config);
    await new Promise<void>((resolve, reject) => {
      const req = https.request({
        method: 'POST', host: address, port: url.port || 443, path: `${url.pathname}${url.search}`, servername: host, timeout: POST_TIMEOUT_MS,
        headers: { host: url.host, 'content-type': 'application/tlsrpt+gzip', 'content-length': body.length },
        rejectUnauthorized: true, ...(ca ? { ca } : {}), checkServerIdentity: (_n, cert) => checkServerIdentity(host, cert),
      }, (res) => {
        res.resume();
        if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) resolve(); else reject(new Error(`HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${POST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  private async mail(to: string, domain: string, day: string, reportId: string, gz: Buffer): Promise<void> {
    const from = this.config.delivery.tlsRpt.from!;
    const fromDomain = from.slice(from.lastIndexOf('@') + 1);
    const key = await this.store.getDomain(fromDomain);
    if (!key) throw new Error(`delivery.tls_rpt.from: ${fromDomain} is not a domain of ours (no DKIM key)`);
    const message = reportMessage({ from, to, domain, day, reportId, organization: this.config.delivery.tlsRpt.organization, gz, now: this.now() });
    const signature = await dkimSignature([message], { domain: key.name, selector: key.dkimSelector, algorithm: key.dkimAlgorithm, privateKeyPem: key.dkimPrivateKey });
    const wire = Buffer.concat([Buffer.from(signature), message]);
    const rcptDomain = to.slice(to.lastIndexOf('@') + 1).toLowerCase();
    const r = await this.mx.resolve(rcptDomain);
    if (!r.ok) throw new Error(r.reply);
    const failures: string[] = [];
    // Opportunistic TLS, no policy: the report must reach a domain whose TLS is broken too.
    for (const h of r.hosts) {
      for (const address of h.addresses) {
        try {
          const s = await SmtpSession.open({ address, port: this.config.delivery.port, hostName: h.name, tls: 'starttls', requireTls: false },
            { ehloName: this.config.hostname, connectTimeoutMs: this.config.delivery.connectTimeoutMs, socketTimeoutMs: this.config.delivery.socketTimeoutMs });
          try {
            const res = await s.send({ from, to: [to], size: wire.length }, Readable.from([wire]));
            const reply = res.replies.get(to) ?? 'no reply';
            if (!res.accepted.includes(to)) throw new Error(reply);
            return;
          } finally {
            s.close();
          }
        } catch (e) {
          failures.push(`${h.name}[${address}]: ${(e as Error).message}`);
        }
      }
    }
    throw new Error(failures.join('; ') || `no MX address for ${rcptDomain}`);
  }
}

/** The RFC 8460 §5.3 message: multipart/report with the gzipped JSON attached. */
export function reportMessage(o: { from: string; to: string; domain: string; day: string; reportId: string; organization: string; gz: Buffer; now: number }): Buffer {
  const boundary = `tlsrpt-${randomBytes(8).toString('hex')}`;
  const start = `${o.day}T00:00:00Z`;
  const end = `${o.day}T23:59:59Z`;
  const file = `${o.organization}!${o.domain}!${Date.parse(start) / 1000}!${Math.floor(Date.parse(end) / 1000)}.json.gz`;
  const b64 = o.gz.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    `From: <${o.from}>`, `To: <${o.to}>`, `Date: ${new Date(o.now).toUTCString().replace('GMT', '+0000')}`,
    `Subject: Report Domain: ${o.domain} Submitter: ${o.organization} Report-ID: <${o.reportId}>`,
    `Message-ID: <${o.reportId}>`, 'MIME-Version: 1.0', `TLS-Report-Domain: ${o.domain}`, `TLS-Report-Submitter: ${o.organization}`,
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`, '',
    `--${boundary}`, 'Content-Type: text/plain; charset=us-ascii', '',
    `This is an aggregate TLS report from ${o.organization} for ${o.domain}, ${o.day} (RFC 8460).`, '',
    `--${boundary}`, 'Content-Type: application/tlsrpt+gzip', 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="${file}"`, '',
    b64, '', `--${boundary}--`, '',
  ].join('\r\n'));
}
