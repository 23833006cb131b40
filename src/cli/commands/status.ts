/**
 * mta status — is the daemon running, and how is it doing (GET /api/v1/status). Exit codes
 * follow LSB `status`: 0 running, 3 not running, 1 when something answered badly.
 */
import { Command, CommanderError } from 'commander';
import { configPathOf } from '../context.js';
import { print, printJson, table } from '../output.js';
import { callAdmin } from '../admin-client.js';
import { loadConfig } from '../../config/config.js';

export const EXIT_NOT_RUNNING = 3;

function duration(s: number): string {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

export function statusCommand(): Command {
  return new Command('status').description('show whether the daemon is running, its queue and delivery (exit 3 when not running)')
    .option('--json', 'print the API result as JSON')
    .action(async (o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      const s = await callAdmin(config, 'GET', '/api/v1/status');
      if (!s) {
        if (o.json) printJson({ state: 'not running' }); else print('not running');
        // main() turns a CommanderError into its exit code without printing anything more.
        throw new CommanderError(EXIT_NOT_RUNNING, 'mta.notRunning', 'not running');
      }
      if (o.json) return printJson(s);
      const n = s['counts'] as Record<string, number>;
      const pending = Array.isArray(s['pending_restart']) ? (s['pending_restart'] as string[]) : [];
      const delivery = s['delivery'] === 'enabled'
        ? `enabled (${String(s['ready'])} recipients in the ready set, ${String(s['active_connections'])} connections)`
        : 'disabled (delivery.enabled = false)';
      print(table([
        { k: 'state', v: s['state'] }, { k: 'version', v: s['version'] }, { k: 'pid', v: s['pid'] },
        { k: 'hostname', v: s['hostname'] }, { k: 'up', v: `${duration(Number(s['uptime_s']))} (since ${String(s['started_at'])})` },
        { k: 'delivery', v: delivery },
        { k: 'waiting', v: `queued ${n['queued']}, sending ${n['sending']}, deferred ${n['deferred']}, held ${n['held']}` },
        { k: 'done', v: `delivered ${n['delivered']}, failed ${n['failed']}, suppressed ${n['suppressed']}, expired ${n['expired']}` },
        ...(pending.length > 0 ? [{ k: 'restart needed', v: `${pending.join(', ')} changed in the file; they take effect at the next restart` }] : []),
      ], ['k', 'v'], ['FIELD', 'VALUE']));
    });
}
