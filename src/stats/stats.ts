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
import type { TrackingStore } from '../spool/types-tracking.js';
import { hitEvents } from '../tracking/timeline.js';
import type { Config } from '../config/config.js';
import type { EventStore, SpoolEvent } from '../spool/types-events.js';
import type { AddressMatch, PurgeResult, Rejection, SendDetail, StatsCounters, StatsGroup, StatsRow, StatsStore } from '../spool/types-stats.js';
import type { RecipientState } from '../spool/states.js';
import { canonicalAddress, normaliseDomain } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { rcptReport, type RcptStatsReport } from './rcpt-stats.js';
import { DAY_MS, dayIn, daysBetween, eachDay, parseDay, parseTime } from '../util/time.js';

export const MAX_RANGE_DAYS = 31;
export const STATS_GROUPS: readonly StatsGroup[] = ['day', 'domain', 'sender', 'tag'];
/** What `by` accepts: the groups of the daily counters, and the per-recipient-domain report. */
export const REPORT_GROUPS = [...STATS_GROUPS, 'rcpt-domain'] as const;

/**
 * What `mta log --result` names, and the recipient states behind each. `rejected` is a
 * recipient refused at submission (559, suppressed): no message and no recipient row exist,
 * only its `rejected` event, so it has no state.
 */
export type SendResult = 'delivered' | 'failed' | 'expired' | 'deferred' | 'queued' | 'rejected';
export const SEND_RESULTS: Record<SendResult, readonly RecipientState[]> = {
  delivered: ['delivered'],
  failed: ['failed', 'suppressed'],
  expired: ['expired'],
  deferred: ['deferred'],
  queued: ['queued', 'sending', 'held'],
  rejected: [],
};

export function resultOf(state: RecipientState): SendResult {
  for (const [r, states] of Object.entries(SEND_RESULTS)) if (states.includes(state)) return r as SendResult;
  return 'queued';
}

export type StatsServiceStore = Pick<StatsStore, 'queryStats' | 'queryRcptStats' | 'listSendDetails' | 'listRejections' | 'purge'> & Pick<EventStore, 'eventsOfRecipients'>
  & Pick<TrackingStore, 'trackingHitsOfRecipients'>;

/**
 * The days a report covers: `from` and `to` (YYYY-MM-DD, both included) checked, `to`
 * defaulting to today in `timeZone` and `from` to `to`; at most MAX_RANGE_DAYS.
 */
export function dayRange(input: { from?: unknown; to?: unknown }, now: number, timeZone: string): { from: string; to: string } {
  const given = input.from === undefined ? undefined : parseDay(input.from, 'from');
  const to = input.to === undefined ? dayIn(now, timeZone) : parseDay(input.to, 'to');
  const from = given ?? to;
  if (from > to) throw new MtaError('MTA_ERR_INVALID', `from (${from}) is after to (${to})`, 'from');
  const days = daysBetween(from, to);
  if (days > MAX_RANGE_DAYS) throw new MtaError('MTA_ERR_INVALID', `the range ${from} to ${to} covers ${days} days; at most ${MAX_RANGE_DAYS} in one query`, 'to');
  return { from, to };
}

export interface StatsQueryInput { from?: unknown; to?: unknown; domain?: unknown; sender?: unknown; tag?: unknown; by?: unknown }

export type StatsReportRow = { key: string } & StatsCounters & { delivery_rate: number; invalid_rate: number };

export interface StatsReport {
  /** the IANA zone whose calendar days the rows are */
  time_zone: string;
  from: string;
  to: string;
  by: StatsGroup;
  filter: { domain?: string; sender?: string; tag?: string };
  rows: ComplaintReportRow[];
  total: ComplaintReportRow;
}

/**
 * With complaints (feedback reports of type abuse) and complaint rate = complaints /
 * delivered, as the reputation reads it, and late bounces (asynchronous bounces of
 * delivered mail; still counted in delivered).
 */
export type ComplaintReportRow = StatsReportRow & { complaints: number; complaint_rate: number; late_bounces: number };

export interface SendDetailInput {
  from?: unknown; to?: unknown; sender?: unknown; rcpt?: unknown; tag?: unknown; result?: unknown; message_id?: unknown;
  limit?: unknown; cursor?: unknown; events?: boolean; task_id?: unknown;
}

export interface SendDetailView {
  /** null for a recipient rejected at submission (no message was made) */
  queue_id: string | null;
  recipient_id: number | null;
  received_at: string;
  sender: string;
  rcpt: string;
  tag: string | null;
  message_id: string | null;
  subject: string | null;
  result: SendResult;
  state: RecipientState | null;
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

export function optionalText(v: unknown, field: string, parse: (s: string) => string | undefined, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const r = typeof v === 'string' ? parse(v) : undefined;
  if (r === undefined) throw new MtaError('MTA_ERR_INVALID', `${field} must be ${what} (got ${JSON.stringify(v)})`, field);
  return r;
}

export const domainFilter = (v: unknown): string | undefined => optionalText(v, 'domain', normaliseDomain, 'a domain name');
export const senderFilter = (v: unknown, field = 'sender'): string | undefined => optionalText(v, field, canonicalAddress, 'an address');
/**
 * An address search: a whole address matches that address (any case); `@example.org`
 * matches every address at that domain; any other text matches addresses containing it.
 */
export function addressFilter(v: unknown, field: string): AddressMatch | undefined {
  if (v === undefined || v === null) return undefined;
  // No control characters: SQLite reads a LIKE pattern only up to a NUL ("%\0" would match everything).
  if (typeof v !== 'string' || v.trim() === '' || v.length > 320 || /[\u0000-\u001f\u007f]/.test(v)) throw new MtaError('MTA_ERR_INVALID', `${field} must be an address, @domain or part of an address (got ${JSON.stringify(v)})`, field);
  const text = v.trim();
  const exact = canonicalAddress(text);
  if (exact) return { exact };
  const like = text.replace(/[\\%_]/g, (c) => `\\${c}`);
  if (text.startsWith('@')) {
    if (!normaliseDomain(text.slice(1))) throw new MtaError('MTA_ERR_INVALID', `${field}: ${JSON.stringify(text.slice(1))} is not a domain name`, field);
    return { like: `%${like}` };
  }
  return { like: `%${like}%` };
}

export const tagFilter = (v: unknown): string | undefined => optionalText(v, 'tag', (s) => (s.length <= 256 ? s : undefined), 'a tag of at most 256 characters');

export class StatsService {
  /** `timeZone`: the spool's counting calendar (config `timezone`) */
  constructor(private readonly store: StatsServiceStore, private readonly timeZone = 'UTC') {}

  /**
   * Daily statistics over at most 31 days, grouped by day (default), domain, sender or tag;
   * or, with `by: 'rcpt-domain'`, per day and recipient domain (only the `domain` filter).
   */
  async query(input: StatsQueryInput & { by: 'rcpt-domain' }, now?: number): Promise<RcptStatsReport>;
  async query(input: StatsQueryInput & { by?: StatsGroup }, now?: number): Promise<StatsReport>;
  async query(input: StatsQueryInput, now?: number): Promise<StatsReport | RcptStatsReport>;
  async query(input: StatsQueryInput, now = Date.now()): Promise<StatsReport | RcptStatsReport> {
    const { from, to } = dayRange(input, now, this.timeZone);
    const by = input.by === undefined ? 'day' : input.by;
    if (typeof by !== 'string' || !(REPORT_GROUPS as readonly string[]).includes(by)) {
      throw new MtaError('MTA_ERR_INVALID', `by must be one of ${REPORT_GROUPS.join(', ')} (got ${JSON.stringify(input.by)})`, 'by');
    }
    if (by === 'rcpt-domain') {
      // The per-recipient-domain counters are kept per sender domain only.
      for (const f of ['sender', 'tag'] as const) {
        if (input[f] !== undefined) throw new MtaError('MTA_ERR_INVALID', `${f} cannot filter statistics by rcpt-domain (only domain can)`, f);
      }
      const domain = domainFilter(input.domain);
      const r = rcptReport(await this.store.queryRcptStats({ fromDay: from, toDay: to, domain }), ZERO, withRates);
      return { time_zone: this.timeZone, from, to, by, filter: domain === undefined ? {} : { domain }, ...r };
    }
    const filter = { domain: domainFilter(input.domain), sender: senderFilter(input.sender), tag: tagFilter(input.tag) };
    const rows: StatsRow[] = await this.store.queryStats({ fromDay: from, toDay: to, by: by as StatsGroup, ...filter });
    type Counted = StatsCounters & Pick<StatsRow, 'complaints' | 'late_bounces'>;
    const withComplaints = (key: string, c: Counted): ComplaintReportRow =>
      ({ ...withRates(key, c), complaints: c.complaints, complaint_rate: rate(c.complaints, c.delivered), late_bounces: c.late_bounces });
    let out = rows.map((r) => withComplaints(r.key, r));
    if (by === 'day') {
      // Every day of the range, quiet ones as zeros (as DirectMail shows them).
      const byDay = new Map(out.map((r) => [r.key, r]));
      out = eachDay(from, to).map((d) => byDay.get(d) ?? withComplaints(d, { ...ZERO, complaints: 0, late_bounces: 0 }));
    }
    const total: Counted = { ...ZERO, complaints: 0, late_bounces: 0 };
    for (const r of rows) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r[k];
    const f = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as StatsReport['filter'];
    return { time_zone: this.timeZone, from, to, by: by as StatsGroup, filter: f, rows: out, total: withComplaints('TOTAL', total) };
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
    const cursor = parseCursor(input.cursor);
    const messageId = optionalText(input.message_id, 'message_id', (t) => (t.length <= 998 ? t.trim().replace(/^<(.*)>$/, '$1') : undefined), 'a Message-ID');
    const sender = addressFilter(input.sender, 'sender');
    const rcpt = addressFilter(input.rcpt, 'rcpt');
    const tag = tagFilter(input.tag);
    const taskId = optionalText(input.task_id, 'task_id', (t) => (t.length >= 1 && t.length <= 64 ? t : undefined), 'a task id');
    const wantRecipients = input.result !== 'rejected';
    // Rejections have no message: a tag, a Message-ID, a task or another result cannot match one.
    const wantRejections = (input.result === undefined || input.result === 'rejected') && tag === undefined && messageId === undefined && taskId === undefined;
    const [rows, refused] = await cursorChecked(input.cursor, Promise.all([
      wantRecipients ? this.store.listSendDetails({ from, to, sender, rcpt, tag, messageId, taskId, states, limit, before: cursor.recipient }) : [],
      wantRejections ? this.store.listRejections({ from, to, sender, rcpt, limit, before: cursor.rejection }) : [],
    ]));
    const ids = rows.map((r) => r.recipientId);
    // Opens and clicks join each recipient's timeline (tracking/endpoint.ts stores them).
    const events = input.events ? groupEvents([...await this.store.eventsOfRecipients(ids), ...hitEvents(await this.store.trackingHitsOfRecipients(ids))]) : undefined;
    // Newest first across both; each source's cursor moves past what this page took.
    const merged = [...rows.map((r) => ({ at: r.receivedAt, r })), ...refused.map((x) => ({ at: x.at, x }))]
      .sort((a, b) => b.at - a.at).slice(0, limit);
    const next = { ...cursor };
    const items = merged.map((m) => {
      if ('r' in m) { next.recipient = m.r.cursor; return detailView(m.r, events?.get(m.r.recipientId)); }
      next.rejection = m.x.cursor;
      return rejectionView(m.x, input.events === true);
    });
    const more = rows.length === limit || refused.length === limit;
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), items, next_cursor: more ? formatCursor(next, wantRejections) : null };
  }

  /** Deletes what retention says is too old: finished send details, logs, counters. */
  purge(retention: Config['retention'], now = Date.now()): Promise<PurgeResult> {
    return this.store.purge({ detailsBefore: now - retention.detailsMs, statsBeforeDay: dayIn(now - retention.statisticsMs, this.timeZone) });
  }
}

/** Where a page of send details stopped: the store's cursors of the last recipient and the last refusal taken. */
interface Cursor { recipient?: string | undefined; rejection?: string | undefined }

const badCursor = (v: unknown): MtaError => new MtaError('MTA_ERR_INVALID', `${JSON.stringify(v)} is not a cursor from an earlier page`, 'cursor');

/**
 * `R` (recipients only) or `R.E`; either part may be empty (that source not started). The
 * parts are the store's opaque cursors (base64url characters); the store checks them.
 */
function parseCursor(v: unknown): Cursor {
  if (v === undefined) return {};
  const m = typeof v === 'string' ? /^([\w-]{0,64})(?:\.([\w-]{0,64}))?$/.exec(v) : null;
  if (!m || v === '' || v === '.') throw badCursor(v);
  return { recipient: m[1] || undefined, rejection: m[2] || undefined };
}

/** A part the store refuses is reported as the whole cursor the client sent. */
async function cursorChecked<T>(v: unknown, read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (e) {
    throw e instanceof MtaError && e.code === 'MTA_ERR_INVALID' && e.field === 'cursor' ? badCursor(v) : e;
  }
}

function formatCursor(c: Cursor, withRejections: boolean): string {
  return withRejections ? `${c.recipient ?? ''}.${c.rejection ?? ''}` : String(c.recipient ?? '');
}

function rejectionView(x: Rejection, events: boolean): SendDetailView {
  const at = new Date(x.at).toISOString();
  return {
    queue_id: null, recipient_id: null, received_at: at, sender: x.sender, rcpt: x.rcpt, tag: null, message_id: null, subject: null,
    result: 'rejected', state: null, attempts: 0, last_reply: x.reply, updated_at: at,
    ...(events ? { events: [{ at, type: 'rejected', reply: x.reply }] } : {}),
  };
}

function groupEvents(events: SpoolEvent[]): Map<number, SpoolEvent[]> {
  const m = new Map<number, SpoolEvent[]>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
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
