/** mta config check — validate a configuration file without starting anything. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { configPathOf } from '../context.js';
import { ConfigError, DEV_SOURCE, DEVELOPMENT_TOML, loadConfig } from '../../config/config.js';
import { configProblems, configWarnings } from '../../config/checks.js';
import { print } from '../output.js';

export function configCommand(): Command {
  const cmd = new Command('config').description('configuration file tools');
  cmd.command('check').description('validate the configuration as `mta start` would: prints "ok" or every problem with its key and line (exit 78; 66 when the file cannot be read); warnings go to stderr')
    .action((_o: unknown, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      const text = config.source === DEV_SOURCE ? DEVELOPMENT_TOML : readFileSync(config.source, 'utf8');
      const warnings = configWarnings(config, text);
      for (const w of warnings) process.stderr.write(`${config.source}: warning: ${w}\n`);
      const problems = configProblems(config);
      if (problems.length > 0) throw new ConfigError(config.source, problems);
      print(`ok (${config.source})${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length > 1 ? 's' : ''}` : ''}`);
    });
  return cmd;
}
