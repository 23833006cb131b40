// scripts/build-console — builds the web console (console/*) into dist/console: app.js
// bundled with Preact, htm and uPlot by esbuild (no CDN, works offline), style.css bundled
// with the stylesheets it @imports (uPlot's) into one file, each
// named by a hash of its content and written beside a gzip'd copy; manifest.json maps the
// logical names to the hashed ones for the page (src/admin/console.ts). Run by the `build`
// and `prepare` scripts.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from './build-info.mjs';

const OUT = join(ROOT, 'dist', 'console');
const ASSETS = join(OUT, 'assets');

function emit(name, ext, content) {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  const file = `${name}-${hash}.${ext}`;
  writeFileSync(join(ASSETS, file), content);
  writeFileSync(join(ASSETS, `${file}.gz`), gzipSync(content, { level: 9 }));
  return `/assets/${file}`;
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(ASSETS, { recursive: true });
const common = { bundle: true, minify: true, write: false, legalComments: 'none', logLevel: 'warning' };
const js = await build({ ...common, entryPoints: [join(ROOT, 'console', 'app.js')], format: 'esm', target: 'es2020' });
// One stylesheet: the console's own with uPlot's pulled in by its @import (one request, one hash).
const css = await build({ ...common, entryPoints: [join(ROOT, 'console', 'style.css')], target: 'chrome90' });
const manifest = {
  'app.js': emit('app', 'js', Buffer.from(js.outputFiles[0].contents)),
  'style.css': emit('style', 'css', Buffer.from(css.outputFiles[0].contents)),
};
writeFileSync(join(OUT, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
