/**
 * spool/types-tlsrpt — what TLS reporting (RFC 8460, delivery/tls-rpt*.ts) needs from the
 * spool: session counts per policy domain and UTC day, and one report row per domain and
 * day that a node claims before sending, so a report goes out once even with several nodes.
 */

/** Sessions of one (domain, day, policy, result, host) counted together. */
export interface TlsRptCount {
  /** the policy domain (the recipient domain, A-labels) */
  domain: string;
  /** the UTC day, YYYY-MM-DD */
  day: string;
  /** the report's "policy" object, as JSON */
  policy: string;
  /** "success" or an RFC 8460 result-type ("certificate-not-trusted", ...) */
  result: string;
  mx: string;
  ip: string;
  count: number;
}

export interface TlsRptStore {
  /** Adds these counts (rows with the same key are summed). */
  addTlsRptCounts(rows: readonly TlsRptCount[]): Promise<void>;
  /** (domain, day) pairs with counts before `beforeDay` whose report was not sent, oldest first. */
  tlsRptPending(beforeDay: string, limit: number): Promise<{ domain: string; day: string }[]>;
  tlsRptCounts(domain: string, day: string): Promise<TlsRptCount[]>;
  /**
   * Claims the report of (domain, day) for `node`: true when no one holds it, or the claim
   * (of anyone, unsent) is older than `staleBefore`. A sent report is never claimed again.
   */
  claimTlsRptReport(domain: string, day: string, node: string, now: number, staleBefore: number): Promise<boolean>;
  /** The claimed report went out (sentAt) or failed (error; claimable again once stale). */
  finishTlsRptReport(domain: string, day: string, outcome: { sentAt: number } | { error: string }): Promise<void>;
  /** Forgets counts and report rows of days before `beforeDay` (sent or not); resolves with the rows removed. */
  pruneTlsRpt(beforeDay: string): Promise<number>;
}
