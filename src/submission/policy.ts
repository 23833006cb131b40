/**
 * submission/policy — the rules both submission front-ends apply, SMTP (listener.ts) and
 * the HTTP send API (admin/send-service.ts), so that a message gets the same answer
 * whichever way it comes: may this sender send now (exists, enabled, domain verified),
 * and which reply an intake refusal becomes. Answers are reply names from replies.ts;
 * each front-end turns them into its own wire format.
 */
import type { Config } from '../config/config.js';
import type { TagStore } from '../spool/types-tags.js';
import type { DomainStore } from '../spool/types-domains.js';
import type { SenderRecord } from '../spool/types-senders.js';
import type { IntakeResult } from '../intake/intake.js';
import type { ReplyName } from '../mail/replies.js';
import { Tags } from '../templates/tags.js';
import { errorEntry, isMtaError } from '../util/errors.js';

export interface Refusal { reply: ReplyName; detail?: string | undefined }

/**
 * Why `sender` (as read from the store just now) may not send, or undefined when it may.
 * The domain check says what fails, from the last DNS check, so the user knows what to
 * publish.
 */
export async function senderRefusal(store: Pick<DomainStore, 'getDomain' | 'getDomainChecks'>, config: Config, sender: SenderRecord | undefined, address: string): Promise<Refusal | undefined> {
  if (!sender) return { reply: 'SENDER_MISMATCH', detail: `${address} is not a sender address here` };
  if (sender.disabled) return { reply: 'SENDER_DISABLED' };
  if (!config.domains.requireVerified) return undefined;
  const d = await store.getDomain(sender.domain);
  if (d && d.status === 'verified') return undefined;
  const required = ['ownership', 'spf', 'dkim'];
  const failing = (await store.getDomainChecks(sender.domain))
    .filter((c) => required.includes(c.name) && c.status !== 'ok')
    .sort((a, b) => required.indexOf(a.name) - required.indexOf(b.name)).map((c) => `${c.name} ${c.status}`);
  const what = failing.length ? failing.join(', ') : 'not checked yet';
  return { reply: 'DOMAIN_NOT_VERIFIED', detail: `${sender.domain}: ${what} (run "mta domain check ${sender.domain}")` };
}

/**
 * The tag check intake applies to a message's X-Mta-Tag (SMTP) or `tag` (send API): known
 * tags pass; unknown ones are refused (UNKNOWN_TAG) unless `[tags] auto_create`.
 */
export function tagCheck(store: Pick<TagStore, 'addTag' | 'getTag' | 'listTags' | 'removeTag'>, config: () => Config): (tag: string) => Promise<string | undefined> {
  const tags = new Tags(store);
  return (tag) => tags.admit(tag, config().tags.autoCreate);
}

/** The reply for a message intake refused; the detail is only shown where it helps the sender. */
export function intakeRefusal(result: Extract<IntakeResult, { ok: false }>): Refusal {
  const reply = ((): ReplyName => {
    switch (result.reason) {
      case 'too-big': return 'TOO_BIG';
      case 'bare-cr': case 'bare-lf': case 'nul': case 'line-too-long': return 'BAD_CONTENT';
      case 'header-too-big': return 'HEADER_TOO_BIG';
      case 'bad-mime': return 'BAD_MIME';
      case 'identity': return result.identityProblem?.header === 'from' ? 'FROM_REFUSED' : 'IDENTITY_REFUSED';
      case 'tag': return 'UNKNOWN_TAG';
      case 'tracking': return 'TRACKING_REFUSED';
      case 'store': return storeReply(result.error);
    }
  })();
  const hidden = reply === 'TOO_BIG' || reply === 'NO_STORAGE' || reply === 'LOCAL_ERROR';
  return { reply, ...(hidden ? {} : { detail: result.detail }) };
}

/**
 * The reply for a store that failed: the catalogue's (mail/errors.ts) for a coded storage
 * error (a full disk is 452 4.3.1), 451 4.3.0 for anything else.
 */
export function storeReply(e: unknown): ReplyName {
  return (isMtaError(e) ? errorEntry(e.code).smtp : undefined) ?? 'LOCAL_ERROR';
}
