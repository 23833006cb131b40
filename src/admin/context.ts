/**
 * admin/context — what the admin API's routes are given by the daemon, and the small
 * schema pieces several route files share. Everything is read through functions so a
 * SIGHUP reload (new token, new limits) applies to the next request.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { DnsClient } from '../dns/client.js';
import type { QueueController } from './queue-ops.js';
import type { QuotaService } from '../quota/quota.js';
import type { EgressSelector } from '../delivery/egress.js';
import { buildInfo } from '../util/assets.js';

export interface AdminDeps {
  store: Store;
  /** the running scheduler, or undefined when delivery is disabled */
  scheduler: () => QueueController | undefined;
  /** the daemon's life-cycle state */
  state: () => string;
  /** the current configuration (it changes on SIGHUP: the token applies at once) */
  config: () => Config;
  log: Logger;
  /** the daemon's DNS client, for domain checks and records on demand */
  dns?: () => DnsClient | undefined;
  /** ports the SMTP listeners are bound to (0 for one that is not), for /healthz */
  smtpPorts?: () => number[];
  /** sending quotas and reputation (send API checks, `domain show`) */
  quota?: () => QuotaService | undefined;
  /** the delivery agent's egress selector (live counters), undefined when delivery is disabled */
  egress?: () => EgressSelector | undefined;
  /** settings changed by a reload that take effect only at the next restart (config/restart.ts) */
  pendingRestart?: () => string[];
  /** the clock of time-limited links (reply-to verification); tests inject one */
  now?: () => number;
}

/** What a route file builds its routes from. */
export interface ApiContext extends AdminDeps {
  startedAt: () => number;
}

export const VERSION: string = buildInfo().version;

/** ms since the epoch → ISO 8601; null stays null. */
export function iso(ms: number): string;
export function iso(ms: number | null | undefined): string | null;
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export const isoTime = z.string().describe('ISO 8601 time (UTC)');
export const deletedSchema = z.object({ deleted: z.literal(true) });
