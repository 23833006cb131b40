/**
 * spool/claims — what one store remembers of the claims it handed out: the token of each
 * claimed row. The row carries the claiming node and the same token, and a write that ends
 * a claim (outcome, hand-back, webhook attempt) is guarded by both: if the lease ran out
 * and another node (or another store of this node) claimed the row since, node or token no
 * longer match and the late write changes nothing. The token is the store's latest claim of
 * the row, not the attempt's: if this store claims a row again after losing it, the late
 * write of the old attempt counts and the new attempt's finds the row final (one final
 * outcome either way).
 *
 * Tokens are per claim call, start at a random value (two stores of one node in one
 * process do not share a counter) and only grow. This must stay in memory only: a
 * restarted node's claims are recovered, not resumed.
 */
import { randomInt } from 'node:crypto';

export class ClaimTokens {
  private next = randomInt(1, 2 ** 40);
  private readonly held = new Map<number, number>();

  constructor(readonly nodeId: string) {}

  /** A token for one claim call; `hold` each row it took. */
  issue(): number { return this.next++; }
  hold(id: number, token: number): void { this.held.set(id, token); }

  /** The token this store holds `id` under; -1 if none (a guard with it matches nothing). */
  tokenOf(id: number): number { return this.held.get(id) ?? -1; }

  /**
   * Forgets claims that ended: called after the commit that ended them, never inside it, so
   * a rolled-back outcome leaves the claim held (the hand-back that follows still matches).
   */
  forget(ids: Iterable<number>): void { for (const id of ids) this.held.delete(id); }

  get size(): number { return this.held.size; }
}
