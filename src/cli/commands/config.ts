/** mta config check — validate a configuration file without starting anything. */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { configWarnings, formatProblem, loadConfig } from '../../config/config.js';
import { print } from '../output.js';

export function configCommand(): Command {
  const cmd = new Command('config').description('configuration file tools');
  cmd.command('check').description('validate the configuration; prints "ok" or every problem with its key and line, and warnings on stderr')
    .action((_o: unknown, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      // Warnings go to stderr: the file is valid (exit 0, "ok" on stdout) but would not work as meant.
      for (const w of configWarnings(config)) process.stderr.write(`warning: ${formatProblem(config.source, w)}\n`);
      print(`ok (${config.source})`);
    });
  return cmd;
}
