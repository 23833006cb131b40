/**
 * bench/scenarios — the five workloads of issue 7. Each is fixed data: how many messages,
 * how big, to how many recipients and domains, which sink, and the few delivery settings
 * the scenario needs. Everything else is the product's defaults.
 */

export type ScenarioId = 'a' | 'b' | 'c' | 'd' | 'e';

export interface Scenario {
  id: ScenarioId;
  title: string;
  /** messages submitted (or, for e, queued before delivery starts) */
  messages: number;
  /** approximate size of each message, bytes */
  size: number;
  recipientsPerMessage: number;
  /** recipient domains, all served by the same sink host (one MX) */
  domains: number;
  sink: 'smtp-sink' | 'own-sink';
  /** shares of RCPT replies the own sink refuses: 4xx and 5xx */
  odds?: { temp: number; perm: number };
  /** extra [delivery] settings */
  delivery: string[];
  /** finished when: every message at the sink, or every recipient in a final state */
  done: 'sink-messages' | 'sink-recipients' | 'spool-final';
  /** queue sizes compared by scenario e */
  queued?: number[];
  postfix: boolean;
}

/**
 * Postfix sends to one relay host with up to 20 parallel connections
 * (default_destination_concurrency_limit); ours gets the same number toward the sink's
 * domain. Everything else stays at the defaults.
 */
const SAME_CONCURRENCY = 'max_connections_per_domain = 20';

/** Scenario (e)'s first retry and unreachable back-off. */
export const RETRY_E = '5s';

export const SCENARIOS: Record<ScenarioId, Scenario> = {
  a: {
    id: 'a', title: '2 KB messages, 1 recipient each, 20 sessions, DKIM RSA-2048, smtp-sink',
    messages: 10_000, size: 2048, recipientsPerMessage: 1, domains: 1, sink: 'smtp-sink',
    delivery: [SAME_CONCURRENCY], done: 'sink-messages', postfix: true,
  },
  b: {
    id: 'b', title: '100 KB messages, 1 recipient each, 20 sessions, DKIM RSA-2048, smtp-sink',
    messages: 2_000, size: 100 * 1024, recipientsPerMessage: 1, domains: 1, sink: 'smtp-sink',
    delivery: [SAME_CONCURRENCY], done: 'sink-messages', postfix: true,
  },
  c: {
    id: 'c', title: 'messages to 1,000 recipients over 50 domains (20 recipients per domain), 2 KB',
    messages: 20, size: 2048, recipientsPerMessage: 1000, domains: 50, sink: 'own-sink',
    delivery: [SAME_CONCURRENCY], done: 'sink-recipients', postfix: true,
  },
  d: {
    id: 'd', title: '2 KB messages; the sink refuses 10% of recipients with 4xx and 5% with 5xx (retries, bounces, DSNs)',
    messages: 10_000, size: 2048, recipientsPerMessage: 1, domains: 1, sink: 'own-sink', odds: { temp: 0.10, perm: 0.05 },
    // Retries within the run (Postfix gets the same: minimal_backoff_time 2s, maximal 5s).
    delivery: [SAME_CONCURRENCY, 'retry_schedule = ["2s", "5s"]', 'retry_jitter = 0'], done: 'spool-final', postfix: true,
  },
  e: {
    id: 'e', title: 'a queue built while the sink was down, then the sink comes up: drain time and peak RSS',
    messages: 200_000, size: 2048, recipientsPerMessage: 1, domains: 1, sink: 'smtp-sink',
    // The deferred mail is retried soon after the sink comes back (the default first retry is 5 minutes).
    delivery: [SAME_CONCURRENCY, `retry_schedule = ["${RETRY_E}"]`, 'retry_jitter = 0', `unreachable_backoff = "${RETRY_E}"`],
    done: 'sink-messages', queued: [20_000, 200_000], postfix: false,
  },
};

export const SINK_DOMAIN = 'sink.test';

/** Recipient j of message i. Every address is distinct, so a bounce never suppresses a later one. */
export function recipientsOf(s: Scenario, i: number): string[] {
  const out: string[] = [];
  for (let j = 0; j < s.recipientsPerMessage; j++) {
    const d = s.domains === 1 ? SINK_DOMAIN : `d${j % s.domains}.${SINK_DOMAIN}`;
    out.push(`u${i}-${j}@${d}`);
  }
  return out;
}

export function domainsOf(s: Scenario): string[] {
  return s.domains === 1 ? [SINK_DOMAIN] : Array.from({ length: s.domains }, (_, k) => `d${k}.${SINK_DOMAIN}`);
}
