/**
 * mta tracking show TASK — a task's opens and clicks (tracking/report.ts; from the daemon,
 * or from the spool when none runs).
 *
 * mta tracking rotate-key — a new key signs tracking links from now on
 * (<data_dir>/tracking.keys, tracking/keys.ts); the replaced keys keep verifying the links
 * in mail already sent for `tracking.key_overlap`, then are dropped. Runs on the data dir
 * directly (as `mta backup`); a running daemon signs with the new key after a reload
 * (SIGHUP) and its public endpoint accepts it at once (it reads the file again when a
 * token names a key it does not know).
 *
 * Must never: print a key.
 */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { loadConfig } from '../../config/config.js';
import { rotateTrackingKeys } from '../../tracking/keys.js';
import { print, printJson, table } from '../output.js';
import { callAdmin } from '../admin-client.js';
import { openStoreAsync } from '../../spool/index.js';
import { Tasks } from '../../tasks/tasks.js';
import { taskTracking, type TaskTrackingView } from '../../tracking/report.js';

export function trackingCommand(): Command {
  const cmd = new Command('tracking').description('open and click tracking: signing keys');
  cmd.addCommand(new Command('rotate-key')
    .description('sign tracking links with a new key; links signed with the old one keep working for tracking.key_overlap')
    .option('--json', 'print the keys kept and dropped as JSON')
    .action((o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      const { keys, dropped } = rotateTrackingKeys(config.dataDir, config.tracking.keyOverlapMs);
      const kept = keys.keys.map((k) => ({ id: k.id, created_at: new Date(k.createdAt).toISOString() }));
      if (o.json) return printJson({ current: keys.current.id, keys: kept, dropped });
      print(`new signing key ${keys.current.id}; ${kept.length - 1} older key(s) kept for the overlap${dropped.length ? `; dropped ${dropped.join(', ')}` : ''}`);
      print('reload the daemon (systemctl reload mta, or SIGHUP) so delivery signs with the new key');
    }));
  cmd.addCommand(new Command('show').argument('<task-id>', 'a batch task')
    .description('opens and clicks of a task\'s mail: raw and unique with rates, human / machine / scanner apart, clicks per link')
    .option('--json', 'print the figures as JSON')
    .action(async (id: string, o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      let v = await callAdmin(config, 'GET', `/api/v1/tasks/${encodeURIComponent(id)}/tracking`, undefined) as TaskTrackingView | undefined;
      if (!v) {
        const store = await openStoreAsync(config);
        try { v = await taskTracking(store, new Tasks(store, () => config), id); } finally { await store.close(); }
      }
      if (o.json) return printJson(v);
      const pct = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(2)}%`);
      print(`task ${v.task_id}: ${v.delivered} delivered${v.tracking ? '' : ' (tracking off)'}`);
      print(table((['human', 'machine', 'scanner'] as const).map((k) => ({ k, ...v[k], open_rate: pct(v[k].open_rate), click_rate: pct(v[k].click_rate) })),
        ['k', 'opens', 'unique_opens', 'open_rate', 'clicks', 'unique_clicks', 'click_rate'], ['CLASS', 'OPENS', 'UNIQUE OPENS', 'OPEN RATE', 'CLICKS', 'UNIQUE CLICKS', 'CLICK RATE']));
      if (v.links.length) print(table(v.links, ['link', 'class', 'clicks', 'unique_clicks', 'url'], ['LINK', 'CLASS', 'CLICKS', 'UNIQUE', 'URL']));
    }));
  return cmd;
}
