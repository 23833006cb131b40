/**
 * secret — the server's own 32-byte key in `<data_dir>/secret.key`, from which the keys
 * for VERP bounce addresses and unsubscribe tokens are derived (mail/verp.ts,
 * mail/tokens.ts). It is created once, atomically (temp file, fsync, rename), so two
 * processes starting together agree on one key and a crash never leaves half a key.
 *
 * Never log it, never send it anywhere. Losing it only invalidates links and bounce
 * addresses in mail already sent; replacing it on purpose does the same.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { MtaError } from './errors.js';
import { tightenFile } from './files.js';

export const SECRET_FILE = 'secret.key';
const SECRET_BYTES = 32;

/** The key, created on first use. Throws MTA_ERR_DATA_DIR when it is unreadable or malformed. */
export function loadSecret(dataDir: string): Buffer {
  const file = join(dataDir, SECRET_FILE);
  const existing = readKey(file);
  if (existing) { tightenFile(file); return existing; }
  createOnce(dataDir, SECRET_FILE, randomBytes(SECRET_BYTES).toString('hex') + '\n');
  const key = readKey(file);
  if (!key) throw new MtaError('MTA_ERR_DATA_DIR', `${file} vanished right after it was created`);
  return key;
}

/**
 * Creates `<dir>/<name>` (mode 0600) with `content` unless it exists, atomically: a temp
 * file, fsync, then link. Returns false when another process created it first (the caller
 * reads what is there). Throws MTA_ERR_DATA_DIR when it cannot be written.
 */
export function createOnce(dir: string, name: string, content: string): boolean {
  const file = join(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link, not rename: rename would replace a file another process created meanwhile
    // (for the key: mail signed with that one would stop verifying). link fails if it exists.
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return false;
    }
    fsyncDir(dir);
    return true;
  } catch (e) {
    throw new MtaError('MTA_ERR_DATA_DIR', `cannot create ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readKey(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MtaError('MTA_ERR_DATA_DIR', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!/^[0-9a-f]{64}$/.test(text)) throw new MtaError('MTA_ERR_DATA_DIR', `${file} is not 64 hex digits; restore it from a backup or remove it (links in mail already sent stop working)`);
  return Buffer.from(text, 'hex');
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* some file systems refuse fsync on directories; the file itself is synced */ }
}

// ---- keys and sealed tokens derived from the secret ----

/** One key per purpose (HKDF-SHA256), so a token made for one use never verifies as another. */
export function deriveKey(secret: Buffer, purpose: string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `mta ${purpose}`, bytes));
}

/** `derive`, computed once per secret (HKDF on every token would be wasted work). */
export function cachedKey(derive: (secret: Buffer) => Buffer): (secret: Buffer) => Buffer {
  const cache = new WeakMap<Buffer, Buffer>();
  return (secret) => {
    let k = cache.get(secret);
    if (!k) { k = derive(secret); cache.set(secret, k); }
    return k;
  };
}

const SIV_TAG = 12;

/**
 * Deterministic authenticated encryption for short payloads (an SIV construction): the
 * tag is HMAC-SHA256 of the plaintext under one key, and doubles as the AES-256-CTR IV
 * under another. No nonce is stored, so a 12-byte payload seals into 24 bytes: short
 * enough for an SMTP local part. Deterministic on purpose: equal payloads give equal
 * tokens, which reveals nothing here (each payload names one message).
 */
export function sealSiv(keys: Buffer, plain: Buffer): Buffer {
  const tag = createHmac('sha256', keys.subarray(32, 64)).update(plain).digest().subarray(0, SIV_TAG);
  const c = createCipheriv('aes-256-ctr', keys.subarray(0, 32), Buffer.concat([tag, Buffer.alloc(16 - SIV_TAG)]));
  return Buffer.concat([tag, c.update(plain), c.final()]);
}

/** The payload, or undefined when the token was not sealed with these keys (altered, forged, truncated). */
export function openSiv(keys: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length <= SIV_TAG) return undefined;
  const tag = sealed.subarray(0, SIV_TAG);
  const d = createDecipheriv('aes-256-ctr', keys.subarray(0, 32), Buffer.concat([tag, Buffer.alloc(16 - SIV_TAG)]));
  const plain = Buffer.concat([d.update(sealed.subarray(SIV_TAG)), d.final()]);
  const want = createHmac('sha256', keys.subarray(32, 64)).update(plain).digest().subarray(0, SIV_TAG);
  return timingSafeEqual(tag, want) ? plain : undefined;
}

/** Keys for sealSiv/openSiv: 64 bytes (encryption, then MAC). */
export function sivKeys(secret: Buffer, purpose: string): Buffer {
  return deriveKey(secret, purpose, 64);
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, unpadded: survives servers that change a local part's case. */
export function base32Encode(buf: Buffer): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of buf) {
    acc = (acc << 8) | b; bits += 8;
    while (bits >= 5) { out += B32[(acc >>> (bits - 5)) & 31]; bits -= 5; }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes either case; undefined for any other character or non-canonical trailing bits. */
export function base32Decode(text: string): Buffer | undefined {
  const bytes: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of text.toLowerCase()) {
    const v = B32.indexOf(ch);
    if (v < 0) return undefined;
    acc = (acc << 5) | v; bits += 5;
    if (bits >= 8) { bytes.push((acc >>> (bits - 8)) & 255); bits -= 8; }
    acc &= (1 << bits) - 1;
  }
  if (bits >= 5 || acc !== 0) return undefined;
  return Buffer.from(bytes);
}
