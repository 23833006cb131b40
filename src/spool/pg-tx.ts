/**
 * spool/pg-tx — one transaction on one pooled connection for the PostgreSQL ports: BEGIN,
 * the caller's statements, COMMIT (which returns only once the WAL is flushed:
 * synchronous_commit, spool/pg-pool.ts), ROLLBACK on any throw. Ports that write what
 * another port's transaction must include (effects, suppression, outbox rows) take the
 * `PgTx` of that transaction instead of the pool, so a fact never commits without them.
 * It must never commit after a throw, nor hand the connection back mid-transaction.
 */
import type pg from 'pg';
import type { PgPool } from './pg-pool.js';

/** A connection inside a transaction: what a port writes through when it is part of another's commit. */
export type PgTx = Pick<pg.PoolClient, 'query'>;

/** Work to run last in a transaction, just before its COMMIT, by transaction. */
const lastWrites = new WeakMap<PgTx, (() => Promise<void>)[]>();

/**
 * Runs `fn` at the end of the transaction `tx` (made by inTransaction), before COMMIT: for
 * writes that must come last and in one order across transactions (shared counter rows,
 * so two nodes' commits never wait on each other in a cycle).
 */
export function beforeCommit(tx: PgTx, fn: () => Promise<void>): void {
  const list = lastWrites.get(tx);
  if (!list) throw new Error('beforeCommit outside inTransaction');
  list.push(fn);
}

/** Runs `fn` in a transaction of its own; its result once committed. */
export async function inTransaction<T>(pool: PgPool, fn: (tx: PgTx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection whose ROLLBACK failed is in an unknown state: it is closed, not pooled.
  let broken: Error | undefined;
  // The server going away mid-transaction fails the statement; the client's 'error' event
  // must not also crash the process (checked-out clients have no pool listener).
  const onError = (e: Error): void => { broken = e; };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const last: (() => Promise<void>)[] = [];
    lastWrites.set(client, last);
    const out = await fn(client);
    for (let i = 0; i < last.length; i++) await last[i]!();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch((r: unknown) => { broken = r instanceof Error ? r : new Error(String(r)); });
    throw e;
  } finally {
    lastWrites.delete(client);
    client.removeListener('error', onError);
    client.release(broken);
  }
}
