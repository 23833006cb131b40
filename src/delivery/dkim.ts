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
 *
 * The last step, the signature itself, is ours too (OverSigningSigner.finalize), for speed:
 * mailauth parses the PEM key again for every message (~0.6 ms for RSA-2048) and signs
 * synchronously on the event loop (~1.2 ms). We keep parsed keys (KeyObjects, by PEM; RSA-2048
 * then costs 0.21 ms) and, on the event loop, sign with crypto.sign's callback form, which
 * runs on libuv's thread pool, so the daemon keeps answering SMTP while RSA works on the
 * other core. A DKIM thread (dkim-thread.ts) signs inline. Canonicalization, h= and the
 * header formatting remain mailauth's.
 */
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import signerModule from 'mailauth/lib/dkim/dkim-signer.js';
import toolsModule from 'mailauth/lib/tools.js';
import headerModule from 'mailauth/lib/dkim/header/index.js';

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
interface SignatureData { signingDomain: string; selector: string; privateKey: string; algorithm: string; canonicalization: string; maxBodyLength?: number | '' }
interface MailauthSigner extends Writable {
  /** mailauth's MessageParser state: 'header' until the blank line, then 'body' */
  state: 'header' | 'body';
  /** the last (up to four) bytes of the header seen so far, for an end split across chunks */
  stateBytes: number[];
  headerChunks: Buffer[];
  processChunk(chunk: Buffer): Promise<void>;
  nextChunk(chunk: Buffer): Promise<void>;
  signatureHeaders: string[];
  errors: SignerError[];
  headers: ParsedHeaders | undefined;
  headerList: string;
  signTime: Date;
  signatureData: SignatureData[];
  bodyHashes: Map<string, { hash: string | null }>;
  messageHeaders(headers: ParsedHeaders): Promise<void>;
  finalize(): Promise<void>;
}
interface SignerOptions {
  canonicalization: string;
  headerList: string;     // colon separated: the typings say string[], but an array is silently ignored
  signTime: Date;
  signatureData: SignatureData[];
}
interface SigningLines { keys: string; headers: ParsedHeader[] }

const { DkimSigner } = signerModule as { DkimSigner: new (opts: SignerOptions) => MailauthSigner };
const { getSigningHeaderLines, formatSignatureHeaderLine, parseHeaders } = toolsModule as {
  parseHeaders(buf: Buffer): ParsedHeaders;
  getSigningHeaderLines(parsed: ParsedHeader[], headerList: string): SigningLines;
  formatSignatureHeaderLine(type: 'DKIM', values: Record<string, unknown>, folded: boolean): string;
};
const { generateCanonicalizedHeader } = headerModule as {
  generateCanonicalizedHeader(type: 'DKIM', lines: SigningLines, opts: Record<string, unknown>): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, unknown> };
};

const LF = 0x0a;
const CR = 0x0d;

/** Parsed private keys by PEM text: a domain's key is parsed once, not once per message. */
const KEYS = new Map<string, KeyObject>();
const MAX_KEYS = 1000;

function privateKeyFor(pem: string): KeyObject {
  let key = KEYS.get(pem);
  if (!key) {
    key = createPrivateKey({ key: pem, format: 'pem' });
    if (KEYS.size >= MAX_KEYS) KEYS.clear();
    KEYS.set(pem, key);
  }
  return key;
}

/** crypto.sign on the thread pool. */
function signOffThread(algorithm: string | null, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => sign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/**
 * mailauth builds h= by joining the `casedKey` of every signed field, bottom-up. Giving
 * the topmost From the name "From: From" adds the extra, empty entry to h= without
 * touching the canonicalized header text, which is built from `line` alone. Verifiers
 * match h= entries bottom-up, so the extra entry matches "no field" as RFC 6376 §5.4.2
 * requires — until someone adds another From, which then fails verification.
 */
class OverSigningSigner extends DkimSigner {
  fromCount = 0;
  /** sign on the calling thread (a DKIM thread), not on libuv's pool */
  inline = false;

  /**
   * mailauth's search for the end of the header (MessageParser.processChunk), without its
   * garbage: it pushed every header byte into an array and sliced that array to its last four
   * entries, byte after byte, ~50 KB per 2 KB message and most of a DKIM thread's allocation
   * (bench/RESULTS.md). Here line ends are found with memchr; the state kept between chunks
   * (`stateBytes`, an end split across two chunks) and what is handed on are mailauth's.
   */
  override async processChunk(chunk: Buffer): Promise<void> {
    if (this.state !== 'header' || !chunk?.length) return super.processChunk(chunk);
    const before = this.stateBytes;
    const at = (i: number): number | undefined => (i >= 0 ? chunk[i] : before[before.length + i]);
    for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) {
      const b1 = at(i - 1);
      if (b1 !== LF && !(b1 === CR && at(i - 2) === LF)) continue;
      this.state = 'body';
      this.headerChunks.push(i === chunk.length - 1 ? chunk : chunk.subarray(0, i + 1));
      this.headers = parseHeaders(Buffer.concat(this.headerChunks));
      await this.messageHeaders(this.headers);
      if (i < chunk.length - 1) await this.nextChunk(chunk.subarray(i + 1));
      return;
    }
    this.stateBytes = [...before, ...chunk.subarray(-4)].slice(-4);
    this.headerChunks.push(chunk);
  }

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

  /**
   * Replaces mailauth's finalize (which runs after the body hash is complete): the same
   * canonicalized header and signature field, from a cached key, signed off the event loop.
   * DKIM only (we never ask for ARC) and relaxed/relaxed, without l=.
   */
  override async finalize(): Promise<void> {
    for (const sd of this.signatureData) {
      try {
        if (!this.headers) throw new DkimError('no header block');
        const [signAlgo, hashAlgo] = sd.algorithm.split('-') as [string, string];
        const key = privateKeyFor(sd.privateKey);
        if (key.asymmetricKeyType !== signAlgo) throw new DkimError(`Invalid key type: "${key.asymmetricKeyType}" (expecting "${signAlgo}")`);
        const bodyCanon = sd.canonicalization.split('/')[1] ?? 'simple';
        const bodyHash = this.bodyHashes.get(`${bodyCanon}:${hashAlgo}:${sd.maxBodyLength ?? ''}`)?.hash;
        if (!bodyHash) throw new DkimError('the body hash was not computed');
        const { canonicalizedHeader, dkimHeaderOpts } = generateCanonicalizedHeader('DKIM', getSigningHeaderLines(this.headers.parsed, this.headerList), {
          ...sd, algorithm: sd.algorithm, canonicalization: sd.canonicalization, signTime: this.signTime, bodyHash,
        });
        // RFC 8463: ed25519-sha256 signs the SHA-256 of the canonicalized header.
        const [algo, data] = signAlgo === 'rsa'
          ? [sd.algorithm, canonicalizedHeader]
          : [null, createHash('sha256').update(canonicalizedHeader).digest()];
        // A DKIM thread signs inline (dkim-thread.ts: a hand-over to libuv's pool and back cost
        // more than the 0.21 ms of RSA); on the event loop the signature goes to the pool.
        const signature = this.inline ? sign(algo, data, key) : await signOffThread(algo, data, key);
        dkimHeaderOpts['b'] = signature.toString('base64');
        this.signatureHeaders.push(formatSignatureHeaderLine('DKIM', dkimHeaderOpts, true));
      } catch (err) {
        this.errors.push({ selector: sd.selector, signingDomain: sd.signingDomain, err: err as Error });
      }
    }
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
 * Runs `message` through the signer. Chunks already in memory (a DKIM thread's) are written
 * straight in: stream/promises' pipeline made an AbortController per message and aborted it
 * when done, and the DOMException that creates, stack trace and all, cost the DKIM thread
 * more CPU than the body's canonicalization (bench/RESULTS.md). A stream from the spool keeps
 * the pipeline, for its back-pressure.
 */
async function feed(signer: Writable, message: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
  if (!(Symbol.iterator in message)) return pipeline(Readable.from(message), signer);
  await new Promise<void>((resolve, reject) => {
    signer.once('error', reject).once('finish', resolve);
    for (const chunk of message) signer.write(chunk);
    signer.end();
  });
}

/**
 * Returns the complete "DKIM-Signature: ..." header field, folded, ending in CRLF.
 * relaxed/relaxed; rsa-sha256 or ed25519-sha256. `message` is the raw message (CRLF line
 * ends), read once: streamed from the spool, or chunks already in memory (a DKIM thread).
 */
export async function dkimSignature(
  message: AsyncIterable<Buffer> | Iterable<Buffer>, key: DkimKey, opts: { now?: Date; headerList?: string[]; inline?: boolean } = {},
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
  signer.inline = opts.inline ?? false;
  try {
    await feed(signer, message);
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
