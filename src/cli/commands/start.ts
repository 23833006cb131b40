/** mta start — run the daemon in the foreground (systemd runs it this way). */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { Daemon } from '../../daemon/daemon.js';
import { DEV_SOURCE } from '../../config/config.js';

export function startCommand(): Command {
  return new Command('start').description('run the mail daemon in the foreground')
    .action(async (_o: unknown, c: Command) => {
      const daemon = new Daemon({ configPath: configPathOf(c) });
      if (daemon.config.source === DEV_SOURCE) {
        daemon.log.warn({ data_dir: daemon.config.dataDir, sink: daemon.config.delivery.sink },
          'no configuration file (--config, $MTA_CONFIG or /etc/mta/mta.toml): using the development defaults, loopback only, no TLS; nothing is sent, mail goes to the development sink');
      }
      daemon.installSignalHandlers();
      await daemon.start();
    });
}
