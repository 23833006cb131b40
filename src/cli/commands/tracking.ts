/**
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
import { print, printJson } from '../output.js';

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
  return cmd;
}
