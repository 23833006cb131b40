/**
 * cli/main — the `mta` command. Each subcommand lives in cli/commands/; this file only
 * composes them and turns errors into one line on stderr with a non-zero exit.
 */
import { Command, CommanderError } from 'commander';
import { isMtaError } from '../util/errors.js';
import { addExamples } from './examples.js';
import { ConfigError } from '../config/config.js';
import { buildInfo, isBinary } from '../util/assets.js';

/**
 * The top-level commands in the order `mta --help` lists them, each with the module that
 * builds it. A command is loaded when it runs: `mta domain list` loads cli/commands/domain
 * and what it imports, not the daemon, the console and every other command (every command
 * took 0.45 s when all were loaded, most of it loading modules). `--help`, `help` and a name
 * that is not a command load them all, so the listing and commander's suggestions are whole.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Command>])[] = [
  ['start', async () => (await import('./commands/start.js')).startCommand()],
  ['config', async () => (await import('./commands/config.js')).configCommand()],
  ['domain', async () => (await import('./commands/domain.js')).domainCommand()],
  ['sender', async () => (await import('./commands/sender.js')).senderCommand()],
  ['suppression', async () => (await import('./commands/suppression.js')).suppressionCommand()],
  ['queue', async () => (await import('./commands/queue.js')).queueCommand()],
  ['status', async () => (await import('./commands/status.js')).statusCommand()],
  ['doctor', async () => (await import('./commands/doctor.js')).doctorCommand()],
  ['webhook', async () => (await import('./commands/webhook.js')).webhookCommand()],
  ['stats', async () => (await import('./commands/stats.js')).statsCommand()],
  ['log', async () => (await import('./commands/log.js')).logCommand()],
  ['list', async () => (await import('./commands/list.js')).listCommand()],
  ['tag', async () => (await import('./commands/tag.js')).tagCommand()],
  ['template', async () => (await import('./commands/template.js')).templateCommand()],
  ['task', async () => (await import('./commands/task.js')).taskCommand()],
  ['egress', async () => (await import('./commands/egress.js')).egressCommand()],
  ['cluster', async () => (await import('./commands/cluster.js')).clusterCommand()],
  ['backup', async () => (await import('./commands/backup.js')).backupCommand()],
  ['storage', async () => (await import('./commands/storage.js')).storageCommand()],
  ['user', async () => (await import('./commands/user.js')).userCommand()],
  ['tracking', async () => (await import('./commands/tracking.js')).trackingCommand()],
];

/** The command `argv` runs (skipping the program's own options), or undefined. */
export function commandNameOf(argv: readonly string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') { i++; continue; }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

/** Which commands `argv` needs: its own when it names one, none for `--version` alone, else all. */
function commandsFor(argv: readonly string[]): readonly (readonly [string, () => Promise<Command>])[] {
  const name = commandNameOf(argv);
  const own = COMMANDS.filter(([n]) => n === name);
  if (own.length > 0) return own;
  if (name === undefined && argv.slice(2).some((a) => a === '-V' || a === '--version')) return [];
  return COMMANDS;
}

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

/** The program with the commands `argv` needs (all of them without `argv`). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('mta')
    .description('mta — self-hosted mail push service: SMTP submission, durable spool, DKIM, direct delivery')
    .version(versionLine(), '-V, --version', 'print the version and the commit it was built from')
    .option('-c, --config <file>', 'configuration file (default $MTA_CONFIG or /etc/mta/mta.toml; without either, development defaults)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (s, write) => write(`mta: ${s.replace(/^error: /, '')}`) });
  for (const c of await Promise.all(commandsFor(argv).map(([, load]) => load()))) program.addCommand(c);
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
  const program = await buildProgram(argv);
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
