/**
 * stats/stats — statistics, send details and the retention purge, one implementation each
 * for the CLI (`mta stats`, `mta log`) and the admin API. Inputs are `unknown` (command-line
 * text or JSON) and checked here: one precise error, nothing read.
 *
 * Statistics come from the daily counters the spool keeps as mail is accepted and
 * finished (spool/sqlite-stats.ts); a query never scans events. The rates follow
 * DirectMail: delivery rate = delivered / requests, invalid rate = invalid / requests, where
 * requests leave out the recipients of tasks the operator cancelled (`cancelled`).
 * Requests count on the day the message was received, in the configured `timezone`, and
 * so do its outcomes.
 */
import type { Config } from '../config/config.js';
import type { PurgeResult, SendDetail, SpoolEvent, StatsCounters, StatsGroup, StatsRow, Store } from '../spool/types.js';
import type { RecipientState } from '../spool/states.js';
import { canonicalAddress, normaliseDomain } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { DAY_MS, dayIn, daysBetween, eachDay, parseDay, parseTime } from '../util/time.js';

export const MAX_RANGE_DAYS = 31;
export const STATS_GROUPS: readonly StatsGroup[] = ['day', 'domain', 'sender', 'tag'];

/** What `mta log --result` names, and the recipient states behind each. */
export type SendResult = 'delivered' | 'failed' | 'expired' | 'deferred' | 'queued';
export const SEND_RESULTS: Record<SendResult, readonly RecipientState[]> = {
  delivered: ['delivered'],
  failed: ['failed', 'suppressed'],
  expired: ['expired'],
  deferred: ['deferred'],
  queued: ['queued', 'sending', 'held'],
};

export function resultOf(state: RecipientState): SendResult {
  for (const [r, states] of Object.entries(SEND_RESULTS)) if (states.includes(state)) return r as SendResult;
  return 'queued';
}

export type StatsServiceStore = Pick<Store, 'queryStats' | 'listSendDetails' | 'eventsOfRecipients' | 'purge'>;

export interface StatsQueryInput { from?: unknown; to?: unknown; domain?: unknown; sender?: unknown; tag?: unknown; by?: unknown }

export type StatsReportRow = { key: string } & StatsCounters & { delivery_rate: number; invalid_rate: number };

export interface StatsReport {
  /** the IANA zone whose calendar days the rows are */
  time_zone: string;
  from: string;
  to: string;
  by: StatsGroup;
  filter: { domain?: string; sender?: string; tag?: string };
  rows: StatsReportRow[];
  total: StatsReportRow;
}

export interface SendDetailInput {
  from?: unknown; to?: unknown; sender?: unknown; rcpt?: unknown; tag?: unknown; result?: unknown;
  limit?: unknown; cursor?: unknown; events?: boolean;
}

export interface SendDetailView {
  queue_id: string;
  recipient_id: number;
  received_at: string;
  sender: string;
  rcpt: string;
  tag: string | null;
  message_id: string;
  subject: string | null;
  result: SendResult;
  state: RecipientState;
  attempts: number;
  last_reply: string | null;
  updated_at: string;
  events?: { at: string; type: string; [detail: string]: unknown }[];
}

export interface SendDetailPage { from: string; to: string; items: SendDetailView[]; next_cursor: string | null }

const ZERO: StatsCounters = { requests: 0, delivered: 0, failed: 0, invalid: 0, deferred: 0, expired: 0, cancelled: 0 };

function rate(n: number, of: number): number { return of > 0 ? Math.round((n / of) * 10_000) / 10_000 : 0; }

function withRates(key: string, c: StatsCounters): StatsReportRow {
  return {
    key, requests: c.requests, delivered: c.delivered, failed: c.failed, invalid: c.invalid, deferred: c.deferred, expired: c.expired, cancelled: c.cancelled,
    // Recipients of a cancelled task were never going to be delivered: the rates leave them out.
    delivery_rate: rate(c.delivered, c.requests - c.cancelled), invalid_rate: rate(c.invalid, c.requests - c.cancelled),
  };
}

function optionalText(v: unknown, field: string, parse: (s: string) => string | undefined, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const r = typeof v === 'string' ? parse(v) : undefined;
  if (r === undefined) throw new MtaError('MTA_ERR_INVALID', `${field} must be ${what} (got ${JSON.stringify(v)})`, field);
  return r;
}

const domainFilter = (v: unknown): string | undefined => optionalText(v, 'domain', normaliseDomain, 'a domain name');
const senderFilter = (v: unknown, field = 'sender'): string | undefined => optionalText(v, field, canonicalAddress, 'an address');
const tagFilter = (v: unknown): string | undefined => optionalText(v, 'tag', (s) => (s.length <= 256 ? s : undefined), 'a tag of at most 256 characters');

export class StatsService {
  /** `timeZone`: the spool's counting calendar (config `timezone`) */
  constructor(private readonly store: StatsServiceStore, private readonly timeZone = 'UTC') {}

  /** Daily statistics over at most 31 days, grouped by day (default), domain, sender or tag. */
  async query(input: StatsQueryInput, now = Date.now()): Promise<StatsReport> {
    const today = dayIn(now, this.timeZone);
    const given = input.from === undefined ? undefined : parseDay(input.from, 'from');
    const to = input.to === undefined ? today : parseDay(input.to, 'to');
    const from = given ?? to;
    if (from > to) throw new MtaError('MTA_ERR_INVALID', `from (${from}) is after to (${to})`, 'from');
    const days = daysBetween(from, to);
    if (days > MAX_RANGE_DAYS) throw new MtaError('MTA_ERR_INVALID', `the range ${from} to ${to} covers ${days} days; at most ${MAX_RANGE_DAYS} in one query`, 'to');
    const by = input.by === undefined ? 'day' : input.by;
    if (typeof by !== 'string' || !(STATS_GROUPS as readonly string[]).includes(by)) {
      throw new MtaError('MTA_ERR_INVALID', `by must be one of ${STATS_GROUPS.join(', ')} (got ${JSON.stringify(input.by)})`, 'by');
    }
    const filter = { domain: domainFilter(input.domain), sender: senderFilter(input.sender), tag: tagFilter(input.tag) };
    const rows: StatsRow[] = await this.store.queryStats({ fromDay: from, toDay: to, by: by as StatsGroup, ...filter });
    let out = rows.map((r) => withRates(r.key, r));
    if (by === 'day') {
      // Every day of the range, quiet ones as zeros (as DirectMail shows them).
      const byDay = new Map(out.map((r) => [r.key, r]));
      out = eachDay(from, to).map((d) => byDay.get(d) ?? withRates(d, ZERO));
    }
    const total = { ...ZERO };
    for (const r of rows) for (const k of Object.keys(ZERO) as (keyof StatsCounters)[]) total[k] += r[k];
    const f = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as StatsReport['filter'];
    return { time_zone: this.timeZone, from, to, by: by as StatsGroup, filter: f, rows: out, total: withRates('TOTAL', total) };
  }

  /** Send details: recipients received in a time range (default: the last 24 hours), newest first. */
  async details(input: SendDetailInput, now = Date.now()): Promise<SendDetailPage> {
    const given = input.from === undefined ? undefined : parseTime(input.from, 'from');
    const to = input.to === undefined ? now : parseTime(input.to, 'to', { endOfDay: true });
    const from = given ?? to - DAY_MS;
    if (from > to) throw new MtaError('MTA_ERR_INVALID', `from (${new Date(from).toISOString()}) is after to (${new Date(to).toISOString()})`, 'from');
    if (to - from > MAX_RANGE_DAYS * DAY_MS) throw new MtaError('MTA_ERR_INVALID', `the time range covers more than ${MAX_RANGE_DAYS} days; narrow it`, 'to');
    let states: readonly RecipientState[] | undefined;
    if (input.result !== undefined) {
      if (typeof input.result !== 'string' || !(input.result in SEND_RESULTS)) {
        throw new MtaError('MTA_ERR_INVALID', `result must be one of ${Object.keys(SEND_RESULTS).join(', ')} (got ${JSON.stringify(input.result)})`, 'result');
      }
      states = SEND_RESULTS[input.result as SendResult];
    }
    const limit = input.limit === undefined ? 100 : Number(input.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new MtaError('MTA_ERR_INVALID', 'limit must be a whole number from 1 to 10000', 'limit');
    let before: number | undefined;
    if (input.cursor !== undefined) {
      before = typeof input.cursor === 'string' && /^\d{1,15}$/.test(input.cursor) ? Number(input.cursor) : NaN;
      if (!Number.isSafeInteger(before) || before < 1) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(input.cursor)} is not a cursor from an earlier page`, 'cursor');
    }
    const rows = await this.store.listSendDetails({
      from, to, sender: senderFilter(input.sender), rcpt: senderFilter(input.rcpt, 'rcpt'), tag: tagFilter(input.tag), states, limit, before,
    });
    const events = input.events ? groupEvents(await this.store.eventsOfRecipients(rows.map((r) => r.recipientId))) : undefined;
    const items = rows.map((r) => detailView(r, events?.get(r.recipientId)));
    const last = rows[rows.length - 1];
    return {
      from: new Date(from).toISOString(), to: new Date(to).toISOString(), items,
      next_cursor: rows.length === limit && last ? String(last.recipientId) : null,
    };
  }

  /** Deletes what retention says is too old: finished send details, logs, counters. */
  purge(retention: Config['retention'], now = Date.now()): Promise<PurgeResult> {
    return this.store.purge({ detailsBefore: now - retention.detailsMs, statsBeforeDay: dayIn(now - retention.statisticsMs, this.timeZone) });
  }
}

function groupEvents(events: SpoolEvent[]): Map<number, SpoolEvent[]> {
  const m = new Map<number, SpoolEvent[]>();
  for (const e of events) {
    if (e.recipientId === null) continue;
    const list = m.get(e.recipientId);
    if (list) list.push(e); else m.set(e.recipientId, [e]);
  }
  return m;
}

function detailView(r: SendDetail, events: SpoolEvent[] | undefined): SendDetailView {
  return {
    queue_id: r.queueId, recipient_id: r.recipientId, received_at: new Date(r.receivedAt).toISOString(), sender: r.sender, rcpt: r.rcpt,
    tag: r.tag, message_id: r.messageId, subject: r.subject, result: resultOf(r.state), state: r.state, attempts: r.attempts,
    last_reply: r.lastReply, updated_at: new Date(r.updatedAt).toISOString(),
    ...(events ? { events: events.map((e) => ({ ...e.detail, at: new Date(e.at).toISOString(), type: e.type })) } : {}),
  };
}
