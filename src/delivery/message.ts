/**
 * delivery/message — what delivery needs to know about a spooled message before sending
 * it: its header block, the From domain (whose DKIM key signs it) and the signature. Signing
 * reads the body once from the spool; the result is kept in a small LRU so a message going
 * to several domains is signed once.
 */
import { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';
import type { Logger } from 'pino';
import type { QueueId } from '../util/ids.js';
import type { Store } from '../spool/types.js';
import { dkimSignature } from './dkim.js';

/** The header block of a stored message (CRLF separated, without the blank line). */
export async function headerBlock(body: AsyncIterable<Buffer>, max = 1024 * 1024): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += chunk.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end >= 0) return text.slice(0, end);
    if (text.length > max) break;
  }
  return text.replace(/\r\n$/, '');
}

/** The unfolded value of the first header field `name`, or undefined. */
export function headerField(block: string, name: string): string | undefined {
  const re = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r\\n[ \\t].*)*)`, 'im');
  const m = re.exec(block);
  return m ? m[1]!.replace(/\r\n(?=[ \t])/g, '').trim() : undefined;
}

export function fromDomainOf(block: string): string | null {
  const from = headerField(block, 'from');
  if (!from) return null;
  const parsed = addressparser(Buffer.from(from, 'latin1').toString('utf8'), { flatten: true });
  const addr = parsed[0]?.address;
  const at = addr?.lastIndexOf('@') ?? -1;
  return addr && at > 0 ? addr.slice(at + 1).toLowerCase() : null;
}

export interface MessageInfo {
  headers: string;
  fromDomain: string | null;
  /** "DKIM-Signature: ...\r\n", or null when the From domain has no key here */
  signature: string | null;
  signError?: string;
}

export class MessageCache {
  private readonly entries = new Map<QueueId, Promise<MessageInfo>>();

  constructor(private readonly store: Store, private readonly log: Logger, private readonly max = 256) {}

  get(id: QueueId): Promise<MessageInfo> {
    const hit = this.entries.get(id);
    if (hit) {
      // Re-insert: Map order is the LRU order.
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit;
    }
    const p = this.load(id);
    this.entries.set(id, p);
    p.catch(() => this.entries.delete(id));
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return p;
  }

  forget(id: QueueId): void { this.entries.delete(id); }

  private async load(id: QueueId): Promise<MessageInfo> {
    const headers = await headerBlock(this.store.readBody(id));
    const fromDomain = fromDomainOf(headers);
    const domain = fromDomain ? await this.store.getDomain(fromDomain) : undefined;
    if (!domain) return { headers, fromDomain, signature: null };
    try {
      const signature = await dkimSignature(this.store.readBody(id), {
        domain: domain.name, selector: domain.dkimSelector, algorithm: domain.dkimAlgorithm, privateKeyPem: domain.dkimPrivateKey,
      });
      return { headers, fromDomain, signature };
    } catch (e) {
      // Unsigned mail is still better delivered than lost; the event records why.
      this.log.error({ queue_id: id, domain: domain.name, err: (e as Error).message }, 'DKIM signing failed; sending unsigned');
      return { headers, fromDomain, signature: null, signError: (e as Error).message };
    }
  }
}

/** The bytes to put on the wire: the signature, then the stored message, streamed. */
export function wireBody(store: Store, id: QueueId, info: MessageInfo): Readable {
  return Readable.from((async function* () {
    if (info.signature) yield Buffer.from(info.signature, 'latin1');
    yield* store.readBody(id);
  })(), { objectMode: false });
}
