/**
 * events/dispatcher — delivers the webhook outbox. It is woken by the spool right after a
 * commit that enqueued events (no polling) and by a timer for retries; it POSTs with at
 * most `webhooks.concurrency` requests in flight, each with `webhooks.timeout`. Mail
 * delivery never waits for it: the spool only writes outbox rows; this runs beside it.
 *
 * 2xx → delivered. Anything else → retried on `webhooks.retry_schedule` with the daemon's
 * one retry formula (util/backoff.ts: the last step repeats, each delay stretched by up to
 * `retry_jitter`), the last try placed at `max_age` after the event; a failure then makes the row `dead`.
 *
 * Durability: a claimed row only gets a lease, in this node's name (spool/types-leases.ts).
 * On stop, requests still running after a short grace are cut and their rows given back;
 * after a crash, start-up voids this node's leases (another node's run out by themselves,
 * `timeout` + 30 s after its claim). Either way the row is sent again: receivers may see an event twice (same
 * X-Mta-Delivery id), never zero times. Order between events is not guaranteed.
 *
 *   idle ─start─▶ running ─stop─▶ stopping ─▶ stopped
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { OutboxItem, OutboxNext, WebhookStore } from '../spool/types-webhooks.js';
import { postEvent } from './post.js';
import { redactUrl } from './webhooks.js';
import { metrics } from '../metrics/metrics.js';
import { retryAt } from '../util/backoff.js';
import { WakeLoop } from '../util/wake-loop.js';
import { Lifecycle, type ServiceState } from '../util/lifecycle.js';
import type { WebhookPayload } from './payload.js';

/** The dispatcher's life cycle is every service's (util/lifecycle.ts). */
export type DispatcherState = ServiceState;

/** Without a known due time the outbox is still looked at this often. */
const IDLE_LOOK_MS = 60_000;
/** How long requests in flight may finish on stop before they are cut. */
const STOP_GRACE_MS = 2_000;

export type RetryPolicy = Pick<Config['webhooks'], 'retryScheduleMs' | 'retryJitter' | 'maxAgeMs'>;

/** What happens to an outbox row after its `attempts`-th failed POST at `now`. */
export function afterFailure(attempts: number, now: number, createdAt: number, p: RetryPolicy, random: () => number = Math.random): OutboxNext {
  const next = retryAt(attempts, now, createdAt, { scheduleMs: p.retryScheduleMs, jitter: p.retryJitter, lifetimeMs: p.maxAgeMs }, random);
  return next === undefined ? { state: 'dead' } : { state: 'failed', nextAttemptAt: next };
}

export class WebhookDispatcher {
  private readonly life: Lifecycle;
  /** since start: for metrics and status */
  readonly counts = { delivered: 0, failed: 0, dead: 0 };
  private readonly inFlight = new Map<number, { abort: AbortController; done: Promise<void> }>();
  /** claims due rows when woken (an enqueue, a finished request) and by timer for retries */
  private readonly loop = new WakeLoop({
    pass: () => this.pump(),
    nextDelay: () => this.nextLook(),
    onError: (e) => { this.log.error({ err: (e as Error).message }, 'webhook outbox could not be read; trying again in 1s'); return 1000; },
  });
  private unsubscribe: (() => void) | undefined;

  constructor(private config: Config, private readonly store: WebhookStore, private readonly log: Logger, private readonly random: () => number = Math.random) {
    this.life = new Lifecycle('webhook dispatcher', log);
  }

  get state(): DispatcherState { return this.life.state; }

  get running(): number { return this.inFlight.size; }

  async start(): Promise<void> {
    const recovered = await this.store.recoverWebhookClaims();
    if (recovered > 0) this.log.warn({ events: recovered }, 'webhook events left in flight by an unclean stop are sent again');
    this.life.to('running');
    this.unsubscribe = this.store.onWebhookEnqueued(() => this.wake());
    this.loop.start();
  }

  reload(config: Config): void {
    this.config = config;
    this.wake();
  }

  /** Looks at the outbox soon (coalesced). */
  wake(): void {
    this.loop.wake();
  }

  private async pump(): Promise<void> {
    while (this.state === 'running' && this.inFlight.size < this.config.webhooks.concurrency) {
      const limit = this.config.webhooks.concurrency - this.inFlight.size;
      const items = await this.store.claimWebhookDue({ now: Date.now(), limit, leaseMs: this.config.webhooks.timeoutMs + 30_000 });
      for (const item of items) this.send(item);
      if (items.length < limit) break;
    }
  }

  /** The next unprompted look: the next retry's due time; none while full (a finishing request wakes us). */
  private async nextLook(): Promise<number | undefined> {
    if (this.inFlight.size >= this.config.webhooks.concurrency) return undefined;
    const next = await this.store.nextWebhookDueAt().catch(() => undefined);
    return next === undefined ? IDLE_LOOK_MS : Math.min(IDLE_LOOK_MS, next - Date.now());
  }

  private send(item: OutboxItem): void {
    const abort = new AbortController();
    const done = this.deliver(item, abort.signal)
      .catch((e: unknown) => this.log.error({ webhook_id: item.webhookId, outbox_id: item.id, err: (e as Error).message }, 'webhook attempt could not be recorded'))
      .finally(() => { this.inFlight.delete(item.id); this.wake(); });
    this.inFlight.set(item.id, { abort, done });
  }

  private async deliver(item: OutboxItem, signal: AbortSignal): Promise<void> {
    const r = await postEvent(item, item.payload as unknown as WebhookPayload, { timeoutMs: this.config.webhooks.timeoutMs, policy: this.config.webhooks, deliveryId: item.id, signal });
    if (r.aborted) { await this.store.releaseWebhookClaims([item.id]); return; }
    if (!r.ok) metrics.webhookFailures.inc();
    const attempts = item.attempts + 1;
    const next: OutboxNext = r.ok ? { state: 'delivered' } : afterFailure(attempts, r.at, item.createdAt, this.config.webhooks, this.random);
    await this.store.recordWebhookAttempt({
      webhookId: item.webhookId, outboxId: item.id, event: item.event, at: r.at, status: r.status, error: r.error, durationMs: r.durationMs,
    }, next);
    this.counts[next.state]++;
    const line = { webhook_id: item.webhookId, outbox_id: item.id, event: item.event, url: redactUrl(item.url), status: r.status, duration_ms: r.durationMs, attempt: attempts };
    if (next.state === 'delivered') this.log.debug(line, 'webhook delivered');
    else if (next.state === 'failed') this.log.warn({ ...line, error: r.error, next_attempt: new Date(next.nextAttemptAt).toISOString() }, 'webhook failed; will retry');
    else this.log.error({ ...line, error: r.error }, 'webhook given up: the event stayed undelivered for webhooks.max_age');
  }

  /** Stops claiming; requests in flight get a short grace, then are cut and given back. */
  async stop(): Promise<void> {
    if (!this.life.running) { if (this.life.state === 'idle') this.life.to('stopped'); return; }
    this.life.to('stopping');
    // Not awaited: requests in flight get their grace below; a claim in progress ends by itself.
    void this.loop.stop();
    this.unsubscribe?.();
    const all = (): Promise<unknown> => Promise.allSettled([...this.inFlight.values()].map((f) => f.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise((r) => { timer = setTimeout(r, STOP_GRACE_MS); })]);
    clearTimeout(timer);
    for (const f of this.inFlight.values()) f.abort.abort();
    await all();
    this.life.to('stopped');
  }
}
