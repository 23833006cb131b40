/**
 * admin/token — the admin API's token when `admin.token` is not set: a random one made at
 * the first start and kept in `<data_dir>/admin.token` (mode 0600), so there is never an
 * admin API without a token, `npm start` still needs no set-up, and the CLI (run by the
 * same user on the same data_dir) finds it without being told.
 *
 * Must never: serve the API token-less, replace a token file that exists (the CLI and
 * scripts already use it), or log the token except once, when it is made.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createOnce } from '../util/secret.js';
import { MtaError } from '../util/errors.js';

export const ADMIN_TOKEN_FILE = 'admin.token';

/** The generated token, or undefined when there is none (or it is not ours to read). */
export function readAdminToken(dataDir: string): string | undefined {
  try {
    const t = readFileSync(join(dataDir, ADMIN_TOKEN_FILE), 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

/** The generated token, made now when there is none yet (`created`). Throws MTA_ERR_DATA_DIR. */
export function ensureAdminToken(dataDir: string): { token: string; created: boolean; file: string } {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  const existing = readAdminToken(dataDir);
  if (existing) return { token: existing, created: false, file };
  const created = createOnce(dataDir, ADMIN_TOKEN_FILE, `${randomBytes(32).toString('base64url')}\n`);
  const token = readAdminToken(dataDir);
  if (!token) throw new MtaError('MTA_ERR_DATA_DIR', `${file} is empty or unreadable; remove it and restart to make a new admin token`);
  return { token, created, file };
}
