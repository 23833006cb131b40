/**
 * spool/sqlite-feedback — the SQLite side of `FeedbackStore`: a feedback report (ARF
 * complaint loop) recorded on the recipient it is about, in one transaction with what it
 * means (feedbackEffects): a history event, for a complaint also a suppression scoped to
 * the sender domain, the day's complaint counter (statistics and the reputation's
 * complaint rate) and a `complaint` webhook.
 *
 * Never touches a recipient's state: a complaint comes after delivery and is not a second
 * outcome. Idempotent: a second report of the same type for the same recipient writes
 * nothing.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { SqliteWebhooks } from './sqlite-webhooks.js';
import type { SqliteStats } from './sqlite-stats.js';
import type { FeedbackRecord, FeedbackResult } from './types-feedback.js';
import { asRecipientId, type QueueId } from '../util/ids.js';
import { formatTime, type ComplaintEventPayload } from '../events/payload.js';

interface RcptRow {
  id: number; rcpt: string; sender: string; auth_user: string | null; msg_id: string; tag: string | null; received_at: number; task_id: string | null;
}

const RCPT_SELECT = `SELECT r.id, r.rcpt, m.sender, m.auth_user, m.message_id AS msg_id, m.tag, m.received_at, m.task_id
                     FROM recipients r JOIN messages m ON m.id = r.message_id`;

/** What a report means, decided from the report alone (pure): the rule the transaction applies. */
export function feedbackEffects(f: Pick<FeedbackRecord, 'complaint'>, sender: string): { event: 'complaint' | 'feedback'; suppress: boolean; count: boolean; webhook: boolean } {
  // Our own DSNs (null sender) belong to nobody: no counters, no webhook, nothing to suppress for.
  const owned = sender !== '';
  return { event: f.complaint ? 'complaint' : 'feedback', suppress: f.complaint && owned, count: f.complaint && owned, webhook: f.complaint && owned };
}

export class SqliteFeedback {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db, private readonly hooks: SqliteWebhooks, private readonly stats: SqliteStats) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      message: p('SELECT 1 FROM messages WHERE id = ?'),
      byId: p(`${RCPT_SELECT} WHERE r.message_id = ? AND r.id = ?`),
      byAddress: p(`${RCPT_SELECT} WHERE r.message_id = ? AND r.rcpt = ? COLLATE NOCASE ORDER BY r.id LIMIT 1`),
      rcptsOf: p(`${RCPT_SELECT} WHERE r.message_id = ? ORDER BY r.id LIMIT 2`),
      seen: p(`SELECT 1 FROM events WHERE recipient_id = ? AND type IN ('complaint', 'feedback') AND json_extract(detail, '$.feedback_type') = ? LIMIT 1`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
      insSuppression: p(`INSERT OR IGNORE INTO suppressions (address, scope, reason, source, created_at) VALUES (?, ?, ?, 'complaint', ?)`),
      byMessageId: p(`SELECT id FROM messages WHERE message_id IN (?, '<' || ? || '>') ORDER BY received_at DESC LIMIT 2`),
    };
  }

  messagesByMessageId(messageId: string): QueueId[] {
    return (this.st['byMessageId']!.all(messageId, messageId) as { id: string }[]).map((r) => r.id as QueueId);
  }

  private recipient(f: FeedbackRecord): RcptRow | undefined {
    if (f.recipientId !== undefined) {
      const r = this.st['byId']!.get(f.queueId, f.recipientId) as RcptRow | undefined;
      if (r) return r;
    }
    for (const a of f.candidates) {
      const r = this.st['byAddress']!.get(f.queueId, a) as RcptRow | undefined;
      if (r) return r;
    }
    // Redacted or hashed addresses: the message still decides when it had one recipient.
    const all = this.st['rcptsOf']!.all(f.queueId) as RcptRow[];
    return all.length === 1 ? all[0] : undefined;
  }

  record(f: FeedbackRecord): FeedbackResult {
    let signal = false;
    const result = this.db.transaction((): FeedbackResult => {
      if (!this.st['message']!.get(f.queueId)) return { kind: 'no-message' };
      const r = this.recipient(f);
      if (!r) return { kind: 'no-recipient' };
      const recipientId = asRecipientId(r.id);
      if (this.st['seen']!.get(r.id, f.feedbackType)) return { kind: 'duplicate', recipientId, rcpt: r.rcpt };
      const fx = feedbackEffects(f, r.sender);
      const domain = r.sender.slice(r.sender.lastIndexOf('@') + 1).toLowerCase();
      let suppressed = false;
      if (fx.suppress) {
        const reason = `complaint (feedback-type ${f.feedbackType}${typeof f.detail['user_agent'] === 'string' ? ` from ${f.detail['user_agent']}` : ''})`.slice(0, 500);
        suppressed = this.st['insSuppression']!.run(r.rcpt.toLowerCase(), domain, reason, f.at).changes > 0;
      }
      this.st['insEvent']!.run(f.at, f.queueId, r.id, fx.event, JSON.stringify({ ...f.detail, feedback_type: f.feedbackType, domain, suppressed }));
      if (fx.count) this.stats.bump(this.stats.keyOf(r.sender, r.received_at, r.tag), 'complaints');
      if (fx.webhook) {
        const payload: ComplaintEventPayload = {
          event: 'complaint', env_id: f.queueId, msg_id: r.msg_id.replace(/^\s*<|>\s*$/g, ''), account: r.auth_user ?? r.sender, from: r.sender,
          rcpt: r.rcpt, domain, tag: r.tag, task_id: r.task_id, time: formatTime(f.at), feedback_type: f.feedbackType,
          user_agent: typeof f.detail['user_agent'] === 'string' ? f.detail['user_agent'] : null, suppressed,
        };
        this.hooks.enqueue('complaint', payload, r.sender, f.at);
        signal = true;
      }
      return { kind: 'recorded', recipientId, rcpt: r.rcpt, suppressed };
    }).immediate();
    if (signal) this.hooks.signal();
    return result;
  }
}
