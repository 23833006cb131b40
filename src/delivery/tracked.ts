/**
 * delivery/tracked — sends a tracked message (X-Mta-Track) to the recipients of one job:
 * each recipient's copy has its own links, so each gets its own transaction on the
 * session (MAIL FROM, one RCPT, DATA), with its copy rewritten (tracking/copies.ts) and
 * then DKIM-signed: the signature covers the rewritten body.
 *
 * A refused transaction is reset before the next one. When the session fails part-way, the
 * error carries the replies of the recipients already sent (`partial`), so those are not
 * sent again. Without a tracking host (public.base_url removed since intake) the copies go
 * out untracked, the X-Mta-Track header still taken off, and the outcome says so.
 *
 * Must never: send one recipient's copy to another, or send the stored message unsigned
 * when its domain has a key.
 */
import { Readable } from 'node:stream';
import type { Lane, QueueEntry } from '../spool/types-queue.js';
import type { Store } from '../spool/types.js';
import type { QueueId } from '../util/ids.js';
import type { MessageCache, MessageInfo } from './message.js';
import type { DkimKey } from './dkim.js';
import type { SendResult, SmtpSession } from './transport.js';
import { TrackedCopies } from '../tracking/copies.js';
import type { Config } from '../config/config.js';

export type PartialSendError = Error & { partial?: Map<string, string> };

export class TrackedSender {
  readonly copies: TrackedCopies;

  constructor(config: () => Config, private readonly store: Store, private readonly messages: MessageCache) {
    this.copies = new TrackedCopies(config, store);
  }

  private async stored(id: QueueId): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.store.readBody(id)) parts.push(c);
    return Buffer.concat(parts);
  }

  /** The copy's DKIM-Signature line; unsigned mail is still better delivered than lost, and the outcome says why. */
  private async signed(copy: Buffer, key: DkimKey, lane: Lane, detail: Record<string, unknown>): Promise<string> {
    try {
      return await this.messages.sign((async function* () { yield copy; })(), key, lane);
    } catch (e) {
      detail['dkim'] = `error: ${(e as Error).message}`;
      return '';
    }
  }

  /** One transaction per recipient; `detail` gets what the outcome should record about tracking. */
  async send(session: SmtpSession, from: string, byWire: Map<string, QueueEntry>, info: MessageInfo & { tracking: NonNullable<MessageInfo['tracking']> }, job: { queueId: QueueId; lane: Lane }, detail: Record<string, unknown>,
    reference: (entry: QueueEntry) => string = () => ''): Promise<SendResult> {
    const message = await this.stored(job.queueId);
    const base = await this.copies.base(info.fromDomain);
    const track = base ? info.tracking : { opens: false, clicks: false };
    if (!base) detail['tracking'] = 'off: no tracking host (public.base_url)';
    const replies = new Map<string, string>();
    const accepted: string[] = [];
    for (const [wire, entry] of byWire) {
      try {
        const copy = await this.copies.copyFor(message, track, entry, base ?? '');
        const sig = Buffer.from(info.dkimKey ? await this.signed(copy, info.dkimKey, job.lane, detail) : '', 'latin1');
        // The feedback reference (feedback/reference.ts) goes after the signature, as on untracked mail: DKIM does not cover it.
        const ref = Buffer.from(reference(entry), 'latin1');
        const res = await session.send({ from, to: [wire], size: copy.length + sig.length + ref.length }, Readable.from([sig, ref, copy]));
        for (const [k, v] of res.replies) replies.set(k, v);
        accepted.push(...res.accepted);
        if (res.accepted.length === 0) await session.reset();
      } catch (e) {
        (e as PartialSendError).partial = replies;
        throw e;
      }
    }
    return { replies, accepted };
  }
}
