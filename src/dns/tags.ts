/**
 * dns/tags — parsing of the tag=value TXT records DKIM keys (RFC 6376 §3.6.1) and DMARC
 * policies (RFC 7489 §6.3) are written in. Parsing is strict where receivers are strict
 * (v= first, a valid p=, no repeated tag) because a record receivers discard is worse
 * than none: it looks published and does nothing.
 */
import { createPublicKey } from 'node:crypto';

export type TagList = { ok: true; tags: Map<string, string>; order: string[] } | { ok: false; error: string };

/** "a=1; b = 2;" → tags; tag names are case-insensitive, a repeated tag makes the list invalid. */
export function parseTags(text: string): TagList {
  const tags = new Map<string, string>();
  const order: string[] = [];
  for (const part of text.split(';')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, error: `"${item}" is not tag=value` };
    const name = item.slice(0, eq).trim().toLowerCase();
    if (!/^[a-z][a-z0-9_]*$/.test(name)) return { ok: false, error: `"${name}" is not a tag name` };
    if (tags.has(name)) return { ok: false, error: `tag ${name}= appears twice` };
    tags.set(name, item.slice(eq + 1).trim());
    order.push(name);
  }
  return { ok: true, tags, order };
}

// ---- DKIM -----------------------------------------------------------------------------

export interface DkimKeyRecord { k: string; p: string }

/** A DKIM key record; p= with its whitespace removed (folded TXT values carry some). */
export function parseDkimRecord(text: string): DkimKeyRecord | { error: string } {
  const t = parseTags(text);
  if (!t.ok) return { error: t.error };
  const v = t.tags.get('v');
  if (v !== undefined && (t.order[0] !== 'v' || v !== 'DKIM1')) return { error: 'v= must be the first tag and equal "DKIM1"' };
  const p = t.tags.get('p');
  if (p === undefined) return { error: 'no p= tag' };
  return { k: (t.tags.get('k') ?? 'rsa').toLowerCase(), p: p.replace(/\s+/g, '') };
}

/** The key type of a p= value we generated: Ed25519 keys are the raw 32 bytes (RFC 8463). */
export function dkimKeyType(publicKey: string): 'rsa' | 'ed25519' {
  return Buffer.from(publicKey.replace(/\s+/g, ''), 'base64').length === 32 ? 'ed25519' : 'rsa';
}

/** SPKI DER of an RSA key given as SPKI or as a bare PKCS#1 RSAPublicKey, or undefined. */
function rsaSpki(b64: string): string | undefined {
  const der = Buffer.from(b64, 'base64');
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return createPublicKey({ key: der, format: 'der', type }).export({ type: 'spki', format: 'der' }).toString('base64');
    } catch { /* try the other encoding */ }
  }
  return undefined;
}

/**
 * Whether a published p= is our key. Textual equality first; for RSA also the same key in
 * the other encoding, since RFC 6376's text says RSAPublicKey while practice (and
 * verifiers) use SubjectPublicKeyInfo, and some tools publish the former.
 */
export function sameDkimKey(published: string, ours: string): boolean {
  const a = published.replace(/\s+/g, '');
  const b = ours.replace(/\s+/g, '');
  if (a === b) return true;
  if (a === '' || dkimKeyType(b) !== 'rsa') return false;
  const sa = rsaSpki(a);
  return sa !== undefined && sa === rsaSpki(b);
}

// ---- DMARC ----------------------------------------------------------------------------

export type DmarcPolicyName = 'none' | 'quarantine' | 'reject';

export interface DmarcPolicy { p: DmarcPolicyName; sp?: DmarcPolicyName; pct: number; rua?: string }

const POLICIES = new Set(['none', 'quarantine', 'reject']);

/** Whether a TXT record means to be DMARC (so a misplaced v= is reported, not ignored). */
export function looksLikeDmarc(text: string): boolean {
  return /(^|;)\s*v\s*=\s*DMARC1\s*(;|$)/i.test(text);
}

/** A DMARC record checked as receivers check it; error names the first thing wrong. */
export function parseDmarc(text: string): DmarcPolicy | { error: string } {
  const t = parseTags(text);
  if (!t.ok) return { error: t.error };
  if (t.order[0] !== 'v' || t.tags.get('v') !== 'DMARC1') return { error: 'v=DMARC1 must be the first tag' };
  const p = t.tags.get('p')?.toLowerCase();
  if (p === undefined) return { error: 'no p= tag (none, quarantine or reject)' };
  if (!POLICIES.has(p)) return { error: `p=${p} is not none, quarantine or reject` };
  const sp = t.tags.get('sp')?.toLowerCase();
  if (sp !== undefined && !POLICIES.has(sp)) return { error: `sp=${sp} is not none, quarantine or reject` };
  for (const tag of ['adkim', 'aspf']) {
    const v = t.tags.get(tag)?.toLowerCase();
    if (v !== undefined && v !== 'r' && v !== 's') return { error: `${tag}=${v} is not r or s` };
  }
  const pctText = t.tags.get('pct');
  const pct = pctText === undefined ? 100 : Number(pctText);
  if (!/^\d{1,3}$/.test(pctText ?? '100') || pct > 100) return { error: `pct=${pctText} is not 0..100` };
  for (const tag of ['rua', 'ruf']) {
    const v = t.tags.get(tag);
    if (v === undefined) continue;
    const bad = v.split(',').map((u) => u.trim()).find((u) => !/^(mailto:[^\s@]+@[^\s@]+|https?:\/\/\S+)$/i.test(u));
    if (bad !== undefined) return { error: `${tag}= has "${bad}", not a mailto: address` };
  }
  const rua = t.tags.get('rua');
  return { p: p as DmarcPolicyName, pct, ...(sp ? { sp: sp as DmarcPolicyName } : {}), ...(rua ? { rua } : {}) };
}
