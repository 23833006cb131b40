// scripts/build-console — builds the web console (console/*) into dist/console: app.js
// bundled with Preact, htm and uPlot by esbuild (no CDN, works offline), style.css bundled
// with the stylesheets it @imports (uPlot's) into one file, each named by a hash of its
// content and written beside a gzip'd copy; manifest.json maps the logical names to the
// hashed ones for the page (src/admin/console.ts). Run by the `build` and `prepare`
// scripts, and by the browser tests, several of which may build at once: every file is
// written under a temporary name and renamed into place (a reader never sees half a file,
// two builds never delete each other's output), and only then are assets no manifest
// names any more removed.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from './build-info.mjs';

const OUT = join(ROOT, 'dist', 'console');
const ASSETS = join(OUT, 'assets');
const ASSET_NAME = /^[a-z]+-[0-9a-f]{16}\.(js|css)(\.gz)?$/;

function put(path, content) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

function emit(name, ext, content) {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  const file = `${name}-${hash}.${ext}`;
  put(join(ASSETS, file), content);
  put(join(ASSETS, `${file}.gz`), gzipSync(content, { level: 9 }));
  return `/assets/${file}`;
}

mkdirSync(ASSETS, { recursive: true });
const common = { bundle: true, minify: true, write: false, legalComments: 'none', logLevel: 'warning' };
const js = await build({ ...common, entryPoints: [join(ROOT, 'console', 'app.js')], format: 'esm', target: 'es2020' });
// One stylesheet: the console's own with uPlot's pulled in by its @import (one request, one hash).
const css = await build({ ...common, entryPoints: [join(ROOT, 'console', 'style.css')], target: 'chrome90' });
const manifest = {
  'app.js': emit('app', 'js', Buffer.from(js.outputFiles[0].contents)),
  'style.css': emit('style', 'css', Buffer.from(css.outputFiles[0].contents)),
};
put(join(OUT, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
const keep = new Set(Object.values(manifest).flatMap((p) => [p.slice('/assets/'.length), `${p.slice('/assets/'.length)}.gz`]));
for (const f of readdirSync(ASSETS)) if (ASSET_NAME.test(f) && !keep.has(f)) rmSync(join(ASSETS, f), { force: true });
