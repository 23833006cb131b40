// A daemon killed in the middle of a list upload leaves `<data_dir>/tmp/list-upload-*`
// behind; the next start removes those files (and only those) before the admin API opens.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { Daemon } from '../src/daemon/daemon.js';
import { createLogger } from '../src/util/log.js';
import { sweepUploads } from '../src/admin/list-upload.js';

t.test('start-up removes the temporary files of uploads cut short', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  await d.daemon.stop();
  const tmp = join(d.dir, 'data', 'tmp');
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'list-upload-6f1c0a52'), 'a@example.com\n');
  writeFileSync(join(tmp, 'list-upload-8d2e.csv'), 'EAddr\nb@example.com\n');
  writeFileSync(join(tmp, 'keep-me.txt'), 'not ours');

  const again = new Daemon({ configPath: d.configPath, config: d.daemon.config, logger: createLogger('silent') });
  await again.start();
  t.teardown(() => again.stop());
  t.same(readdirSync(tmp), ['keep-me.txt'], 'both upload leftovers removed, the other file kept');
  t.equal(again.state, 'running');
});

t.test('sweepUploads: a missing directory is nothing to sweep', async (t) => {
  const missing = join(t.testdirName, 'no-such-dir');
  t.equal(existsSync(missing), false);
  t.equal(await sweepUploads(missing), 0);
});
