/**
 * spool/sqlite-feedback — the SQLite side of `FeedbackStore`: a feedback report (ARF
 * complaint loop) recorded on the recipient it is about, in one transaction with what it
 * means: a history event, and what the rules (events/effects.ts `complaint`) make of it —
 * for a complaint a suppression scoped to the sender domain, the day's complaint counter
 * (statistics and the reputation's complaint rate) and a `complaint` webhook.
 *
 * Never touches a recipient's state: a complaint comes after delivery and is not a second
 * outcome. Idempotent: a second report of the same type for the same recipient writes
 * nothing.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { FeedbackRecord, FeedbackResult } from './types-feedback.js';
import type { QueueId } from '../util/ids.js';
import { FACTS_SELECT, toFacts, type FactsRow, type SqliteNotify } from './sqlite-notify.js';

export class SqliteFeedback {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      message: p('SELECT 1 FROM messages WHERE id = ?'),
      byId: p(`${FACTS_SELECT} WHERE r.message_id = ? AND r.id = ?`),
      byAddress: p(`${FACTS_SELECT} WHERE r.message_id = ? AND r.rcpt = ? COLLATE NOCASE ORDER BY r.id LIMIT 1`),
      rcptsOf: p(`${FACTS_SELECT} WHERE r.message_id = ? ORDER BY r.id LIMIT 2`),
      seen: p(`SELECT 1 FROM events WHERE recipient_id = ? AND type IN ('complaint', 'feedback') AND json_extract(detail, '$.feedback_type') = ? LIMIT 1`),
      suppressed: p('SELECT 1 FROM suppressions WHERE address = ? AND scope = ?'),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
      byMessageId: p(`SELECT id FROM messages WHERE message_id IN (?, '<' || ? || '>') ORDER BY received_at DESC LIMIT 2`),
    };
  }

  messagesByMessageId(messageId: string): QueueId[] {
    return (this.st['byMessageId']!.all(messageId, messageId) as { id: string }[]).map((r) => r.id as QueueId);
  }

  private recipient(f: FeedbackRecord): FactsRow | undefined {
    if (f.recipientId !== undefined) {
      const r = this.st['byId']!.get(f.queueId, f.recipientId) as FactsRow | undefined;
      if (r) return r;
    }
    for (const a of f.candidates) {
      const r = this.st['byAddress']!.get(f.queueId, a) as FactsRow | undefined;
      if (r) return r;
    }
    // Redacted or hashed addresses: the message still decides when it had one recipient.
    const all = this.st['rcptsOf']!.all(f.queueId) as FactsRow[];
    return all.length === 1 ? all[0] : undefined;
  }

  record(f: FeedbackRecord): FeedbackResult {
    const { rules, effects, directory } = this.notify;
    const result = this.db.transaction((): FeedbackResult => {
      if (!this.st['message']!.get(f.queueId)) return { kind: 'no-message' };
      const r = this.recipient(f);
      if (!r) return { kind: 'no-recipient' };
      const facts = toFacts(r);
      const recipientId = facts.recipientId;
      if (this.st['seen']!.get(r.id, f.feedbackType)) return { kind: 'duplicate', recipientId, rcpt: r.rcpt };
      const domain = r.sender.slice(r.sender.lastIndexOf('@') + 1).toLowerCase();
      const already = this.st['suppressed']!.get(r.rcpt.toLowerCase(), domain) !== undefined;
      const fx = rules.complaint(f, facts, already, directory);
      // What the rules decided, read back from their effects: a suppression means a complaint that suppresses.
      const suppressing = fx.some((e) => e.kind === 'suppress');
      const suppressed = suppressing && !already;
      this.st['insEvent']!.run(f.at, f.queueId, r.id, f.complaint ? 'complaint' : 'feedback', JSON.stringify({ ...f.detail, feedback_type: f.feedbackType, domain, suppressed }));
      effects.apply(fx);
      return { kind: 'recorded', recipientId, rcpt: r.rcpt, suppressed };
    }).immediate();
    if (result.kind === 'recorded') this.notify.signal();
    return result;
  }
}
