/**
 * cli/main — the `mta` command. Each subcommand lives in cli/commands/; this file only
 * composes them and turns errors into one line on stderr with a non-zero exit.
 */
import { Command, CommanderError } from 'commander';
import { domainCommand } from './commands/domain.js';
import { senderCommand } from './commands/sender.js';
import { userCommand } from './commands/user.js';
import { suppressionCommand } from './commands/suppression.js';
import { queueCommand } from './commands/queue.js';
import { startCommand } from './commands/start.js';
import { configCommand } from './commands/config.js';
import { statusCommand } from './commands/status.js';
import { doctorCommand } from './commands/doctor.js';
import { webhookCommand } from './commands/webhook.js';
import { statsCommand } from './commands/stats.js';
import { logCommand } from './commands/log.js';
import { listCommand } from './commands/list.js';
import { tagCommand } from './commands/tag.js';
import { templateCommand } from './commands/template.js';
import { taskCommand } from './commands/task.js';
import { egressCommand } from './commands/egress.js';
import { clusterCommand } from './commands/cluster.js';
import { backupCommand } from './commands/backup.js';
import { storageCommand } from './commands/storage.js';
import { trackingCommand } from './commands/tracking.js';
import { isMtaError } from '../util/errors.js';
import { addExamples } from './examples.js';
import { ConfigError } from '../config/config.js';
import { buildInfo, isBinary } from '../util/assets.js';

function addConfigOption(cmd: Command): void {
  for (const sub of cmd.commands) {
    if (!sub.options.some((o) => o.long === '--config')) sub.option('-c, --config <file>', 'configuration file (default $MTA_CONFIG or /etc/mta/mta.toml)');
    addConfigOption(sub);
  }
}

/**
 * addCommand (unlike .command()) does not pass settings down: every subcommand gets the
 * program's exit override, `mta:` error prefix and usage hint, so `mta list add` with a
 * missing argument says `mta: …` like every other error.
 */
function inheritSettings(cmd: Command): void {
  for (const sub of cmd.commands) { sub.copyInheritedSettings(cmd); inheritSettings(sub); }
}

/** `mta --version`: "mta 0.1.0 (commit 0123456789ab)", and which of the two installs runs. */
export function versionLine(): string {
  const b = buildInfo();
  return `mta ${b.version} (commit ${b.commit}${isBinary() ? ', single executable' : ''})`;
}

export function buildProgram(): Command {
  const program = new Command('mta')
    .description('mta — self-hosted mail push service: SMTP submission, durable spool, DKIM, direct delivery')
    .version(versionLine(), '-V, --version', 'print the version and the commit it was built from')
    .option('-c, --config <file>', 'configuration file (default $MTA_CONFIG or /etc/mta/mta.toml; without either, development defaults)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (s, write) => write(`mta: ${s.replace(/^error: /, '')}`) });
  for (const c of [startCommand(), configCommand(), domainCommand(), senderCommand(), suppressionCommand(), queueCommand(), statusCommand(), doctorCommand()]) program.addCommand(c);
  for (const c of [webhookCommand(), statsCommand(), logCommand()]) program.addCommand(c);
  program.addCommand(listCommand());
  for (const c of [tagCommand(), templateCommand()]) program.addCommand(c);
  program.addCommand(taskCommand());
  program.addCommand(egressCommand());
  program.addCommand(clusterCommand());
  program.addCommand(backupCommand());
  program.addCommand(storageCommand());
  program.addCommand(userCommand());
  program.addCommand(trackingCommand());
  addConfigOption(program);
  addExamples(program);
  program.exitOverride();
  inheritSettings(program);
  return program;
}

/** sysexits.h: the configuration file is missing or unreadable / it is not valid (README "CLI"). */
export const EX_NOINPUT = 66;
export const EX_CONFIG = 78;

export async function main(argv: string[]): Promise<number> {
  // Whatever the caller's umask (022 in a login shell): every file mta creates (spool,
  // -wal/-shm, keys, admin.json, uploads, backups) is for its own user only.
  process.umask(0o077);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return EX_CONFIG; }
    if (isMtaError(e)) {
      process.stderr.write(`mta: ${e.message} (${e.code})\n`);
      // A certificate the listener cannot load is a configuration error too (submission/listener.ts).
      return e.code === 'MTA_ERR_CONFIG_READ' ? EX_NOINPUT : e.code === 'MTA_ERR_CONFIG' ? EX_CONFIG : 1;
    }
    process.stderr.write(`mta: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * The entry point of both installs (bin/mta and the single executable's bundle): runs the
 * command and sets the exit code. `mta start` keeps running, so only a command that
 * finished (or a start that failed) sets it.
 */
export async function run(argv: string[]): Promise<void> {
  // `mta ... | head`: the reader went away, which is no error of ours (as for any Unix tool);
  // without this the write's EPIPE is an unhandled 'error' event and a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const code = await main(argv);
  if (argv[2] !== 'start' || code !== 0) process.exitCode = code;
}
