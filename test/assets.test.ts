// util/assets in the npm install (the single executable is tested by test/packaging/):
// the build info comes from dist/build-info.json or package.json, `mta --version` says so,
// better-sqlite3 keeps its own addon, and the binary's addon path follows $MTA_NATIVE_DIR.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInfo, isBinary, nativeAddonPath, sqliteBinding } from '../src/util/assets.js';
import { runMta } from './helpers/run.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const generated = join('dist', 'build-info.json');
const commit = existsSync(generated) ? (JSON.parse(readFileSync(generated, 'utf8')) as { commit: string }).commit : 'unknown';

t.test('the npm install reads its version and commit from beside the code', async (t) => {
  t.equal(isBinary(), false, 'not the single executable');
  t.same(buildInfo(), { version: pkg.version, commit }, `version ${pkg.version}, commit ${commit}`);
  const r = await runMta(['--version']);
  t.equal(r.code, 0);
  t.equal(r.out, `mta ${pkg.version} (commit ${commit})\n`, 'mta --version');
});

t.test('better-sqlite3 finds its own addon in the npm install', async (t) => {
  t.equal(sqliteBinding('/nonexistent'), undefined, 'no binding passed, nothing written');
  t.notOk(existsSync('/nonexistent'), 'and no directory made');
});

t.test('the binary keeps its addon in a versioned directory under the data dir or $MTA_NATIVE_DIR', async (t) => {
  const name = `${pkg.version}-dev`;
  t.equal(nativeAddonPath('/var/lib/mta', {}), `/var/lib/mta/native/${name}/better_sqlite3.node`, 'default: <data_dir>/native');
  t.equal(nativeAddonPath('/var/lib/mta', { MTA_NATIVE_DIR: '/opt/mta-native' }), `/opt/mta-native/${name}/better_sqlite3.node`, '$MTA_NATIVE_DIR wins');
  t.equal(nativeAddonPath('/var/lib/mta', { MTA_NATIVE_DIR: '' }), `/var/lib/mta/native/${name}/better_sqlite3.node`, 'an empty $MTA_NATIVE_DIR is unset');
});
