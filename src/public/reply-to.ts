/**
 * public/reply-to — the pages of a reply-to verification link (`/reply-to/<token>`,
 * accounts/reply-to.ts holds the rules):
 *
 *   GET|HEAD  a page naming the sender and the address, with one button; changes nothing
 *             (mail scanners and previews fetch every link in a mail)
 *   POST      confirms: the address becomes the sender's verified reply-to; 200 and a page
 *
 * A link that does not open (cut, altered, not ours) is 400; one that ran out, was used,
 * or was replaced by a newer link or a change of address is 410, each with its own page
 * saying what to do. Must never: confirm on a GET, or say more than the link itself names.
 */
import type { ReplyTos, LinkVerdict } from '../accounts/reply-to.js';
import { errorPage, replyToConfirmPage, replyToDonePage } from './page.js';

export interface Page { status: number; html: string }

function refused(v: Extract<LinkVerdict, { ok: false }>): Page {
  const resend = 'Ask the sender to send a new link (mta sender reply-to resend).';
  switch (v.reason) {
    case 'invalid': return { status: 400, html: errorPage(400, 'This verification link is not valid') };
    case 'expired': return { status: 410, html: errorPage(410, 'This verification link has expired', `Links work for a few minutes only. ${resend}`) };
    case 'used': return { status: 410, html: errorPage(410, 'This verification link was already used', `${v.token?.address ?? 'The address'} was confirmed with it; nothing more to do.`) };
    case 'replaced': return { status: 410, html: errorPage(410, 'This verification link is no longer valid', `A newer link was sent, or the reply-to address was changed or removed. ${resend}`) };
  }
}

/** The page for `method` on the link `token` (the caller has checked the method is GET, HEAD or POST). */
export async function replyToPage(replyTos: ReplyTos, method: 'GET' | 'HEAD' | 'POST', token: string): Promise<Page> {
  const v = method === 'POST' ? await replyTos.confirm(token) : await replyTos.inspect(token);
  if (!v.ok) return refused(v);
  // Relative, so the form still works when a proxy serves us under a path prefix.
  if (method !== 'POST') return { status: 200, html: replyToConfirmPage(v.token.sender, v.token.address, token) };
  return { status: 200, html: replyToDonePage(v.token.sender, v.token.address) };
}
