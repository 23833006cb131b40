/**
 * events/effects — the rules: what a recorded fact means for statistics, tasks, quotas,
 * the suppression list and webhooks. A fact (an outcome, an operator delete, a refusal at
 * submission, an unsubscribe, an asynchronous bounce, a domain event) plus what the
 * backend knows of its recipient becomes a list of effects (spool/types-effects.ts); the
 * backend writes them in the transaction that records the fact, so a crash never separates
 * them. It lives in events/ because it is the other half of payload.ts: the one event
 * union feeds webhooks and statistics from here.
 *
 *   delivered → delivered++, latency           failed, status 2 → invalid++   failed → failed++
 *   expired   → expired++                      failed, status 3 → also a spam bounce
 *   deleted (operator) → failed++, or cancelled++ for a cancelled task's recipient
 *   deferred  → deferred++ and an event for a recipient's first deferral only; after that
 *               an event at most once an hour per recipient (no counter)
 *   final outcomes of a task's recipient count on the task too
 *
 *   asynchronous bounce (after delivery) → late_bounces++ (late_invalid++ for status 2), on its task too; its own event
 *   open / click (tracking hit) → an `open` / `click` event, the recipient's first of its kind (or every one)
 *   complaint (feedback report, abuse) → complaints++, a suppression scoped to the sender domain, a `complaint` event
 *
 * Mail from the null sender (our own DSNs) is nobody's account: no counters, no events.
 * Webhook targeting (DirectMail's rule): the enabled sender-level webhooks of the message's
 * sender if there are any, else the enabled account-level ones; then each webhook's filter.
 * Events of no sender (domain events, an unsubscribe from a purged message) go to
 * account-level webhooks only.
 *
 * Must never: read or write storage, look at the clock, or keep state between calls: every
 * answer follows from the arguments (test/effects.test.ts has one row per rule).
 */
import type { RecipientOutcome } from '../spool/types-queue.js';
import type { SuppressionRecord } from '../spool/types-suppression.js';
import type {
  Effect, EffectRules, RecipientFacts, StatsCounter, StatsKey, TaskCounter, WebhookDirectory, WebhookTarget,
} from '../spool/types-effects.js';
import { assertNever } from '../util/errors.js';
import { dayIn } from '../util/time.js';
import {
  domainPayload, filterAccepts, formatTime, lateBouncePayload, messageFields, recipientPayload, unsubscribePayload, type ComplaintEventPayload, type DomainEventName,
  type RecipientEventName, type WebhookEventName, type WebhookPayload,
} from './payload.js';
import { lateBounceEffects } from '../stats/late-bounce.js';
import type { FeedbackRecord } from '../spool/types-feedback.js';

/** A recipient that keeps deferring is reported again after this long. */
export const DEFERRED_EVENT_INTERVAL_MS = 60 * 60 * 1000;

/** An asynchronous bounce's reply kept as the suppression reason, at most this long. */
const BOUNCE_REASON_MAX = 500;

/** Where a message's counts go. Senders are compared in lower case. */
export function statsKey(sender: string, receivedAt: number, tag: string | null, timeZone = 'UTC'): StatsKey {
  const s = sender.toLowerCase();
  return { day: dayIn(receivedAt, timeZone), domain: s.slice(s.lastIndexOf('@') + 1), sender: s, tag: tag ?? '' };
}

/** The recipient domain, as the queue keeps it (lower case). */
export function rcptDomainOf(rcpt: string): string { return rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase(); }

/** The webhooks that get an event of `sender` (null: account-level only). */
export function webhookTargets(hooks: readonly WebhookTarget[], event: WebhookEventName, sender: string | null): number[] {
  const s = sender?.toLowerCase();
  const own = s === undefined ? [] : hooks.filter((h) => h.sender !== null && h.sender.toLowerCase() === s);
  const chosen = own.length > 0 ? own : hooks.filter((h) => h.sender === null);
  return chosen.filter((h) => filterAccepts(h.events, event)).map((h) => h.id);
}

function outbox(hooks: WebhookDirectory, event: WebhookEventName, payload: WebhookPayload, sender: string | null, at: number): Effect[] {
  const webhookIds = webhookTargets(hooks(sender), event, sender);
  return webhookIds.length > 0 ? [{ kind: 'outbox', webhookIds, event, payload, at }] : [];
}

function counterOf(kind: Exclude<RecipientOutcome['kind'], 'deferred'>, status: unknown): StatsCounter {
  switch (kind) {
    case 'delivered': return 'delivered';
    case 'expired': return 'expired';
    case 'failed': return status === 2 ? 'invalid' : 'failed';
    default: return assertNever(kind, 'outcome kind');
  }
}

/** A task counts an expiry as a failure. */
function taskCounterOf(c: StatsCounter): TaskCounter {
  return c === 'delivered' ? 'delivered' : c === 'invalid' ? 'invalid' : 'failed';
}

function complaintPayload(c: FeedbackRecord, f: RecipientFacts, domain: string, agent: string | null, suppressed: boolean): ComplaintEventPayload {
  return {
    event: 'complaint', ...messageFields(f), domain, tag: f.tag, task_id: f.taskId, time: formatTime(c.at), feedback_type: c.feedbackType, user_agent: agent, suppressed,
  };
}

function isDomainEventName(t: string): t is DomainEventName {
  return t === 'domain.dns_error' || t === 'domain.verified' || t === 'domain.dkim_rotated' || t === 'quota.reached';
}

export function createRules(opts: { timeZone?: string | undefined } = {}): EffectRules {
  const tz = opts.timeZone ?? 'UTC';
  const keyOf = (f: { sender: string; receivedAt: number; tag: string | null }): StatsKey => statsKey(f.sender, f.receivedAt, f.tag, tz);
  /** One counter, per sender and per recipient domain. */
  const count = (key: StatsKey, f: RecipientFacts, counter: StatsCounter): Effect[] => [
    { kind: 'count', key, counter, n: 1 }, { kind: 'count-rcpt-domain', key, rcptDomain: f.rcptDomain, counter, n: 1 },
  ];
  const event = (name: RecipientEventName, f: RecipientFacts, at: number, reply: string, detail: { status: unknown; category: unknown; source?: unknown }, hooks: WebhookDirectory): Effect[] =>
    outbox(hooks, name, recipientPayload({
      event: name, queueId: f.queueId, messageId: f.messageId, authUser: f.authUser, sender: f.sender, rcpt: f.rcpt,
      receivedAt: f.receivedAt, at, reply, status: detail.status, category: detail.category, attempts: f.attempts, tag: f.tag, taskId: f.taskId,
      source: detail.source,
    }), f.sender, at);

  return {
    accepted(m) {
      if (m.sender === '') return [];
      const key = keyOf(m);
      const perDomain = new Map<string, number>();
      for (const r of m.recipients) { const d = rcptDomainOf(r); perDomain.set(d, (perDomain.get(d) ?? 0) + 1); }
      return [
        ...(m.recipients.length > 0 ? [{ kind: 'count', key, counter: 'requests', n: m.recipients.length } as const] : []),
        ...[...perDomain].map(([rcptDomain, n]): Effect => ({ kind: 'count-rcpt-domain', key, rcptDomain, counter: 'requests', n })),
      ];
    },

    outcome(o, f, hooks) {
      // The suppression was decided with the outcome (delivery/classify.ts), whoever sent the mail.
      const out: Effect[] = o.suppress ? [{ kind: 'suppress', entry: { address: o.suppress.address, scope: '', reason: o.suppress.reason, source: 'bounce', createdAt: o.at } }] : [];
      if (!f || f.sender === '') return out;
      const key = keyOf(f);
      const detail = { status: o.detail['status'], category: o.detail['category'], source: o.detail['source'] };
      if (o.kind === 'deferred') {
        const first = f.deferredEventAt === null;
        if (first) out.push(...count(key, f, 'deferred'));
        if (!first && o.at - f.deferredEventAt! < DEFERRED_EVENT_INTERVAL_MS) return out;
        out.push({ kind: 'deferral-reported', recipientId: f.recipientId, at: o.at });
        return [...out, ...event('deferred', f, o.at, o.reply, detail, hooks)];
      }
      const counter = counterOf(o.kind, detail.status);
      out.push(...count(key, f, counter));
      if (o.kind === 'delivered') out.push({ kind: 'latency', key, rcptDomain: f.rcptDomain, ms: o.at - f.receivedAt });
      else out.push({ kind: 'failure-category', key, rcptDomain: f.rcptDomain, category: o.kind === 'expired' ? 'expired' : String(detail.category ?? 'other') });
      if (f.taskId) out.push({ kind: 'task-count', taskId: f.taskId, counter: taskCounterOf(counter) });
      if (o.kind === 'failed' && detail.status === 3) out.push({ kind: 'spam-bounce', key });
      return [...out, ...event(o.kind, f, o.at, o.reply, detail, hooks)];
    },

    deleted(f, at, reply, hooks) {
      if (f.sender === '') return [];
      const key = keyOf(f);
      // A cancelled task's waiting recipients were not failed deliveries: counted apart (delivery rates leave them out).
      const out = count(key, f, f.taskCancelled ? 'cancelled' : 'failed');
      if (!f.taskCancelled) out.push({ kind: 'failure-category', key, rcptDomain: f.rcptDomain, category: 'deleted' });
      if (f.taskId) out.push({ kind: 'task-count', taskId: f.taskId, counter: 'failed' });
      return [...out, ...event('deleted', f, at, reply, { status: 4, category: 'deleted' }, hooks)];
    },

    refused(r, hooks) {
      // No message was created: env_id and msg_id are empty, no counters.
      return outbox(hooks, 'rejected', recipientPayload({
        event: 'rejected', queueId: '', messageId: '', authUser: r.authUser, sender: r.sender, rcpt: r.rcpt,
        receivedAt: r.at, at: r.at, reply: r.reply, status: 2, category: 'suppressed', attempts: 0, tag: null, taskId: null,
      }), r.sender, r.at);
    },

    domainEvent(e, hooks) {
      if (!isDomainEventName(e.type)) return [];
      return outbox(hooks, e.type, domainPayload({ type: e.type, domain: e.domain, at: e.at, detail: e.detail }), null, e.at);
    },

    unsubscribeEntry(u): SuppressionRecord {
      return { address: u.address, scope: u.senderDomain.toLowerCase(), reason: `unsubscribed (${u.method})`, source: 'unsubscribe', createdAt: u.at };
    },

    unsubscribed(u, f, hooks) {
      // Our own DSNs (null sender) belong to nobody: no event, as for every other outcome.
      if (f?.sender === '') return [];
      const payload = unsubscribePayload({
        queueId: u.queueId, address: u.address, domain: u.senderDomain.toLowerCase(), at: u.at, method: u.method,
        message: f && { messageId: f.messageId, authUser: f.authUser, sender: f.sender, rcpt: f.rcpt, tag: f.tag, taskId: f.taskId },
      });
      // Without the message (purged) there is no sender to target: account-level webhooks hear it.
      return outbox(hooks, 'unsubscribe', payload, f ? f.sender : null, u.at);
    },

    asyncBounce(b, f, hooks) {
      const out: Effect[] = b.suppress
        ? [{ kind: 'suppress', entry: { address: f.rcpt.toLowerCase(), scope: '', reason: b.reply.slice(0, BOUNCE_REASON_MAX), source: 'bounce', createdAt: b.at } }] : [];
      if (f.sender === '') return out;
      // Never a second outcome (stats/late-bounce.ts): counted apart, and its event has no `status`.
      const late = lateBounceEffects(b.status, f.sender, f.taskId);
      const key = keyOf(f);
      return [
        ...out,
        ...late.counters.map((counter): Effect => ({ kind: 'count', key, counter, n: 1 })),
        ...(late.task && f.taskId !== null ? [{ kind: 'task-count', taskId: f.taskId, counter: 'bounced_after_delivery' } as const] : []),
        ...outbox(hooks, 'bounce', lateBouncePayload({
          event: 'bounce', queueId: f.queueId, messageId: f.messageId, authUser: f.authUser, sender: f.sender, rcpt: f.rcpt,
          receivedAt: f.receivedAt, at: b.at, reply: b.reply, status: b.status, category: b.category, attempts: f.attempts, tag: f.tag, taskId: f.taskId,
        }), f.sender, b.at),
      ];
    },

    complaint(c, f, alreadySuppressed, hooks) {
      // Only abuse reports are complaints; our own DSNs (null sender) belong to nobody.
      if (!c.complaint || f.sender === '') return [];
      const domain = f.sender.slice(f.sender.lastIndexOf('@') + 1).toLowerCase();
      const agent = typeof c.detail['user_agent'] === 'string' ? c.detail['user_agent'] : null;
      const reason = `complaint (feedback-type ${c.feedbackType}${agent !== null ? ` from ${agent}` : ''})`.slice(0, BOUNCE_REASON_MAX);
      return [
        { kind: 'suppress', entry: { address: f.rcpt.toLowerCase(), scope: domain, reason, source: 'complaint', createdAt: c.at } },
        { kind: 'count', key: keyOf(f), counter: 'complaints', n: 1 },
        ...outbox(hooks, 'complaint', complaintPayload(c, f, domain, agent, !alreadySuppressed), f.sender, c.at),
      ];
    },

    trackingHit(h, f, first, hooks) {
      // First hit of its kind per recipient by default, every hit when asked; nobody to name once purged or for our own DSNs.
      if (!f || f.sender === '' || !(h.notify === 'every' || (h.notify === 'first' && first))) return [];
      return outbox(hooks, h.kind, {
        event: h.kind, ...messageFields({ ...f, queueId: h.queueId }), tag: f.tag, task_id: f.taskId, time: formatTime(h.at), class: h.class, reason: h.reason, url: h.url ?? null, ip: h.ip, user_agent: h.userAgent, first,
      }, f.sender, h.at);
    },

    holdBackUntil(next) {
      // One dead endpoint costs one timeout per retry, not one per waiting event.
      return next.state === 'failed' ? next.nextAttemptAt : undefined;
    },
  };
}
