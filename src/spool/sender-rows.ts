/**
 * spool/sender-rows — a senders row and a reply_to_sends row as records, and a reply-to
 * record as the row's columns, written once for both backends (SQLite gives 0/1 and
 * numbers, PostgreSQL booleans and BIGINT strings; both read the same here).
 */
import type { ReplyToRecord, ReplyToSend, SenderRecord } from './types-senders.js';

type Row = Record<string, unknown>;

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function rowToReplyTo(r: Row): ReplyToRecord | null {
  const address = r['reply_to'] as string | null;
  if (address === null || address === undefined) return null;
  if (r['reply_to_state'] === 'pending') {
    return { address, state: 'pending', nonce: String(r['reply_to_nonce']), sentAt: Number(r['reply_to_sent_at']), expiresAt: Number(r['reply_to_expires_at']) };
  }
  return { address, state: 'verified', verifiedAt: numOrNull(r['reply_to_verified_at']) };
}

export function rowToSender(r: Row): SenderRecord {
  return {
    address: r['address'] as string, domain: r['domain'] as string, type: r['type'] as SenderRecord['type'],
    replyTo: rowToReplyTo(r), passwordHash: r['password_hash'] as string | null,
    disabled: r['disabled'] === 1 || r['disabled'] === true, createdAt: Number(r['created_at']),
  };
}

export function rowToSend(r: Row): ReplyToSend {
  return {
    nonce: String(r['nonce']), sender: String(r['sender']), address: String(r['address']),
    sentAt: Number(r['sent_at']), expiresAt: Number(r['expires_at']), usedAt: numOrNull(r['used_at']),
  };
}

/** The reply-to columns of a senders row for `r` (all null when cleared). */
export function replyToColumns(r: ReplyToRecord | null): { replyTo: string | null; state: string | null; nonce: string | null; sentAt: number | null; expiresAt: number | null; verifiedAt: number | null } {
  return {
    replyTo: r?.address ?? null, state: r?.state ?? null,
    nonce: r?.state === 'pending' ? r.nonce : null, sentAt: r?.state === 'pending' ? r.sentAt : null,
    expiresAt: r?.state === 'pending' ? r.expiresAt : null, verifiedAt: r?.state === 'verified' ? r.verifiedAt : null,
  };
}
