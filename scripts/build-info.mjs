// scripts/build-info — the version and git commit a build is made from. Run directly (the
// `build` and `prepare` scripts do), it writes dist/build-info.json, which the npm install
// reads for `mta --version` (src/util/assets.ts); build-binary.mjs puts the same into the
// single executable. Outside a git checkout the commit is "unknown", never an error.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function git(args) {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/** { version, commit }: commit is the short hash, with "-dirty" when tracked files differ from it. */
export function buildInfo() {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  let commit = 'unknown';
  try {
    commit = git(['rev-parse', '--short=12', 'HEAD']);
    if (git(['status', '--porcelain', '--untracked-files=no']) !== '') commit += '-dirty';
  } catch { /* not a git checkout (an unpacked tarball): stays unknown */ }
  return { version, commit };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = join(ROOT, 'dist', 'build-info.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(buildInfo())}\n`);
}
