/**
 * spool/sqlite-inbound — the SQLite side of `InboundStore`: unsubscribes and asynchronous
 * bounces. Each is one transaction holding the suppression entry, the recipient's history
 * event and the webhook outbox rows, so a crash can never leave one without the others.
 *
 * Neither touches a recipient's state: an unsubscribe is about future mail, and a bounce
 * arriving after delivery does not give the recipient a second final outcome (SPEC §6);
 * both only append to its history. Both are idempotent: an unsubscribe already on the
 * list and a second bounce for the same recipient write nothing.
 *
 * What an unsubscribe or a bounce means (the suppression entry, the payload, the webhooks)
 * is the rules' (events/effects.ts, injected through sqlite-notify.ts): this module finds
 * the recipient, keeps the idempotency and writes the history.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { AsyncBounce, AsyncBounceResult, UnsubscribeRequest, UnsubscribeResult } from './types-inbound.js';
import { FACTS_SELECT, toFacts, type FactsRow, type SqliteNotify } from './sqlite-notify.js';

export class SqliteInbound {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      insSuppression: p(`INSERT OR IGNORE INTO suppressions (address, scope, reason, source, created_at) VALUES (@address, @scope, @reason, @source, @createdAt)`),
      rcptByAddress: p(`${FACTS_SELECT} WHERE r.message_id = ? AND r.rcpt = ? COLLATE NOCASE ORDER BY r.id LIMIT 1`),
      rcptsOf: p(`${FACTS_SELECT} WHERE r.message_id = ? ORDER BY r.id LIMIT 2`),
      message: p('SELECT 1 FROM messages WHERE id = ?'),
      bounced: p(`SELECT 1 FROM events WHERE recipient_id = ? AND type = 'bounced' LIMIT 1`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    };
  }

  unsubscribe(u: UnsubscribeRequest): UnsubscribeResult {
    const { rules, effects, directory } = this.notify;
    const added = this.db.transaction((): boolean => {
      // The entry is the fact recorded: one already on the list means nothing else is written.
      const entry = rules.unsubscribeEntry(u);
      if (this.st['insSuppression']!.run(entry).changes === 0) return false;
      const r = this.st['rcptByAddress']!.get(u.queueId, u.address) as FactsRow | undefined;
      if (r) this.st['insEvent']!.run(u.at, u.queueId, r.id, 'unsubscribe', JSON.stringify({ domain: entry.scope, method: u.method }));
      effects.apply(rules.unsubscribed(u, r && toFacts(r), directory));
      return true;
    }).immediate();
    if (added) this.notify.signal();
    return { added };
  }

  asyncBounce(b: AsyncBounce): AsyncBounceResult {
    const result = this.db.transaction((): AsyncBounceResult => {
      if (!this.st['message']!.get(b.queueId)) return { kind: 'no-message' };
      let r = b.rcpt ? this.st['rcptByAddress']!.get(b.queueId, b.rcpt) as FactsRow | undefined : undefined;
      if (!r) {
        // The DSN named nobody, or an address we never sent to (a forward): VERP still
        // names the message, so a message with a single recipient decides it.
        const all = this.st['rcptsOf']!.all(b.queueId) as FactsRow[];
        if (all.length !== 1) return { kind: 'no-recipient' };
        r = all[0]!;
      }
      const f = toFacts(r);
      const recipientId = f.recipientId;
      if (this.st['bounced']!.get(r.id)) return { kind: 'duplicate', recipientId, rcpt: r.rcpt };
      this.st['insEvent']!.run(b.at, b.queueId, r.id, 'bounced', JSON.stringify({
        ...b.detail, reply: b.reply, status: b.status, category: b.category, suppressed: b.suppress,
      }));
      this.notify.effects.apply(this.notify.rules.asyncBounce(b, f, this.notify.directory));
      return { kind: 'recorded', recipientId, rcpt: r.rcpt, suppressed: b.suppress };
    }).immediate();
    if (result.kind === 'recorded') this.notify.signal();
    return result;
  }
}
