/**
 * events/webhooks — the operations on webhooks, one implementation each, for the CLI
 * (`mta webhook ...`) and the admin API: validate the input (one precise error, nothing
 * changed), then call the store. Inputs are `unknown` on purpose: a JSON body and
 * command-line text go through the same checks.
 *
 * A secret is generated when none is given and returned once, by `add`; listings never
 * show it, nor the credentials of a `https://user:pass@host/` URL (`redactUrl`). A URL
 * whose host is private, loopback or link-local is refused (events/target.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { SenderStore } from '../spool/types-senders.js';
import type { WebhookAttempt, WebhookListRow, WebhookRecord, WebhookStore } from '../spool/types-webhooks.js';
import { canonicalAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { formatTime, SUBSCRIBABLE_EVENTS, type WebhookEventName, type WebhookFormat } from './payload.js';
import { postEvent, type PostResult } from './post.js';
import { refusedTarget } from './target.js';

export type WebhookServiceStore = Pick<WebhookStore, 'addWebhook' | 'getWebhook' | 'listWebhooks' | 'removeWebhook' | 'recordWebhookAttempt' | 'listWebhookAttempts'> & Pick<SenderStore, 'getSender'>;

export interface AddWebhookInput { url?: unknown; sender?: unknown; events?: unknown; format?: unknown; secret?: unknown }

/** A webhook as shown to people and scripts: everything but the secret. */
export interface WebhookView {
  id: number;
  url: string;
  scope: string;
  sender: string | null;
  events: '*' | WebhookEventName[];
  format: WebhookFormat;
  created_at: string;
  disabled: boolean;
  backlog?: number;
  dead?: number;
}

export interface WebhookTestResult { id: number; url: string; ok: boolean; status: number | null; error: string | null; duration_ms: number }

export interface WebhookAttemptView { id: number; webhook_id: number; outbox_id: number | null; event: string; at: string; status: number | null; error: string | null; duration_ms: number }

const MIN_SECRET = 16;

export function parseWebhookId(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(v)} is not a webhook id (a positive whole number)`, 'id');
  return n;
}

function parseUrl(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') throw new MtaError('MTA_ERR_INVALID', 'a webhook needs a URL', 'url');
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    throw new MtaError('MTA_ERR_INVALID', `"${v}" is not a URL`, 'url');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new MtaError('MTA_ERR_INVALID', `"${v}" must be an http:// or https:// URL`, 'url');
  if (u.href.length > 2048) throw new MtaError('MTA_ERR_INVALID', 'the URL is longer than 2048 characters', 'url');
  return u.href;
}

function parseEvents(v: unknown): '*' | WebhookEventName[] {
  if (v === undefined || v === null || v === '*') return '*';
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string')) {
    throw new MtaError('MTA_ERR_INVALID', `events must be "*" or a list of: ${SUBSCRIBABLE_EVENTS.join(', ')}`, 'events');
  }
  if (list.includes('*')) return '*';
  const unknown = (list as string[]).filter((e) => !(SUBSCRIBABLE_EVENTS as readonly string[]).includes(e));
  if (unknown.length) throw new MtaError('MTA_ERR_INVALID', `unknown event ${unknown.map((e) => `"${e}"`).join(', ')}; known: ${SUBSCRIBABLE_EVENTS.join(', ')}`, 'events');
  return [...new Set(list as WebhookEventName[])];
}

function parseFormat(v: unknown): WebhookFormat {
  if (v === undefined || v === null) return 'json';
  if (v === 'json' || v === 'form') return v;
  throw new MtaError('MTA_ERR_INVALID', `format must be "json" or "form", not ${JSON.stringify(v)}`, 'format');
}

function parseSecret(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim().length < MIN_SECRET || /\s/.test(v)) {
    throw new MtaError('MTA_ERR_INVALID', `a secret must be at least ${MIN_SECRET} characters without spaces`, 'secret');
  }
  return v;
}

/** `https://user:pass@host/x` → `https://***@host/x`: the credentials are the receiver's secret. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '***';
    u.password = '';
    return u.href;
  } catch {
    return url;
  }
}

export function webhookView(w: WebhookRecord | WebhookListRow): WebhookView {
  return {
    id: w.id, url: redactUrl(w.url), scope: w.sender ?? 'account', sender: w.sender, events: w.events, format: w.format,
    created_at: new Date(w.createdAt).toISOString(), disabled: w.disabled,
    ...('backlog' in w ? { backlog: w.backlog, dead: w.dead } : {}),
  };
}

export function attemptView(a: WebhookAttempt): WebhookAttemptView {
  return {
    id: a.id, webhook_id: a.webhookId, outbox_id: a.outboxId, event: a.event, at: new Date(a.at).toISOString(),
    status: a.status, error: a.error, duration_ms: a.durationMs,
  };
}

export class WebhookService {
  constructor(private readonly store: WebhookServiceStore, private readonly config: () => Config) {}

  /** Adds a webhook; `secret` is in the answer only when it was generated here. */
  async add(input: AddWebhookInput): Promise<{ webhook: WebhookView; secret?: string }> {
    const url = parseUrl(input.url);
    const refused = await refusedTarget(new URL(url), this.config().webhooks);
    if (refused) throw new MtaError('MTA_ERR_INVALID', `${redactUrl(url)} is refused: ${refused}`, 'url');
    let sender: string | null = null;
    if (input.sender !== undefined && input.sender !== null && input.sender !== '') {
      const a = typeof input.sender === 'string' ? canonicalAddress(input.sender) : undefined;
      if (!a) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(input.sender)} is not a valid address`, 'sender');
      if (!(await this.store.getSender(a))) throw new MtaError('MTA_ERR_NOT_FOUND', `${a} is not a sender address (see mta sender list)`, 'sender');
      sender = a;
    }
    const events = parseEvents(input.events);
    const format = parseFormat(input.format);
    const given = parseSecret(input.secret);
    const secret = given ?? randomBytes(24).toString('hex');
    const w = await this.store.addWebhook({ url, sender, events, format, secret, createdAt: Date.now() });
    return { webhook: webhookView(w), ...(given === undefined ? { secret } : {}) };
  }

  async list(): Promise<WebhookView[]> {
    return (await this.store.listWebhooks()).map(webhookView);
  }

  async get(id: unknown): Promise<WebhookView> {
    return webhookView(await this.record(id));
  }

  private async record(id: unknown): Promise<WebhookRecord> {
    const n = parseWebhookId(id);
    const w = await this.store.getWebhook(n);
    if (!w) throw new MtaError('MTA_ERR_NOT_FOUND', `no webhook ${n} (see mta webhook list)`, 'id');
    return w;
  }

  /** Removes a webhook; its undelivered events go with it. */
  async remove(id: unknown): Promise<{ id: number; dropped: number }> {
    const n = parseWebhookId(id);
    const r = await this.store.removeWebhook(n);
    if (!r.removed) throw new MtaError('MTA_ERR_NOT_FOUND', `no webhook ${n} (see mta webhook list)`, 'id');
    return { id: n, dropped: r.dropped };
  }

  /** Sends a signed `test` event now (outside the outbox) and logs the attempt. */
  async test(id: unknown): Promise<WebhookTestResult> {
    const w = await this.record(id);
    const r: PostResult = await postEvent(w, { event: 'test', webhook_id: w.id, time: formatTime(Date.now()) }, { timeoutMs: this.config().webhooks.timeoutMs, policy: this.config().webhooks });
    await this.store.recordWebhookAttempt({ webhookId: w.id, outboxId: null, event: 'test', at: r.at, status: r.status, error: r.error, durationMs: r.durationMs });
    return { id: w.id, url: redactUrl(w.url), ok: r.ok, status: r.status, error: r.error, duration_ms: r.durationMs };
  }

  /** The most recent attempts, newest first, of one webhook or all. */
  async log(filter: { id?: unknown; limit?: unknown } = {}): Promise<WebhookAttemptView[]> {
    let webhookId: number | undefined;
    if (filter.id !== undefined) webhookId = (await this.record(filter.id)).id;
    const limit = filter.limit === undefined ? 50 : Number(filter.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new MtaError('MTA_ERR_INVALID', 'limit must be a whole number from 1 to 10000', 'limit');
    return (await this.store.listWebhookAttempts({ ...(webhookId !== undefined ? { webhookId } : {}), limit })).map(attemptView);
  }
}
