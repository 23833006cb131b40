/**
 * delivery/dkim — DKIM-signs a spooled message at delivery time (RFC 6376; ed25519 per
 * RFC 8463). Delivery never holds a whole message in memory, so signing is a first
 * streaming pass over the spool that yields only the DKIM-Signature header field; the
 * delivery code then streams the message a second time with that field in front.
 *
 * The cryptography and canonicalization are mailauth's DkimSigner. We use the signer
 * class rather than `dkimSign()` for one reason: mailauth signs only the header fields
 * that are present, and we want From over-signed (listed once more in h= than it occurs)
 * so nobody can add a second From below our signature and have it still verify. The
 * hook for that is small and checked after every signature (see OverSigningSigner).
 * mailauth's DkimSignStream is no use here: it keeps the whole message in memory to
 * re-emit it after the signature.
 */
import { createRequire } from 'node:module';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface DkimKey { domain: string; selector: string; algorithm: 'rsa' | 'ed25519'; privateKeyPem: string }

export class DkimError extends Error {
  readonly code = 'E_DKIM_SIGN' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DkimError';
  }
}

/**
 * What we sign: what a receiver shows or threads on, plus the MIME fields that decide
 * how the body is read and the list fields that one-click unsubscribe (RFC 8058) needs
 * protected. Fields a relay may legitimately add or rewrite (Received, Return-Path) stay
 * out.
 */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = [
  'From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'Reply-To', 'MIME-Version', 'Content-Type',
  'Content-Transfer-Encoding', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'In-Reply-To', 'References', 'Feedback-ID',
];

/** Over-signed fields: each is listed in h= once more than it occurs (RFC 6376 §8.15). */
const OVER_SIGNED = new Set(['from']);

// mailauth's own typings describe only dkimSign(); the signer class is plain JS, so this
// is the slice of it we rely on.
interface ParsedHeader { key: string | null; casedKey: string | undefined; line: Buffer }
interface ParsedHeaders { parsed: ParsedHeader[] }
interface SignerError { err?: { message?: string; code?: string }; selector?: string; signingDomain?: string }
interface MailauthSigner extends Writable {
  signatureHeaders: string[];
  errors: SignerError[];
  messageHeaders(headers: ParsedHeaders): Promise<void>;
}
interface SignerOptions {
  canonicalization: string;
  headerList: string;     // colon separated: the typings say string[], but an array is silently ignored
  signTime: Date;
  signatureData: Array<{ signingDomain: string; selector: string; privateKey: string; algorithm: string; canonicalization: string }>;
}

const require = createRequire(import.meta.url);
const { DkimSigner } = require('mailauth/lib/dkim/dkim-signer.js') as { DkimSigner: new (opts: SignerOptions) => MailauthSigner };

/**
 * mailauth builds h= by joining the `casedKey` of every signed field, bottom-up. Giving
 * the topmost From the name "From: From" adds the extra, empty entry to h= without
 * touching the canonicalized header text, which is built from `line` alone. Verifiers
 * match h= entries bottom-up, so the extra entry matches "no field" as RFC 6376 §5.4.2
 * requires — until someone adds another From, which then fails verification.
 */
class OverSigningSigner extends DkimSigner {
  fromCount = 0;

  override async messageHeaders(headers: ParsedHeaders): Promise<void> {
    const seen = new Set<string>();
    for (const h of headers.parsed) {
      if (h.key === 'from') this.fromCount++;
      if (!h.key || !h.casedKey || !OVER_SIGNED.has(h.key) || seen.has(h.key)) continue;
      seen.add(h.key);
      h.casedKey = `${h.casedKey}: ${h.casedKey}`;
    }
    return super.messageHeaders(headers);
  }
}

function headerListFor(names: readonly string[] | undefined): string {
  const list: string[] = [];
  const seen = new Set<string>();
  // RFC 6376 §5.4: From MUST be signed, whatever the caller asked for.
  for (const name of ['From', ...(names ?? DEFAULT_SIGNED_HEADERS)]) {
    const n = name.trim();
    if (!/^[!-9;-~]+$/.test(n)) throw new DkimError(`"${name}" is not a header field name`);
    if (seen.has(n.toLowerCase())) continue;
    seen.add(n.toLowerCase());
    list.push(n);
  }
  return list.join(':');
}

/** The field names in an h= tag, lower-cased, in order. */
function signedNames(signature: string): string[] {
  const h = /[;\s]h=([^;]*)/.exec(signature.replace(/\r\n[ \t]/g, ' '))?.[1] ?? '';
  return h.split(':').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/**
 * Returns the complete "DKIM-Signature: ..." header field, folded, ending in CRLF.
 * relaxed/relaxed; rsa-sha256 or ed25519-sha256. `message` is the raw message (CRLF line
 * ends), read once.
 */
export async function dkimSignature(
  message: AsyncIterable<Buffer>, key: DkimKey, opts: { now?: Date; headerList?: string[] } = {},
): Promise<string> {
  if (!key.domain || !key.selector) throw new DkimError('DKIM key has no domain or selector');
  const signer = new OverSigningSigner({
    canonicalization: 'relaxed/relaxed',
    headerList: headerListFor(opts.headerList),
    // Always set: without it mailauth reads the clock twice (for the signed text and
    // for the header it returns), and a second boundary in between breaks the signature.
    signTime: opts.now ?? new Date(),
    signatureData: [{
      signingDomain: key.domain, selector: key.selector, privateKey: key.privateKeyPem,
      algorithm: key.algorithm === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256', canonicalization: 'relaxed/relaxed',
    }],
  });
  try {
    await pipeline(Readable.from(message), signer);
  } catch (err) {
    throw new DkimError(`signing pass failed: ${(err as Error).message}`, { cause: err });
  }
  if (signer.errors.length > 0) {
    const reasons = signer.errors.map((e) => e.err?.message ?? 'unknown error');
    throw new DkimError(`DKIM signing failed for ${key.selector}._domainkey.${key.domain}: ${reasons.join('; ')}`, { cause: signer.errors[0]?.err });
  }
  const signature = signer.signatureHeaders[0];
  // mailauth signs nothing, silently, when it never sees the blank line after the header.
  if (!signature) throw new DkimError('message has no header/body separator; nothing was signed');
  if (signer.fromCount === 0) throw new DkimError('message has no From header field, which DKIM must sign');
  // The over-signing hook leans on mailauth internals; make sure it still works.
  if (signedNames(signature).filter((n) => n === 'from').length !== signer.fromCount + 1) {
    throw new DkimError('From was not over-signed (has mailauth changed how it builds h=?)');
  }
  return `${signature.replace(/\r?\n/g, '\r\n').replace(/\r\n$/, '')}\r\n`;
}
