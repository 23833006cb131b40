/**
 * spool/node-id — the name this process signs its claims with (leased claims, spool/types-leases.ts):
 * `storage.node_id` when configured, else the one kept in `<data_dir>/node-id` (mode 0600),
 * made up on first start and stable from then on, so a restart recognises its own claims.
 *
 * It must never hand out a fresh id for a data dir that has one: the file is created with
 * link(2), which fails if another process created it first, and then that file is read.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MtaError } from '../util/errors.js';
import { NODE_ID_PATTERN } from './types-leases.js';

export const NODE_ID_FILE = 'node-id';

/** A new id: the host's name (readable in logs) and random bits (two data dirs on one host differ). */
function newNodeId(): string {
  const host = hostname().split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40) || 'node';
  return `${host}-${randomBytes(4).toString('hex')}`;
}

function readNodeId(path: string): string {
  const id = readFileSync(path, 'utf8').trim();
  if (!NODE_ID_PATTERN.test(id)) {
    throw new MtaError('MTA_ERR_DATA_DIR', `${path} does not hold a node id (letters, digits, '.', '_', '-'; at most 64): fix or remove it (a new one is made)`);
  }
  return id;
}

/** The configured id, or the data dir's (created on first use). The data dir must exist. */
export function nodeIdOf(dataDir: string, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const path = join(dataDir, NODE_ID_FILE);
  try {
    return readNodeId(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${newNodeId()}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new MtaError('MTA_ERR_DATA_DIR', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  } finally {
    unlinkSync(tmp);
  }
  return readNodeId(path);
}
