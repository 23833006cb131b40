/**
 * accounts/verification — runs the DNS checks for a domain and records what they found:
 * the per-check results, the domain's status (verified when ownership, SPF and DKIM pass),
 * and an event when a domain changes status (`domain.verified`, `domain.dns_error`). The
 * daemon runs it for every domain on `domains.check_schedule`; `mta domain check` runs it
 * for one. A DKIM rotation completes here: once the new selector's record is visible, the
 * new key signs and `domain.dkim_rotated` says the old record may go.
 */
import type { Logger } from 'pino';
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { DomainEvent, DomainRecord } from '../spool/types-domains.js';
import type { DnsClient } from '../dns/client.js';
import { checkDomain, dkimPublished, type CheckContext, type DomainCheckResult } from '../dns/checker.js';
import { sourcesForDomain } from '../delivery/egress.js';
import { ALWAYS_LEAD, ifLeading, type JobGate } from '../util/cluster-jobs.js';

export function checkContext(config: Config, dns: DnsClient): CheckContext {
  let publicHost: string | undefined;
  try { publicHost = config.public.baseUrl ? new URL(config.public.baseUrl).hostname : undefined; } catch { publicHost = undefined; }
  return {
    dns, hostname: config.hostname, sendingIps: config.delivery.sendingIps, ownershipRecord: config.domains.ownershipRecord,
    mxHost: config.domains.mxHost,
    ...(config.egress.sources.length > 0 ? { egressSources: (domain?: string) => sourcesForDomain(config.egress, domain) } : {}),
    ...(config.domains.dmarcRua ? { dmarcRua: config.domains.dmarcRua } : {}),
    ...(config.domains.trackingHost ? { trackingHost: config.domains.trackingHost } : {}),
    ...(publicHost ? { publicHost } : {}),
    // Only when this server takes inbound mail: an MX pointing at a closed port 25 would lose bounces.
    ...(config.inbound.listen.length > 0 ? { bounceSubdomain: config.domains.bounceSubdomain } : {}),
    ...(config.domains.mtaSts.enabled ? { ourMtaSts: config.domains.mtaSts } : {}),
  };
}

export interface VerificationOutcome extends DomainCheckResult { previous: string; rotatedFrom?: string }

export class DomainVerifier {
  private task: ScheduledTask | undefined;
  private running = false;
  /** whether this node runs the scheduled re-check (one node of a cluster does: util/cluster-jobs.ts) */
  gate: JobGate = ALWAYS_LEAD;

  constructor(private config: Config, private readonly store: Store, private readonly dns: DnsClient, private readonly log: Logger) {}

  reload(config: Config): void {
    const changed = config.domains.checkSchedule !== this.config.domains.checkSchedule;
    this.config = config;
    if (changed && this.task) { this.stop(); this.start(); }
  }

  /** Checks one domain now and stores the result. */
  async check(d: DomainRecord): Promise<VerificationOutcome> {
    const now = Date.now();
    let rotatedFrom: string | undefined;
    if (d.nextDkim && await dkimPublished(d.name, d.nextDkim.selector, d.nextDkim.publicKey, this.dns)) {
      rotatedFrom = await this.store.promoteNextDkimKey(d.name);
      d = (await this.store.getDomain(d.name)) ?? d;
    }
    const result = await checkDomain(d, checkContext(this.config, this.dns));
    const events: DomainEvent[] = [];
    if (rotatedFrom) {
      events.push({ at: now, type: 'domain.dkim_rotated', domain: d.name, detail: { old_selector: rotatedFrom, selector: d.dkimSelector } });
      this.log.info({ domain: d.name, old_selector: rotatedFrom, selector: d.dkimSelector }, 'DKIM key rotated: the new key signs now; the old selector\'s record may be removed');
    }
    const failing = result.checks.filter((c) => ['ownership', 'spf', 'dkim'].includes(c.name) && c.status !== 'ok');
    if (d.status === 'verified' && result.status !== 'verified') {
      events.push({ at: now, type: 'domain.dns_error', domain: d.name, detail: { failing: failing.map((c) => ({ check: c.name, status: c.status, detail: c.detail })) } });
      this.log.warn({ domain: d.name, failing: failing.map((c) => `${c.name} ${c.status}`) }, 'a verified domain fails its DNS checks now; it cannot send while domains.require_verified is on');
    } else if (d.status !== 'verified' && result.status === 'verified') {
      events.push({ at: now, type: 'domain.verified', domain: d.name, detail: {} });
      this.log.info({ domain: d.name }, 'domain verified');
    }
    await this.store.saveDomainChecks(d.name, result.checks, result.status, events);
    return { ...result, previous: d.status, ...(rotatedFrom ? { rotatedFrom } : {}) };
  }

  /** Checks every domain, one after another (DNS politeness), logging failures. */
  async checkAll(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const d of await this.store.listDomains()) {
        try { await this.check(d); } catch (e) { this.log.error({ domain: d.name, err: (e as Error).message }, 'domain check failed'); }
      }
    } finally {
      this.running = false;
    }
  }

  start(): void {
    this.task = cron.schedule(this.config.domains.checkSchedule, () => ifLeading(this.gate, 'dns-check', () => this.checkAll()), { name: 'domain-checks', noOverlap: true, unref: true });
  }

  stop(): void {
    void this.task?.destroy();
    this.task = undefined;
  }
}
