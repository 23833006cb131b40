// What bounds the daemon's memory (bench/RESULTS.md, "Memory"): its worker threads start
// with small young generations and a heap ceiling, every spool connection has a 4 MB page
// cache, and the systemd unit's NODE_OPTIONS are ones node accepts and that bound the main
// heap; the benchmark starts the daemon with exactly the unit's settings.
import t from 'tap';
import { rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { startThread } from '../src/util/assets.js';
import { THREAD_RESOURCE_LIMITS, threadExecArgv } from '../src/util/threads.js';
import { openDatabase, CACHE_KIB } from '../src/spool/db.js';
import { unitMemoryEnv } from '../bench/mta.js';
import { tempDir } from './helpers/daemon.js';

const dir = tempDir('mta-memory-limits-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a worker thread runs with the threads\' heap limits unless told otherwise', async (t) => {
  const w = startThread('dkim-thread', { execArgv: threadExecArgv() });
  t.teardown(() => w.terminate());
  await once(w, 'online');
  t.equal(w.resourceLimits?.maxYoungGenerationSizeMb, THREAD_RESOURCE_LIMITS.maxYoungGenerationSizeMb, 'young generation as set');
  t.equal(w.resourceLimits?.maxOldGenerationSizeMb, THREAD_RESOURCE_LIMITS.maxOldGenerationSizeMb, 'old generation ceiling as set');
  t.ok(THREAD_RESOURCE_LIMITS.maxYoungGenerationSizeMb < 48, 'below V8\'s default on a large host (3 x 16 MB)');

  const other = startThread('dkim-thread', { execArgv: threadExecArgv(), resourceLimits: { maxOldGenerationSizeMb: 64 } });
  t.teardown(() => other.terminate());
  await once(other, 'online');
  t.equal(other.resourceLimits?.maxOldGenerationSizeMb, 64, 'a caller\'s own limits win');
});

t.test('V8 flags on the command line do not stop the threads (node refuses them in a worker\'s execArgv)', async (t) => {
  const argv = ['--max-old-space-size=512', '--max_semi_space_size=4', '--expose-gc', '--enable-source-maps', '--import', 'x.js', '--stack-size=2000'];
  t.same(threadExecArgv(argv), ['--enable-source-maps'], 'V8 flags and hooks dropped, Node\'s own flags kept');
  const w = startThread('dkim-thread', { execArgv: threadExecArgv(argv) });
  t.teardown(() => w.terminate());
  await once(w, 'online');
  t.pass('the thread started');
});

t.test('every spool connection gets a page cache of CACHE_KIB, not better-sqlite3\'s 16 MB', async (t) => {
  const db = openDatabase(join(dir, 'cache'));
  t.teardown(() => db.close());
  t.equal(db.pragma('cache_size', { simple: true }), -CACHE_KIB, 'negative: KiB, not pages');
  t.equal(CACHE_KIB, 4096);
  const ro = openDatabase(join(dir, 'cache'), { readonly: true });
  t.teardown(() => ro.close());
  t.equal(ro.pragma('cache_size', { simple: true }), -CACHE_KIB, 'a read-only connection too');
});

t.test('the unit\'s memory settings: node accepts them, they bound the heap, and the bench uses them', async (t) => {
  const unit = readFileSync(join(process.cwd(), 'config', 'mta.service'), 'utf8');
  const saved = process.env['MTA_BENCH_NODE_OPTIONS'];
  delete process.env['MTA_BENCH_NODE_OPTIONS'];
  t.teardown(() => { if (saved !== undefined) process.env['MTA_BENCH_NODE_OPTIONS'] = saved; });
  const env = unitMemoryEnv(unit);
  t.same(Object.keys(env).sort(), ['MALLOC_ARENA_MAX', 'NODE_OPTIONS'], 'both settings found');
  t.match(env['NODE_OPTIONS'], /--max-semi-space-size=\d+/);
  t.match(env['NODE_OPTIONS'], /--max-old-space-size=\d+/);
  // `npm start` runs with the unit's settings (README, "Installing"): the two must not drift apart.
  const start = (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  t.ok(start.includes(`MALLOC_ARENA_MAX=${env['MALLOC_ARENA_MAX']} `), `npm start: ${start}`);
  t.ok(start.includes(`NODE_OPTIONS='${env['NODE_OPTIONS']}'`), 'npm start has the unit\'s NODE_OPTIONS');

  // A flag node refuses in NODE_OPTIONS would stop the daemon from starting at all.
  const r = spawnSync(process.execPath, ['-e', `const v8 = require('node:v8');
    console.log(JSON.stringify({ limit: v8.getHeapStatistics().heap_size_limit, arenas: process.env.MALLOC_ARENA_MAX }))`],
  { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env } });
  t.equal(r.status, 0, `node starts with them: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { limit: number; arenas: string };
  const oldMb = Number(/--max-old-space-size=(\d+)/.exec(env['NODE_OPTIONS']!)![1]);
  t.ok(out.limit / 1048576 < oldMb + 64, `the heap limit follows the unit (${(out.limit / 1048576).toFixed(0)} MB)`);
  t.equal(out.arenas, env['MALLOC_ARENA_MAX']);

  // One V8 helper thread (the unit explains why): node takes the flag from NODE_OPTIONS, and a
  // process started with the unit's settings has three threads fewer than with V8's default
  // of four helpers.
  t.match(env['NODE_OPTIONS'], /--v8-pool-size=1(\s|$)/);
  const threads = (extra: Record<string, string>): number => {
    const c = spawnSync(process.execPath, ['-e', 'console.log(require("node:fs").readdirSync("/proc/self/task").length)'],
      { encoding: 'utf8', env: { PATH: process.env['PATH'], ...extra } });
    t.equal(c.status, 0, c.stderr);
    return Number(c.stdout.trim());
  };
  const plain = threads({});
  t.equal(threads(env), plain - 3, `V8's helpers: 1 instead of 4 (${plain} threads without the unit's settings)`);

  process.env['MTA_BENCH_NODE_OPTIONS'] = '';
  t.same(unitMemoryEnv(unit), { NODE_OPTIONS: '', MALLOC_ARENA_MAX: env['MALLOC_ARENA_MAX'] }, 'the bench can measure V8\'s defaults');
});
