/**
 * tracking/keys — the keys that sign open and click tokens, in `<data_dir>/tracking.keys`
 * (0600): one line per key, `<id> <64 hex digits> <created ISO 8601>`, the newest last and
 * the one new tokens are signed with. Rotating appends a new key and keeps the older ones
 * for an overlap, so links in mail already sent keep working until it runs out; a token
 * names its key by id, so verifying needs no database and any node holding the file can
 * answer it.
 *
 * Must never: log a key, or drop the newest key. Losing the file only breaks the links in
 * mail already sent (their hits are no longer counted; the links then show a 404 page).
 */
import { readFileSync, renameSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MtaError } from '../util/errors.js';
import { createOnce } from '../util/secret.js';
import { tightenFile } from '../util/files.js';

export const TRACKING_KEYS_FILE = 'tracking.keys';

export interface TrackingKey { id: string; key: Buffer; createdAt: number }

export class TrackingKeys {
  private readonly byId: Map<string, TrackingKey>;
  constructor(readonly keys: readonly TrackingKey[]) {
    this.byId = new Map(keys.map((k) => [k.id, k]));
  }
  /** The key new tokens are signed with: the newest. */
  get current(): TrackingKey { return this.keys[this.keys.length - 1]!; }
  get(id: string): TrackingKey | undefined { return this.byId.get(id); }
}

function newKeyLine(now: number): string {
  return `${randomBytes(3).toString('hex')} ${randomBytes(32).toString('hex')} ${new Date(now).toISOString()}\n`;
}

function parse(file: string, text: string): TrackingKeys {
  const keys: TrackingKey[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{6}) ([0-9a-f]{64}) (\S+)$/.exec(line.trim());
    const created = m ? Date.parse(m[3]!) : NaN;
    if (!m || Number.isNaN(created)) throw new MtaError('MTA_ERR_DATA_DIR', `${file} line ${i + 1} is not "<id> <64 hex digits> <time>"; restore it from a backup or remove it (tracking links in mail already sent stop working)`);
    keys.push({ id: m[1]!, key: Buffer.from(m[2]!, 'hex'), createdAt: created });
  }
  if (keys.length === 0) throw new MtaError('MTA_ERR_DATA_DIR', `${file} holds no key; remove it to have a new one created`);
  return new TrackingKeys(keys);
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MtaError('MTA_ERR_DATA_DIR', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The keys, the file created with one key on first use (atomically: two processes agree on it). */
export function loadTrackingKeys(dataDir: string, now = Date.now()): TrackingKeys {
  const file = join(dataDir, TRACKING_KEYS_FILE);
  let text = read(file);
  if (text === undefined) {
    createOnce(dataDir, TRACKING_KEYS_FILE, newKeyLine(now));
    text = read(file);
    if (text === undefined) throw new MtaError('MTA_ERR_DATA_DIR', `${file} vanished right after it was created`);
  } else {
    tightenFile(file);
  }
  return parse(file, text);
}

/**
 * Adds a new key (signing from now on) and drops the keys that were replaced more than
 * `overlapMs` ago: a key stays valid for the overlap after its successor was created.
 */
export function rotateTrackingKeys(dataDir: string, overlapMs: number, now = Date.now()): { keys: TrackingKeys; dropped: string[] } {
  const file = join(dataDir, TRACKING_KEYS_FILE);
  const old = loadTrackingKeys(dataDir, now).keys;
  const fresh = parse(file, newKeyLine(now)).current;
  const all = [...old, fresh];
  const kept = all.filter((k, i) => i === all.length - 1 || now - all[i + 1]!.createdAt <= overlapMs);
  const text = kept.map((k) => `${k.id} ${k.key.toString('hex')} ${new Date(k.createdAt).toISOString()}\n`).join('');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
  return { keys: new TrackingKeys(kept), dropped: all.filter((k) => !kept.includes(k)).map((k) => k.id) };
}
