/**
 * tracking/classify — tells people from machines, by the rules of tracking/rules-data.ts
 * (or `tracking.rules_file`). An open is `machine` when a privacy proxy or prefetcher
 * fetched the pixel (known user agent or address range, or within seconds of delivery);
 * a click is `scanner` when a security gateway followed the link (HEAD request, known user
 * agent or range, the hidden honeypot link clicked close by, or many links from one
 * address within seconds). Everything else is `human`. The first matching rule gives the
 * reason.
 *
 * Pure: it looks at the hit and the recipient's earlier hits it is given; it also says
 * which earlier clicks a honeypot or burst shows to be a scanner's (`alsoScanner`).
 * Must never: read or write storage, or call a hit human because a rule failed to load.
 */
import { readFileSync } from 'node:fs';
import { IpSet } from '../util/ipset.js';
import { MtaError } from '../util/errors.js';
import type { HitClass, TrackingHitRecord, TrackingKind } from '../spool/types-tracking.js';
import { DEFAULT_RULES, type RangeRule, type TrackingRules, type UaRule } from './rules-data.js';

export interface HitFacts {
  kind: TrackingKind;
  /** the honeypot link (a click no person can make) */
  honeypot: boolean;
  method: string;
  ip: string | null;
  /** the IP as hits are stored (truncated with tracking.privacy): what earlier hits are compared by */
  storedIp?: string | null | undefined;
  userAgent: string | null;
  at: number;
  /** when the copy was handed to the receiving server (from the token) */
  sentAt: number;
  link?: number | undefined;
}

/** The link index a honeypot hit is stored with: no real link has it. */
export const HONEYPOT_LINK = -1;

export interface Verdict {
  class: HitClass;
  reason: string | null;
  /** earlier clicks of the recipient that this hit shows were a scanner's */
  alsoScanner: number[];
}


function compileRanges(rules: RangeRule[], where: string): { set: IpSet; reason: string }[] {
  return rules.map((r, i) => {
    try { return { set: IpSet.parse([r.cidr]), reason: r.reason }; } catch (e) {
      throw new MtaError('MTA_ERR_CONFIG', `tracking rules: ${where}.ranges[${i}]: ${(e as Error).message}`);
    }
  });
}

function uaMatch(rules: UaRule[], ua: string | null): string | undefined {
  if (!ua) return undefined;
  const lower = ua.toLowerCase();
  return rules.find((r) => lower.includes(r.contains.toLowerCase()))?.reason;
}

export class Classifier {
  private readonly openRanges: { set: IpSet; reason: string }[];
  private readonly clickRanges: { set: IpSet; reason: string }[];

  constructor(readonly rules: TrackingRules = DEFAULT_RULES) {
    this.openRanges = compileRanges(rules.machineOpens.ranges, 'machineOpens');
    this.clickRanges = compileRanges(rules.scannerClicks.ranges, 'scannerClicks');
  }

  /** `earlier`: the recipient's hits stored before this one. */
  classify(h: HitFacts, earlier: readonly TrackingHitRecord[]): Verdict {
    return h.kind === 'open' ? this.open(h) : this.click(h, earlier);
  }

  private range(sets: { set: IpSet; reason: string }[], ip: string | null): string | undefined {
    return ip ? sets.find((s) => s.set.has(ip))?.reason : undefined;
  }

  private open(h: HitFacts): Verdict {
    const r = this.rules.machineOpens;
    const reason = uaMatch(r.userAgents, h.userAgent) ?? this.range(this.openRanges, h.ip)
      ?? (r.withinSecondsOfDelivery > 0 && h.at - h.sentAt < r.withinSecondsOfDelivery * 1000 ? `opened within ${r.withinSecondsOfDelivery} s of delivery (prefetch)` : undefined);
    return { class: reason ? 'machine' : 'human', reason: reason ?? null, alsoScanner: [] };
  }

  private click(h: HitFacts, earlier: readonly TrackingHitRecord[]): Verdict {
    const r = this.rules.scannerClicks;
    const clicks = earlier.filter((e) => e.kind === 'click');
    const window = r.honeypotWindowSeconds * 1000;
    if (h.honeypot) {
      // Everything this recipient "clicked" around the honeypot was the same machine.
      const near = clicks.filter((e) => e.class !== 'scanner' && Math.abs(e.at - h.at) <= window).map((e) => e.id);
      return { class: 'scanner', reason: 'honeypot link clicked', alsoScanner: near };
    }
    const stateless = (h.method === 'HEAD' && r.headRequests ? 'HEAD request' : undefined)
      ?? uaMatch(r.userAgents, h.userAgent) ?? this.range(this.clickRanges, h.ip);
    if (stateless) return { class: 'scanner', reason: stateless, alsoScanner: [] };
    if (clicks.some((e) => e.link === HONEYPOT_LINK && Math.abs(e.at - h.at) <= window)) {
      return { class: 'scanner', reason: 'honeypot link clicked within the window', alsoScanner: [] };
    }
    const ip = h.storedIp === undefined ? h.ip : h.storedIp;
    if (r.burstLinks > 0 && ip) {
      const burst = clicks.filter((e) => e.ip === ip && e.link !== undefined && e.link !== HONEYPOT_LINK && h.at - e.at <= r.burstSeconds * 1000 && e.at <= h.at);
      const links = new Set([...burst.map((e) => e.link), h.link]);
      if (links.size >= r.burstLinks) {
        return { class: 'scanner', reason: `${links.size} links from one address within ${r.burstSeconds} s`, alsoScanner: burst.filter((e) => e.class !== 'scanner').map((e) => e.id) };
      }
    }
    return { class: 'human', reason: null, alsoScanner: [] };
  }
}

/** The rules from `file` (JSON of the TrackingRules shape), or the shipped ones. */
export function loadRules(file: string | undefined): TrackingRules {
  if (!file) return DEFAULT_RULES;
  let parsed: unknown;
  try { parsed = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
    throw new MtaError('MTA_ERR_CONFIG', `tracking.rules_file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return checkRules(parsed, file);
}

function checkRules(v: unknown, file: string): TrackingRules {
  const bad = (path: string): never => { throw new MtaError('MTA_ERR_CONFIG', `tracking.rules_file ${file}: ${path} is missing or of the wrong type`); };
  const o = v as TrackingRules;
  const uas = (a: unknown, p: string): void => { if (!Array.isArray(a) || a.some((x) => typeof (x as UaRule)?.contains !== 'string' || typeof (x as UaRule).reason !== 'string')) bad(p); };
  const rs = (a: unknown, p: string): void => { if (!Array.isArray(a) || a.some((x) => typeof (x as RangeRule)?.cidr !== 'string' || typeof (x as RangeRule).reason !== 'string')) bad(p); };
  const num = (n: unknown, p: string): void => { if (typeof n !== 'number' || !(n >= 0)) bad(p); };
  if (typeof o !== 'object' || o === null || typeof o.machineOpens !== 'object' || typeof o.scannerClicks !== 'object') bad('machineOpens / scannerClicks');
  uas(o.machineOpens.userAgents, 'machineOpens.userAgents'); rs(o.machineOpens.ranges, 'machineOpens.ranges'); num(o.machineOpens.withinSecondsOfDelivery, 'machineOpens.withinSecondsOfDelivery');
  uas(o.scannerClicks.userAgents, 'scannerClicks.userAgents'); rs(o.scannerClicks.ranges, 'scannerClicks.ranges');
  if (typeof o.scannerClicks.headRequests !== 'boolean') bad('scannerClicks.headRequests');
  for (const k of ['honeypotWindowSeconds', 'burstLinks', 'burstSeconds'] as const) num(o.scannerClicks[k], `scannerClicks.${k}`);
  return o;
}
