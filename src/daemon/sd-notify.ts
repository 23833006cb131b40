/**
 * daemon/sd-notify — tells systemd (Type=notify) that start-up has finished: every listener
 * is bound and the daemon is running. Without a native module the only way is the
 * `systemd-notify` helper; it runs only when systemd asked for it (NOTIFY_SOCKET is set),
 * and the unit says NotifyAccess=all because the message comes from that child process.
 *
 * Must never: block or fail start-up: a helper that is missing or fails is logged, and
 * systemd's own start timeout reports the rest.
 */
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';

export function notifyReady(log: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (!env['NOTIFY_SOCKET']) return;
  // --pid names us as the main process, which systemd-notify itself is not.
  const args = ['--ready', `--pid=${process.pid}`];
  const child = spawn('systemd-notify', args, { stdio: 'ignore', env });
  child.on('error', (e) => log.warn({ err: e.message }, 'cannot run systemd-notify; systemd will not hear that the daemon is ready'));
  child.on('exit', (code) => { if (code !== 0 && code !== null) log.warn({ exit_code: code }, 'systemd-notify --ready failed'); });
}
