/**
 * files — files at rest in the data dir are private whatever the umask. The spool holds
 * DKIM private keys, webhook secrets and password hashes, `secret.key` signs every link:
 * files are created 0600, a data dir that other local users can enter is tightened to
 * 0750/0700 (or start-up is refused when that is not ours to change), and an error about a
 * file we cannot write names its owner and mode, not just "readonly database".
 *
 * Must never: widen a permission, follow the data dir's contents anywhere else, or chown.
 */
import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { MtaError } from './errors.js';

/** Permission bits no file in the data dir may have (group and others). */
const FILE_MASK = 0o077;

export function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** The user name from /etc/passwd, when it can be read. */
function userName(uid: number): string | undefined {
  try {
    return readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid))?.split(':')[0];
  } catch {
    return undefined;
  }
}

/** "mta (uid 998)", or "uid 998" for a user without a name. */
export function describeUser(uid: number): string {
  const name = userName(uid);
  return name ? `${name} (uid ${uid})` : `uid ${uid}`;
}

/** "owned by root (uid 0), mode 0644": for errors about a file. */
export function describeFile(path: string): string {
  try {
    const s = statSync(path);
    return `owned by ${describeUser(s.uid)}, mode ${octal(s.mode)}`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

function currentUser(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : describeUser(uid);
}

/** Takes group and world permissions off an existing file; returns the old mode when it changed one. */
export function tightenFile(path: string): number | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & FILE_MASK) === 0) return undefined;
  try {
    chmodSync(path, mode & ~FILE_MASK);
  } catch (e) {
    throw new MtaError('MTA_ERR_DATA_DIR', `${path} is ${describeFile(path)} and cannot be made private (${(e as NodeJS.ErrnoException).code ?? e}); run "chmod 0600 ${path}" as its owner`);
  }
  return mode;
}

/**
 * Creates an empty file 0600 when it is missing (SQLite gives its -wal and -shm files the
 * database file's mode, so creating the database first makes all three private), and
 * tightens one that exists. Never truncates.
 */
export function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new MtaError('MTA_ERR_DATA_DIR', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  tightenFile(path);
}

/** A file we are about to write: it must be writable by us, or the error says whose it is. */
export function assertWritable(path: string): void {
  try {
    accessSync(path, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new MtaError('MTA_ERR_DATA_DIR', `cannot write ${path}: it is ${describeFile(path)}, and this process runs as ${currentUser()}; give it back to the service's user (chown) or run mta as that user`);
  }
}

export interface DataDirState { created: boolean; tightened?: { from: string; to: string } }

/**
 * Makes sure the data dir exists (created 0700) and that others cannot enter it (0755 →
 * 0750). When root is about to work in a data dir that belongs to another user, refuses:
 * every file it created would be root's, and the service could no longer write it.
 */
export function secureDataDir(dataDir: string): DataDirState {
  let created = false;
  try {
    created = mkdirSync(dataDir, { recursive: true, mode: 0o700 }) !== undefined;
  } catch (e) {
    throw new MtaError('MTA_ERR_DATA_DIR', `data_dir ${dataDir} cannot be created: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const s = statSync(dataDir);
  if (!s.isDirectory()) throw new MtaError('MTA_ERR_DATA_DIR', `data_dir ${dataDir} is not a directory`);
  const uid = process.getuid?.();
  if (uid === 0 && s.uid !== 0) {
    const name = userName(s.uid) ?? `#${s.uid}`;
    throw new MtaError('MTA_ERR_DATA_DIR_OWNER', `data_dir ${dataDir} belongs to ${describeUser(s.uid)}, and this is root: files created now would be root's and the service could not write them; run mta as that user: sudo -u ${name} mta ${process.argv.slice(2).join(' ')}`.trimEnd());
  }
  const mode = s.mode & 0o777;
  let tightened: DataDirState['tightened'];
  if ((mode & 0o007) !== 0) {
    const to = mode & 0o750;
    try {
      chmodSync(dataDir, to);
    } catch (e) {
      throw new MtaError('MTA_ERR_DATA_DIR', `data_dir ${dataDir} is mode ${octal(mode)}: every local user can read the spool (DKIM keys, secrets); it cannot be changed by ${currentUser()} (${(e as NodeJS.ErrnoException).code ?? e}); run "chmod 0750 ${dataDir}" as its owner, ${describeUser(s.uid)}`);
    }
    tightened = { from: octal(mode), to: octal(to) };
  }
  try {
    accessSync(dataDir, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch {
    throw new MtaError('MTA_ERR_DATA_DIR', `data_dir ${dataDir} is not writable by ${currentUser()}: it is ${describeFile(dataDir)}`);
  }
  return { created, ...(tightened ? { tightened } : {}) };
}
