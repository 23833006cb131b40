// scripts/build-binary — `npm run build:binary`: mta as one executable file, a Node single
// executable application (SEA), at dist/bin/mta-linux-<arch>.
//
// 1. esbuild bundles the program into one CommonJS script (Node 20's SEA runs only that)
//    from src/cli/sea-main.ts, plus one bundle per worker thread (spool writer, DKIM);
// 2. `node --experimental-sea-config` packs the script and the assets (the two thread
//    bundles, better-sqlite3's native addon and the web console's files) into a
//    preparation blob;
// 3. postject injects the blob into a copy of this very node binary, behind the SEA fuse.
//
// The binary is for the architecture of the node that runs this script: a SEA must be made
// from the node binary it will run on, and the addon is compiled for one architecture, so
// an arm64 binary is built by running this on arm64. src/util/assets.ts is the run-time half.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { ROOT, buildInfo } from './build-info.mjs';

const require = createRequire(import.meta.url);
const { inject } = require('postject');

// The name Node's SEA looks for (node/src/node_sea.cc); it must match the node version.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const ADDON = join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');

const work = join(ROOT, 'dist', 'sea');
const out = join(ROOT, 'dist', 'bin', `mta-${process.platform}-${process.arch}`);
if (process.platform !== 'linux') throw new Error(`build:binary makes Linux executables; this is ${process.platform}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(join(ROOT, 'dist', 'bin'), { recursive: true });

const addon = readFileSync(ADDON);
const info = { ...buildInfo(), sqliteHash: createHash('sha256').update(addon).digest('hex').slice(0, 16) };

const started = Date.now();
await build({
  entryPoints: {
    mta: join(ROOT, 'src/cli/sea-main.ts'),
    'writer-thread': join(ROOT, 'src/spool/writer-thread.ts'),
    'dkim-thread': join(ROOT, 'src/delivery/dkim-thread.ts'),
  },
  outdir: work,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${process.versions.node.split('.')[0]}`,
  define: { __MTA_BUILD__: JSON.stringify(info), 'import.meta.url': '__mta_import_meta_url' },
  // Bundled ES modules of our dependencies (node-cron) compute paths from import.meta.url
  // when they load; in a CommonJS bundle it would be empty and they would throw. Here it
  // is the executable's own URL: a path next to it names no file, which only matters to
  // code that is never used (src/util/assets.ts decides where our files come from).
  banner: { js: "var __mta_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// The web console (dist/console, made by scripts/build-console.mjs just before this in
// `npm run build:binary`): every file as an asset `console/<path>`, and the list of paths,
// which is all src/util/assets.ts will ever ask for.
const CONSOLE = join(ROOT, 'dist', 'console');
if (!existsSync(join(CONSOLE, 'manifest.json'))) throw new Error(`${CONSOLE} has no manifest.json: run "node scripts/build-console.mjs" (npm run build:binary does)`);
const consolePaths = readdirSync(CONSOLE, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
  .map((e) => relative(CONSOLE, join(e.parentPath ?? e.path, e.name)).split(sep).join('/')).sort();
writeFileSync(join(work, 'console-files.json'), JSON.stringify(consolePaths));

const config = {
  main: join(work, 'mta.js'),
  output: join(work, 'mta.blob'),
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  assets: {
    'writer-thread.js': join(work, 'writer-thread.js'),
    'dkim-thread.js': join(work, 'dkim-thread.js'),
    'better_sqlite3.node': ADDON,
    'console/files.json': join(work, 'console-files.json'),
    ...Object.fromEntries(consolePaths.map((p) => [`console/${p}`, join(CONSOLE, p)])),
  },
};
writeFileSync(join(work, 'sea-config.json'), JSON.stringify(config, null, 2));
execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });

rmSync(out, { force: true });
copyFileSync(process.execPath, out);
chmodSync(out, 0o755);
// postject prints a harmless ELF note warning on stderr; its result is checked by running the binary.
await inject(out, 'NODE_SEA_BLOB', readFileSync(config.output), { sentinelFuse: SEA_FUSE });
const version = execFileSync(out, ['--version'], { encoding: 'utf8' }).trim();
const mib = (statSync(out).size / 1048576).toFixed(1);
process.stdout.write(`${out}: ${mib} MiB, ${version}, built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
