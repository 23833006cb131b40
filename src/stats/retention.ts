/**
 * stats/retention — the scheduled purge (node-cron, `retention.purge_schedule`, daily by
 * default): finished messages older than `retention.details` go with their events, as do
 * old webhook logs and domain events; daily counters older than `retention.statistics`.
 * Mail still waiting for delivery is never purged, however old. Runs one at a time.
 */
import type { Logger } from 'pino';
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/config.js';
import type { PurgeResult } from '../spool/types-stats.js';
import { StatsService, type StatsServiceStore } from './stats.js';
import { ALWAYS_LEAD, ifLeading, type JobGate } from '../util/cluster-jobs.js';

export class RetentionJob {
  private task: ScheduledTask | undefined;
  private running = false;
  private readonly stats: StatsService;
  /** whether this node runs the scheduled purge (one node of a cluster does: util/cluster-jobs.ts) */
  gate: JobGate = ALWAYS_LEAD;

  constructor(private config: Config, store: StatsServiceStore, private readonly log: Logger) {
    this.stats = new StatsService(store, config.timeZone);
  }

  reload(config: Config): void {
    const changed = config.retention.purgeSchedule !== this.config.retention.purgeSchedule;
    this.config = config;
    if (changed && this.task) { this.stop(); this.start(); }
  }

  /** Purges now; undefined when a purge is already running. */
  async run(now = Date.now()): Promise<PurgeResult | undefined> {
    if (this.running) return undefined;
    this.running = true;
    const started = Date.now();
    try {
      const r = await this.stats.purge(this.config.retention, now);
      this.log.info({ ...r, duration_ms: Date.now() - started }, 'retention purge done');
      return r;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'retention purge failed; the next run tries again');
      return undefined;
    } finally {
      this.running = false;
    }
  }

  start(): void {
    this.task = cron.schedule(this.config.retention.purgeSchedule, () => ifLeading(this.gate, 'retention-purge', () => this.run()), { name: 'retention-purge', noOverlap: true, unref: true });
  }

  stop(): void {
    void this.task?.destroy();
    this.task = undefined;
  }
}
