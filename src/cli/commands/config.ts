/** mta config check — validate a configuration file without starting anything. */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { loadConfig } from '../../config/config.js';
import { print } from '../output.js';

export function configCommand(): Command {
  const cmd = new Command('config').description('configuration file tools');
  cmd.command('check').description('validate the configuration; prints "ok" or every problem with its key and line')
    .action((_o: unknown, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      print(`ok (${config.source})`);
    });
  return cmd;
}
