/**
 * spool/pg-feedback — feedback reports (ARF complaint loops) on PostgreSQL (contract:
 * types-feedback.ts), answered as SQLite's (sqlite-feedback.ts): the report recorded on the
 * recipient it is about, in one transaction with a history event and what the rules
 * (events/effects.ts `complaint`) make of it, written through the effects port
 * (spool/pg-facts.ts); without one, recording refuses before writing. Never touches a
 * recipient's state; a second report of the same type for the same recipient writes
 * nothing (the recipient's row is locked while that is decided). It reads the suppression
 * port's table (the core step's schema) to tell the rules whether the address was there.
 */
import type { QueueId } from '../util/ids.js';
import { effectsOf, PG_FACTS_SELECT, toPgFacts, type PgEffectsPort, type PgFactsRow } from './pg-facts.js';
import { messageExists, recipientByAddress, recipientsOf } from './pg-inbound.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { FeedbackRecord, FeedbackResult, FeedbackStore } from './types-feedback.js';

export class PgFeedback implements FeedbackStore {
  constructor(private readonly pool: PgPool, private readonly effects?: PgEffectsPort) {}

  async messagesByMessageId(messageId: string): Promise<QueueId[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id FROM messages WHERE message_id IN ($1, '<' || $1 || '>') ORDER BY received_at DESC LIMIT 2`, [messageId]);
    return rows.map((r) => r.id as QueueId);
  }

  private async recipient(c: PgTx, f: FeedbackRecord): Promise<PgFactsRow | undefined> {
    if (f.recipientId !== undefined) {
      const { rows: [r] } = await c.query<PgFactsRow>(`${PG_FACTS_SELECT} WHERE r.message_id = $1 AND r.id = $2 FOR UPDATE OF r`, [f.queueId, f.recipientId]);
      if (r) return r;
    }
    for (const a of f.candidates) {
      const r = await recipientByAddress(c, f.queueId, a);
      if (r) return r;
    }
    // Redacted or hashed addresses: the message still decides when it had one recipient.
    const all = await recipientsOf(c, f.queueId);
    return all.length === 1 ? all[0] : undefined;
  }

  async recordFeedback(f: FeedbackRecord): Promise<FeedbackResult> {
    const port = effectsOf(this.effects, 'recording a feedback report');
    const result = await inTransaction(this.pool, async (c): Promise<FeedbackResult> => {
      if (!await messageExists(c, f.queueId)) return { kind: 'no-message' };
      const r = await this.recipient(c, f);
      if (!r) return { kind: 'no-recipient' };
      const facts = toPgFacts(r);
      const recipientId = facts.recipientId;
      const seen = await c.query(`SELECT 1 FROM events WHERE recipient_id = $1 AND type IN ('complaint', 'feedback') AND detail->>'feedback_type' = $2 LIMIT 1`, [r.id, f.feedbackType]);
      if (seen.rows.length) return { kind: 'duplicate', recipientId, rcpt: r.rcpt };
      const domain = r.sender.slice(r.sender.lastIndexOf('@') + 1).toLowerCase();
      const already = (await c.query('SELECT 1 FROM suppressions WHERE address = $1 AND scope = $2', [r.rcpt.toLowerCase(), domain])).rows.length > 0;
      const fx = port.rules.complaint(f, facts, already, await port.directory(c));
      // What the rules decided, read back from their effects: a suppression means a complaint that suppresses.
      const suppressed = fx.some((e) => e.kind === 'suppress') && !already;
      await c.query('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, $2, $3, $4, $5::jsonb)',
        [f.at, f.queueId, r.id, f.complaint ? 'complaint' : 'feedback', JSON.stringify({ ...f.detail, feedback_type: f.feedbackType, domain, suppressed })]);
      await port.apply(c, fx);
      return { kind: 'recorded', recipientId, rcpt: r.rcpt, suppressed };
    });
    if (result.kind === 'recorded') port.signal();
    return result;
  }
}
