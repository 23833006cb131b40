/**
 * accounts/reply-to — a sender's reply-to address is used only once its owner confirmed it
 * (DirectMail's 验证回信地址). Setting one stores it `pending` and queues a mail to it, from
 * the sender, with a link to the public endpoint (`public.base_url` + /reply-to/<token>)
 * that works once, for `reply_to.link_validity` (10 minutes). Opening the link shows a
 * page with a button; only the button's POST verifies (mail scanners fetch every link).
 * At most `reply_to.max_per_sender` such mails per sender and `max_per_address` to one
 * address per rolling hour: otherwise a stranger's mailbox could be flooded through us.
 *
 * States as users see them: none, pending (a link is out), expired (the link ran out:
 * `resend`), verified. Only a verified address goes into Reply-To (send API, batch tasks).
 *
 * The rules (states, limits, what a link means) are the pure functions here; the store
 * only records, with guards that make a check and its write one transaction.
 * Must never: verify on a GET, accept a link whose nonce is no longer the sender's
 * pending one (used, replaced, cleared), or mail an address past its limit.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { ReplyToRecord, ReplyToSend, SenderRecord } from '../spool/types-senders.js';
import { canonicalAddress, parseAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { newQueueId } from '../util/ids.js';
import { messageIdFor } from '../intake/headers.js';
import { senderRefusal } from '../submission/policy.js';
import { REPLIES } from '../mail/replies.js';
import { openReplyToToken, sealReplyToToken, type ReplyToToken } from './reply-to-token.js';
import { VERIFICATION_SUBJECT, verificationMail } from './reply-to-mail.js';

/** Where the public endpoint serves verification pages. */
export const REPLY_TO_PATH = '/reply-to/';
const HOUR_MS = 3_600_000;
/** Sends older than this are forgotten: far past every link and every rate window. */
const KEEP_SENDS_MS = 7 * 24 * HOUR_MS;

export type ReplyToState = 'none' | 'pending' | 'expired' | 'verified';

export interface ReplyToView {
  address: string | null;
  state: ReplyToState;
  /** pending/expired: when the current link was sent and runs out */
  sentAt: number | null;
  expiresAt: number | null;
  verifiedAt: number | null;
}

/** What a reply-to record means at `now`. */
export function replyToView(r: ReplyToRecord | null, now: number): ReplyToView {
  if (!r) return { address: null, state: 'none', sentAt: null, expiresAt: null, verifiedAt: null };
  if (r.state === 'verified') return { address: r.address, state: 'verified', sentAt: null, expiresAt: null, verifiedAt: r.verifiedAt };
  return { address: r.address, state: now > r.expiresAt ? 'expired' : 'pending', sentAt: r.sentAt, expiresAt: r.expiresAt, verifiedAt: null };
}

/** The address a Reply-To may carry for this sender: the verified one, else none. */
export function usableReplyTo(s: SenderRecord): string | undefined {
  return s.replyTo?.state === 'verified' ? s.replyTo.address : undefined;
}

/**
 * The send API's `reply_to` against the sender's own: undefined asks for the sender's
 * verified address (none: no Reply-To); a given address must be that verified address.
 */
export function replyToFor(s: SenderRecord, asked: string | undefined, now = Date.now()): string | undefined {
  if (asked === undefined) return usableReplyTo(s);
  const a = canonicalAddress(asked);
  if (!a) throw new MtaError('MTA_ERR_INVALID', `reply_to: "${asked}" is not an address`, 'reply_to');
  const mine = s.replyTo ? canonicalAddress(s.replyTo.address) : undefined;
  if (mine !== a) {
    throw new MtaError('MTA_ERR_REPLY_TO_UNVERIFIED', `reply_to: ${asked} is not the reply-to address of ${s.address}${s.replyTo ? ` (that is ${s.replyTo.address})` : ''}; set and verify it first: mta sender reply-to set ${s.address} ${asked}`, 'reply_to');
  }
  const v = replyToView(s.replyTo, now);
  if (v.state === 'verified') return s.replyTo!.address;
  const why = v.state === 'pending' ? `its verification link was mailed at ${iso(v.sentAt)} and has not been confirmed yet` : `its verification link ran out at ${iso(v.expiresAt)}; send a new one: mta sender reply-to resend ${s.address}`;
  throw new MtaError('MTA_ERR_REPLY_TO_UNVERIFIED', `reply_to: ${s.replyTo!.address} is not verified for ${s.address}: ${why}`, 'reply_to');
}

function iso(ms: number | null): string { return ms === null ? '?' : new Date(ms).toISOString(); }

export interface RateLimits { maxPerSender: number; maxPerAddress: number }

/** Which limit a new verification mail would break, and when it would not: undefined when none. */
export function rateRefusal(times: { sender: readonly number[]; address: readonly number[] }, limits: RateLimits, now: number): { scope: 'sender' | 'address'; retryAfterMs: number } | undefined {
  const check = (list: readonly number[], max: number): number | undefined => {
    const inWindow = list.filter((t) => t > now - HOUR_MS);
    if (inWindow.length < max) return undefined;
    // The oldest sends that must leave the window before one more fits.
    return Math.max(1000, inWindow[inWindow.length - max]! + HOUR_MS - now);
  };
  const bySender = check(times.sender, limits.maxPerSender);
  const byAddress = check(times.address, limits.maxPerAddress);
  if (bySender === undefined && byAddress === undefined) return undefined;
  return (byAddress ?? 0) > (bySender ?? 0) ? { scope: 'address', retryAfterMs: byAddress! } : { scope: 'sender', retryAfterMs: bySender! };
}

/** The refusal of a verification mail over its limit; `retryAfterS` for Retry-After. */
export class ReplyToRateError extends MtaError {
  constructor(message: string, readonly retryAfterS: number) { super('MTA_ERR_REPLY_TO_RATE', message); }
}

/** What a link is, judged against the spool and the clock. */
export type LinkVerdict =
  | { ok: true; token: ReplyToToken }
  | { ok: false; reason: 'invalid' | 'expired' | 'used' | 'replaced'; token?: ReplyToToken };

export function judgeLink(token: ReplyToToken | undefined, sender: SenderRecord | undefined, send: ReplyToSend | undefined, now: number): LinkVerdict {
  if (!token) return { ok: false, reason: 'invalid' };
  // Not our send (or forgotten long ago): a signed token without a record is still not a link we stand by.
  if (!send || send.sender !== token.sender || send.address !== token.address) return { ok: false, reason: 'invalid' };
  if (send.usedAt !== null) return { ok: false, reason: 'used', token };
  if (now > token.expiresAt) return { ok: false, reason: 'expired', token };
  const r = sender?.replyTo;
  if (!r || r.state !== 'pending' || r.nonce !== token.nonce || r.address !== token.address) return { ok: false, reason: 'replaced', token };
  return { ok: true, token };
}

export interface ReplyToDeps {
  store: Store;
  config: () => Config;
  secret: Buffer;
  now?: () => number;
  log?: Logger;
}

export class ReplyTos {
  private readonly now: () => number;

  constructor(private readonly deps: ReplyToDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * The checks setting `address` for `sender` must pass before anything is written
   * (also before `sender add` creates the sender): a valid address, a public endpoint for
   * the link. Returns the address in its stored form.
   */
  precheck(address: string): string {
    const a = parseAddress(address);
    if (!a) throw new MtaError('MTA_ERR_INVALID', `"${address}" is not a valid reply-to address`, 'reply_to');
    if (!this.deps.config().public.baseUrl) {
      throw new MtaError('MTA_ERR_STATE', 'public.base_url is not set: a reply-to address is verified through a link to the public endpoint; set [public] base_url first', 'reply_to');
    }
    return a.address;
  }

  /** Stores `address` as the sender's pending reply-to and mails it the link (a verified same address: nothing to do). */
  async set(senderAddress: string, address: string): Promise<SenderRecord> {
    const wanted = this.precheck(address);
    const s = await this.sender(senderAddress);
    if (s.replyTo?.state === 'verified' && canonicalAddress(s.replyTo.address) === canonicalAddress(wanted)) return s;
    return this.mail(s, wanted);
  }

  /** A new link to the current reply-to (the earlier one stops working); a verified one needs none. */
  async resend(senderAddress: string): Promise<SenderRecord> {
    const s = await this.sender(senderAddress);
    if (!s.replyTo) throw new MtaError('MTA_ERR_STATE', `${s.address} has no reply-to address; set one: mta sender reply-to set ${s.address} ADDRESS`);
    if (s.replyTo.state === 'verified') throw new MtaError('MTA_ERR_STATE', `${s.replyTo.address} is already verified for ${s.address}`);
    this.precheck(s.replyTo.address);
    return this.mail(s, s.replyTo.address);
  }

  /** No reply-to any more; a link still out stops working. */
  async clear(senderAddress: string): Promise<SenderRecord> {
    const s = await this.sender(senderAddress);
    await this.deps.store.setSenderReplyTo(s.address, null);
    return { ...s, replyTo: null };
  }

  /** What the link `token` is now (the GET page); changes nothing. */
  async inspect(token: string): Promise<LinkVerdict> {
    const t = openReplyToToken(this.deps.secret, token);
    if (!t) return { ok: false, reason: 'invalid' };
    const [sender, send] = await Promise.all([this.deps.store.getSender(t.sender), this.deps.store.getReplyToSend(t.nonce)]);
    return judgeLink(t, sender, send, this.now());
  }

  /** Confirms the link (the page's POST): the reply-to becomes verified, once. */
  async confirm(token: string): Promise<LinkVerdict> {
    const v = await this.inspect(token);
    if (!v.ok) return v;
    const now = this.now();
    // The guard re-checks nonce and expiry in the write: of two POSTs at once, one wins.
    if (!(await this.deps.store.confirmReplyTo(v.token.sender, v.token.nonce, now))) {
      const again = await this.inspect(token);
      return again.ok ? { ok: false, reason: 'replaced', token: v.token } : again;
    }
    this.deps.log?.info({ sender: v.token.sender, reply_to: v.token.address }, 'reply-to address verified');
    return v;
  }

  private async sender(address: string): Promise<SenderRecord> {
    const s = await this.deps.store.getSender(canonicalAddress(address) ?? address);
    if (!s) throw new MtaError('MTA_ERR_NOT_FOUND', `no sender ${address}`, 'address');
    return s;
  }

  /** Records the pending address (within the limits) and queues its verification mail. */
  private async mail(s: SenderRecord, address: string): Promise<SenderRecord> {
    const config = this.deps.config();
    const refused = await senderRefusal(this.deps.store, config, s, s.address);
    if (refused) {
      const r = REPLIES[refused.reply];
      throw new MtaError('MTA_ERR_STATE', `${s.address} cannot send the verification mail now: ${r.code} ${r.text}${refused.detail ? `: ${refused.detail}` : ''}`, 'address');
    }
    if (await this.deps.store.isSuppressed(address, s.domain)) {
      throw new MtaError('MTA_ERR_STATE', `${address} is on the suppression list for ${s.domain}: no verification mail can reach it (mta suppression remove ${address})`, 'reply_to');
    }
    const now = this.now();
    const limits = { maxPerSender: config.replyTo.maxPerSender, maxPerAddress: config.replyTo.maxPerAddress };
    const send = { nonce: randomBytes(16).toString('base64url'), sender: s.address, address, sentAt: now, expiresAt: Math.floor((now + config.replyTo.linkValidityMs) / 1000) * 1000 };
    const started = await this.deps.store.startReplyToVerification(send, { since: now - HOUR_MS, ...limits });
    if (!started) throw await this.rateError(s.address, address, limits, now);
    const previous = s.replyTo;
    const pending: SenderRecord = { ...s, replyTo: { address, state: 'pending', nonce: send.nonce, sentAt: now, expiresAt: send.expiresAt } };
    try {
      await this.queue(s, send, config);
    } catch (e) {
      // No mail, no pending address: the sender keeps what it had (the send still counts against the limits).
      await this.deps.store.setSenderReplyTo(s.address, previous).catch(() => undefined);
      throw e;
    }
    await this.deps.store.pruneReplyToSends(now - KEEP_SENDS_MS).catch(() => 0);
    return pending;
  }

  private async rateError(sender: string, address: string, limits: RateLimits, now: number): Promise<ReplyToRateError> {
    const refusal = rateRefusal(await this.deps.store.replyToSendTimes(sender, address, now - HOUR_MS), limits, now)
      ?? { scope: 'sender' as const, retryAfterMs: 1000 }; // a send in between made room and took it again
    const s = Math.ceil(refusal.retryAfterMs / 1000);
    const what = refusal.scope === 'sender'
      ? `${sender} has sent ${limits.maxPerSender} reply-to verification mails in the last hour (reply_to.max_per_sender)`
      : `${address} has been sent ${limits.maxPerAddress} reply-to verification mails in the last hour (reply_to.max_per_address)`;
    return new ReplyToRateError(`${what}; try again in ${s} s`, s);
  }

  private async queue(s: SenderRecord, send: Omit<ReplyToSend, 'usedAt'>, config: Config): Promise<void> {
    const token = sealReplyToToken(this.deps.secret, { sender: s.address, address: send.address, nonce: send.nonce, expiresAt: send.expiresAt });
    const link = `${config.public.baseUrl!.replace(/\/+$/, '')}${REPLY_TO_PATH}${token}`;
    // The spool's own times are the wall clock's (the scheduler's): only the link follows the injected one.
    const at = Date.now();
    const id = newQueueId(at);
    const messageId = messageIdFor(id, config.hostname);
    const message = await verificationMail({ sender: s.address, address: send.address, link, expiresAt: send.expiresAt, messageId, now: send.sentAt });
    await this.deps.store.commitIncoming({
      id, receivedAt: at, sender: s.address, authUser: null, clientIp: null, helo: null, messageId, subject: VERIFICATION_SUBJECT,
      size: message.length, lane: 'trigger', tag: null, chunks: [message], recipients: [send.address],
    });
    this.deps.log?.info({ sender: s.address, reply_to: send.address, queue_id: id, expires_at: new Date(send.expiresAt).toISOString() }, 'reply-to verification mail queued');
  }
}
