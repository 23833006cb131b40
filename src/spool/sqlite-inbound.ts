/**
 * spool/sqlite-inbound — the SQLite side of `InboundStore`: unsubscribes and asynchronous
 * bounces. Each is one transaction holding the suppression entry, the recipient's history
 * event and the webhook outbox rows, so a crash can never leave one without the others.
 *
 * Neither touches a recipient's state: an unsubscribe is about future mail, and a bounce
 * arriving after delivery does not give the recipient a second final outcome (SPEC §6);
 * both only append to its history. Both are idempotent: an unsubscribe already on the
 * list and a second bounce for the same recipient write nothing.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { SqliteWebhooks } from './sqlite-webhooks.js';
import type { AsyncBounce, AsyncBounceResult, UnsubscribeRequest, UnsubscribeResult } from './types-inbound.js';
import { asRecipientId } from '../util/ids.js';
import { formatTime, lateBouncePayload, type UnsubscribeEventPayload } from '../events/payload.js';
import type { LateBounceMessage } from './late-bounce.js';

interface RcptRow {
  id: number; rcpt: string; attempts: number; sender: string; auth_user: string | null; msg_id: string; tag: string | null; received_at: number;
  task_id: string | null;
}

const RCPT_SELECT = `SELECT r.id, r.rcpt, r.attempts, m.sender, m.auth_user, m.message_id AS msg_id, m.tag, m.received_at, m.task_id
                     FROM recipients r JOIN messages m ON m.id = r.message_id`;

export class SqliteInbound {
  private readonly st: Record<string, Statement>;
  /** Counts a late bounce (spool/late-bounce.ts), in the same transaction. */
  lateBounce: ((m: LateBounceMessage, status: number) => void) | undefined;

  constructor(private readonly db: Db, private readonly hooks: SqliteWebhooks) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      insSuppression: p(`INSERT OR IGNORE INTO suppressions (address, scope, reason, source, created_at) VALUES (?, ?, ?, ?, ?)`),
      rcptByAddress: p(`${RCPT_SELECT} WHERE r.message_id = ? AND r.rcpt = ? COLLATE NOCASE ORDER BY r.id LIMIT 1`),
      rcptsOf: p(`${RCPT_SELECT} WHERE r.message_id = ? ORDER BY r.id LIMIT 2`),
      message: p('SELECT 1 FROM messages WHERE id = ?'),
      bounced: p(`SELECT 1 FROM events WHERE recipient_id = ? AND type = 'bounced' LIMIT 1`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    };
  }

  unsubscribe(u: UnsubscribeRequest): UnsubscribeResult {
    const added = this.db.transaction((): boolean => {
      const scope = u.senderDomain.toLowerCase();
      const reason = `unsubscribed (${u.method})`;
      if (this.st['insSuppression']!.run(u.address, scope, reason, 'unsubscribe', u.at).changes === 0) return false;
      const r = this.st['rcptByAddress']!.get(u.queueId, u.address) as RcptRow | undefined;
      if (r) this.st['insEvent']!.run(u.at, u.queueId, r.id, 'unsubscribe', JSON.stringify({ domain: scope, method: u.method }));
      // Our own DSNs (null sender) belong to nobody: no event, as for every other outcome.
      if (r?.sender === '') return true;
      const payload: UnsubscribeEventPayload = {
        event: 'unsubscribe', env_id: u.queueId, msg_id: r ? r.msg_id.replace(/^\s*<|>\s*$/g, '') : null,
        account: r ? r.auth_user ?? r.sender : null, from: r?.sender ?? null, rcpt: r?.rcpt ?? u.address, domain: scope,
        tag: r?.tag ?? null, task_id: r?.task_id ?? null, time: formatTime(u.at), method: u.method,
      };
      // Without the message (purged) there is no sender to target: account-level webhooks hear it.
      this.hooks.enqueue('unsubscribe', payload, r ? r.sender : null, u.at);
      return true;
    }).immediate();
    if (added) this.hooks.signal();
    return { added };
  }

  asyncBounce(b: AsyncBounce): AsyncBounceResult {
    const result = this.db.transaction((): AsyncBounceResult => {
      if (!this.st['message']!.get(b.queueId)) return { kind: 'no-message' };
      let r = b.rcpt ? this.st['rcptByAddress']!.get(b.queueId, b.rcpt) as RcptRow | undefined : undefined;
      if (!r) {
        // The DSN named nobody, or an address we never sent to (a forward): VERP still
        // names the message, so a message with a single recipient decides it.
        const all = this.st['rcptsOf']!.all(b.queueId) as RcptRow[];
        if (all.length !== 1) return { kind: 'no-recipient' };
        r = all[0]!;
      }
      const recipientId = asRecipientId(r.id);
      if (this.st['bounced']!.get(r.id)) return { kind: 'duplicate', recipientId, rcpt: r.rcpt };
      this.st['insEvent']!.run(b.at, b.queueId, r.id, 'bounced', JSON.stringify({
        ...b.detail, reply: b.reply, status: b.status, category: b.category, suppressed: b.suppress,
      }));
      if (b.suppress) this.st['insSuppression']!.run(r.rcpt.toLowerCase(), '', b.reply.slice(0, 500), 'bounce', b.at);
      this.lateBounce?.({ sender: r.sender, receivedAt: r.received_at, tag: r.tag, taskId: r.task_id }, b.status);
      if (r.sender !== '') {
        this.hooks.enqueue('bounce', lateBouncePayload({
          event: 'bounce', queueId: b.queueId, messageId: r.msg_id, authUser: r.auth_user, sender: r.sender, rcpt: r.rcpt,
          receivedAt: r.received_at, at: b.at, reply: b.reply, status: b.status, category: b.category, attempts: r.attempts, tag: r.tag, taskId: r.task_id,
        }), r.sender, b.at);
      }
      return { kind: 'recorded', recipientId, rcpt: r.rcpt, suppressed: b.suppress };
    }).immediate();
    if (result.kind === 'recorded') this.hooks.signal();
    return result;
  }
}
