/**
 * util/assets — where the program finds its own files, in both ways it is installed:
 *
 * - the npm package (`bin/mta` → dist/): the compiled JavaScript lies in files, worker
 *   threads start from the file beside the code, better-sqlite3 loads its addon from
 *   node_modules, and the build's commit is read from dist/build-info.json;
 * - the single executable (`npm run build:binary`, a Node SEA): one bundled script inside
 *   the node binary, the worker scripts, better-sqlite3's addon and the web console's
 *   files carried as `node:sea` assets, the version and commit put into the bundle by
 *   esbuild (`__MTA_BUILD__`).
 *
 * This is the only module that looks at `import.meta.url` or the SEA assets: every other
 * module asks here, so nothing breaks when there is no file next to the code.
 *
 * A native addon can only be loaded from a file, so the binary writes its copy once to a
 * versioned directory (`<data_dir>/native/<version>-<hash>/`, or under $MTA_NATIVE_DIR)
 * and loads it from there. It must never be written to a temporary directory: /tmp is
 * often mounted noexec, and dlopen refuses a file on such a mount.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { MtaError } from './errors.js';
import { THREAD_RESOURCE_LIMITS } from './threads.js';

export interface BuildInfo {
  version: string;
  /** the git commit the program was built from ("unknown" outside a git checkout) */
  commit: string;
  /** first 16 hex digits of the SHA-256 of better_sqlite3.node (binary only) */
  sqliteHash?: string;
}

// Replaced by an object literal in the single-executable bundle (scripts/build-binary.mjs);
// never defined in the npm package.
declare const __MTA_BUILD__: BuildInfo | undefined;

const BUNDLED: BuildInfo | undefined = typeof __MTA_BUILD__ === 'undefined' ? undefined : __MTA_BUILD__;

/** The worker threads, each a script of its own (a bundle entry point in the binary). */
export type ThreadScript = 'writer-thread' | 'dkim-thread';
const THREAD_FILES: Record<ThreadScript, string> = {
  'writer-thread': '../spool/writer-thread.js',
  'dkim-thread': '../delivery/dkim-thread.js',
};
export const SQLITE_ADDON_ASSET = 'better_sqlite3.node';

interface SeaModule { isSea(): boolean; getAsset(key: string, encoding?: string): ArrayBuffer | string }
let sea: SeaModule | undefined;
function seaAssets(): SeaModule {
  // node:sea exists from Node 20.12 on; only the bundle (built with such a Node) asks for it.
  // The bundle's require is the SEA's built-in-only require, which is all this needs.
  sea ??= require('node:sea') as SeaModule;
  return sea;
}

/** True in the single executable. */
export function isBinary(): boolean {
  return BUNDLED !== undefined;
}

/** Version and commit of this build. */
export function buildInfo(): BuildInfo {
  if (BUNDLED) return BUNDLED;
  cachedInfo ??= readBuildInfo();
  return cachedInfo;
}
let cachedInfo: BuildInfo | undefined;

function readBuildInfo(): BuildInfo {
  const read = (rel: string): Partial<BuildInfo> | undefined => {
    try { return JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as Partial<BuildInfo>; } catch { return undefined; }
  };
  // dist/src/util/assets.js: the generated file is dist/build-info.json, package.json is at the root.
  const generated = read('../../build-info.json');
  const pkg = read('../../../package.json');
  return { version: generated?.version ?? pkg?.version ?? 'unknown', commit: generated?.commit ?? 'unknown' };
}

/**
 * The built web console (scripts/build-console.mjs): the directory dist/console in the npm
 * package; in the single executable its files carried as assets named `console/<path>`,
 * with `console/files.json` listing the paths (scripts/build-binary.mjs).
 */
export type ConsoleFiles =
  | { kind: 'dir'; dir: string }
  | { kind: 'embedded'; /** a file by its path under dist/console ("manifest.json", "assets/app-<hash>.js"), or undefined */ read(path: string): Buffer | undefined };

const CONSOLE_INDEX_ASSET = 'console/files.json';

export function consoleFiles(): ConsoleFiles {
  if (!BUNDLED) return { kind: 'dir', dir: fileURLToPath(new URL('../../console', import.meta.url)) };
  const names = new Set(JSON.parse(seaAssets().getAsset(CONSOLE_INDEX_ASSET, 'utf8') as string) as string[]);
  // Only listed names are asked for: getAsset throws on any other, and a request path never
  // reaches it unless the build put that very file in.
  return { kind: 'embedded', read: (path) => names.has(path) ? Buffer.from(seaAssets().getAsset(`console/${path}`) as ArrayBuffer) : undefined };
}

/** Starts a worker thread running one of the program's thread scripts, with the threads' heap limits unless `opts` sets others. */
export function startThread(script: ThreadScript, given: WorkerOptions): Worker {
  const opts: WorkerOptions = { resourceLimits: THREAD_RESOURCE_LIMITS, ...given };
  if (!BUNDLED) return new Worker(new URL(THREAD_FILES[script], import.meta.url), opts);
  // The asset is a self-contained CommonJS bundle; eval'd, its require() reaches Node's built-ins.
  return new Worker(seaAssets().getAsset(`${script}.js`, 'utf8') as string, { ...opts, eval: true });
}

/**
 * better-sqlite3's `nativeBinding` option: undefined in the npm package (the module finds
 * its own addon), the loaded addon in the binary. `dataDir` is where the addon is written
 * unless $MTA_NATIVE_DIR names another directory.
 */
export function sqliteBinding(dataDir: string): object | undefined {
  if (!BUNDLED) return undefined;
  loadedAddon ??= loadAddon(nativeAddonPath(dataDir));
  return loadedAddon;
}
let loadedAddon: object | undefined;

/**
 * better-sqlite3's options with the binary's addon added: every `new Database` goes through
 * this (the spool, the data dir lock, a backup's check), or the single executable cannot
 * open it. Outside the binary it returns `opts` as given.
 */
export function sqliteOptions<T extends object>(dataDir: string, opts: T): T & { nativeBinding?: string } {
  const binding = sqliteBinding(dataDir);
  // The typings know only the path form; the addon object is what the binary loaded.
  return binding ? { ...opts, nativeBinding: binding as unknown as string } : opts;
}

/** Where the binary keeps its copy of the SQLite addon. */
export function nativeAddonPath(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env['MTA_NATIVE_DIR'] || join(dataDir, 'native');
  const info = buildInfo();
  return join(base, `${info.version}-${info.sqliteHash ?? 'dev'}`, SQLITE_ADDON_ASSET);
}

function loadAddon(path: string): object {
  try {
    if (!sameSize(path)) extract(path);
  } catch (e) {
    throw new MtaError('MTA_ERR_NATIVE', `cannot write the SQLite addon to ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set $MTA_NATIVE_DIR to a writable directory that is not mounted noexec)`);
  }
  const mod = { exports: {} as object };
  try {
    process.dlopen(mod, path);
  } catch (e) {
    throw new MtaError('MTA_ERR_NATIVE', `cannot load the SQLite addon ${path}: ${(e as Error).message} (is its file system mounted noexec? set $MTA_NATIVE_DIR)`);
  }
  return mod.exports;
}

function addonBytes(): Uint8Array {
  return new Uint8Array(seaAssets().getAsset(SQLITE_ADDON_ASSET) as ArrayBuffer);
}

/** A copy there already, written whole (extract renames into place, so size is enough). */
function sameSize(path: string): boolean {
  try { return statSync(path).size === addonBytes().byteLength; } catch { return false; }
}

function extract(path: string): void {
  const bytes = addonBytes();
  const expected = buildInfo().sqliteHash;
  if (expected && createHash('sha256').update(bytes).digest('hex').slice(0, 16) !== expected) {
    throw new Error('the embedded addon does not match its build hash');
  }
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Written aside and renamed: a daemon and a CLI starting together never load half a file.
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(tmp, bytes, { mode: 0o755 });
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

