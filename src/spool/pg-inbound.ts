/**
 * spool/pg-inbound — unsubscribes and asynchronous bounces on PostgreSQL (contract:
 * types-inbound.ts), answered as SQLite's (sqlite-inbound.ts). Each is one transaction
 * holding the suppression entry, the recipient's history event and what the rules make of
 * it (webhook outbox rows, counters), the latter written through the effects port
 * (spool/pg-facts.ts); without one, both refuse before writing. Neither touches a
 * recipient's state, and both are idempotent: an unsubscribe already on the list and a
 * second bounce for the same recipient write nothing (the recipient's row is locked while
 * that is decided, so two nodes receiving the same DSN record it once).
 *
 * The suppression entry goes into the suppression port's table (its schema is the core
 * step's), as SQLite's inbound writes its own.
 */
import { effectsOf, PG_FACTS_SELECT, toPgFacts, type PgEffectsPort, type PgFactsRow } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { AsyncBounce, AsyncBounceResult, InboundStore, UnsubscribeRequest, UnsubscribeResult } from './types-inbound.js';

/** The message's recipient with this address (case-insensitive), the first by id; its row locked. */
export async function recipientByAddress(c: PgTx, queueId: string, address: string): Promise<PgFactsRow | undefined> {
  const { rows: [r] } = await c.query<PgFactsRow>(`${PG_FACTS_SELECT} WHERE r.message_id = $1 AND lower(r.rcpt) = lower($2) ORDER BY r.id LIMIT 1 FOR UPDATE OF r`, [queueId, address]);
  return r;
}

/** The message's recipients, at most two (one decides; two mean nobody was named), their rows locked. */
export async function recipientsOf(c: PgTx, queueId: string): Promise<PgFactsRow[]> {
  return (await c.query<PgFactsRow>(`${PG_FACTS_SELECT} WHERE r.message_id = $1 ORDER BY r.id LIMIT 2 FOR UPDATE OF r`, [queueId])).rows;
}

export async function messageExists(c: PgTx, queueId: string): Promise<boolean> {
  return (await c.query('SELECT 1 FROM messages WHERE id = $1', [queueId])).rows.length > 0;
}

export class PgInbound implements InboundStore {
  constructor(private readonly pool: PgPool, private readonly effects?: PgEffectsPort) {}

  async recordUnsubscribe(u: UnsubscribeRequest): Promise<UnsubscribeResult> {
    const port = effectsOf(this.effects, 'recording an unsubscribe');
    const added = await inTransaction(this.pool, async (c) => {
      // The entry is the fact recorded: one already on the list means nothing else is written.
      const entry = port.rules.unsubscribeEntry(u);
      const ins = await c.query(`INSERT INTO suppressions (address, scope, reason, source, created_at) VALUES ($1, $2, $3, $4, $5)
                                 ON CONFLICT DO NOTHING`, [entry.address, entry.scope, entry.reason, entry.source, entry.createdAt]);
      if (ins.rowCount === 0) return false;
      const r = await recipientByAddress(c, u.queueId, u.address);
      if (r) {
        await c.query('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, $2, $3, $4, $5::jsonb)',
          [u.at, u.queueId, r.id, 'unsubscribe', JSON.stringify({ domain: entry.scope, method: u.method })]);
      }
      await port.apply(c, port.rules.unsubscribed(u, r && toPgFacts(r), await port.directory(c)));
      return true;
    });
    if (added) port.signal();
    return { added };
  }

  async recordAsyncBounce(b: AsyncBounce): Promise<AsyncBounceResult> {
    const port = effectsOf(this.effects, 'recording an asynchronous bounce');
    const result = await inTransaction(this.pool, async (c): Promise<AsyncBounceResult> => {
      if (!await messageExists(c, b.queueId)) return { kind: 'no-message' };
      let r = b.rcpt ? await recipientByAddress(c, b.queueId, b.rcpt) : undefined;
      if (!r) {
        // The DSN named nobody, or an address we never sent to (a forward): VERP still
        // names the message, so a message with a single recipient decides it.
        const all = await recipientsOf(c, b.queueId);
        if (all.length !== 1) return { kind: 'no-recipient' };
        r = all[0]!;
      }
      const f = toPgFacts(r);
      const recipientId = f.recipientId;
      if ((await c.query(`SELECT 1 FROM events WHERE recipient_id = $1 AND type = 'bounced' LIMIT 1`, [r.id])).rows.length) return { kind: 'duplicate', recipientId, rcpt: r.rcpt };
      await c.query('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, $2, $3, $4, $5::jsonb)', [b.at, b.queueId, r.id, 'bounced',
        JSON.stringify({ ...b.detail, reply: b.reply, status: b.status, category: b.category, suppressed: b.suppress })]);
      await port.apply(c, port.rules.asyncBounce(b, f, await port.directory(c)));
      return { kind: 'recorded', recipientId, rcpt: r.rcpt, suppressed: b.suppress };
    });
    if (result.kind === 'recorded') port.signal();
    return result;
  }
}
