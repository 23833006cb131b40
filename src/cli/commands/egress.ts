/**
 * mta egress status — each egress source of this node: address, HELO name, pools, warm-up
 * day and today's cap, sent, and the reputation signals (deferral and block replies), in
 * total and per destination provider. From the running daemon (GET /api/v1/egress, live
 * counters), else from the spool as the last run left it.
 *
 *   SOURCE  ADDRESS    HELO           POOLS  DAY  CAP  SENT  DEFERRED  BLOCKED
 *   ip2     127.0.0.2  s2.example.com main   3    400  212   4         0
 *     gmail                                       400  200   4         0
 */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { print, printJson, table, type Row } from '../output.js';
import { callAdmin } from '../admin-client.js';
import { loadConfig } from '../../config/config.js';
import { openStoreAsync } from '../../spool/index.js';
import { EgressSelector, type EgressSourceStatus } from '../../delivery/egress.js';
import { createLogger } from '../../util/log.js';

const COLUMNS = ['name', 'address', 'helo', 'pools', 'day', 'cap', 'sent', 'deferred', 'blocked'];
const dash = (v: unknown): unknown => (v === null || v === undefined ? '-' : v);

export function egressCommand(): Command {
  const cmd = new Command('egress').description('egress sources: the addresses mail leaves from');
  cmd.command('status').description('each source: warm-up day and cap, sent, deferral and block replies per destination provider today (UTC)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      let status = (await callAdmin(config, 'GET', '/api/v1/egress')) as { day: string; node: string; sources: EgressSourceStatus[] } | undefined;
      if (!status) {
        const store = await openStoreAsync(config);
        try {
          status = await new EgressSelector(config, store, createLogger('silent')).status();
        } finally {
          await store.close();
        }
      }
      if (o.json) return printJson(status);
      if (status.sources.length === 0) return print('no egress sources on this node (the kernel picks the address)');
      const rows: Row[] = [];
      for (const s of status.sources) {
        rows.push({ ...s, pools: s.pools.join(',') || '-', day: dash(s.warmup_day), cap: dash(s.cap) });
        for (const p of s.providers) rows.push({ name: `  ${p.provider}`, address: '', helo: '', pools: '', day: '', cap: dash(p.cap), sent: p.sent, deferred: p.deferred, blocked: p.blocked });
      }
      print(`${status.day} (UTC), node ${status.node}\n${table(rows, COLUMNS, ['SOURCE', 'ADDRESS', 'HELO', 'POOLS', 'DAY', 'CAP', 'SENT', 'DEFERRED', 'BLOCKED'])}`);
    });
  return cmd;
}
