/**
 * spool/types-egress — what egress selection (delivery/egress.ts) needs from the spool: the
 * daily counters per egress source and destination provider that drive warm-up caps and
 * show each source's reputation signals (deferral and block replies).
 */

/** One source's figures for one provider on one UTC day (recipients). */
export interface EgressCount {
  day: string;
  source: string;
  /** the shaping entry's name when one matches the destination, else the recipient domain */
  provider: string;
  /** recipients handed to a connection from this source (what the warm-up cap counts) */
  sent: number;
  /** 4xx replies */
  deferred: number;
  /** 5xx replies */
  blocked: number;
}

export interface EgressStore {
  /** Every counter row of `day`. */
  egressCounts(day: string): Promise<EgressCount[]>;
  /** Adds these deltas to the day's rows, in one transaction. */
  addEgressCounts(deltas: readonly EgressCount[]): Promise<void>;
}
