/**
 * public/unsubscribe-links — what a message carries when unsubscribe is on: the
 * `List-Unsubscribe` header with an https link and a mailto address, the RFC 8058
 * `List-Unsubscribe-Post` header that lets mailbox providers unsubscribe with one POST,
 * and the footer link for the HTML and text bodies. Tokens: mail/tokens.ts.
 *
 * Pure functions: the batch-task expander calls them once per member.
 */
import { MAILTO_PREFIX, sealLinkToken, sealMailtoToken, type UnsubscribeTarget } from '../mail/tokens.js';

export interface UnsubscribeLinks { url: string; mailto: string; headers: Record<string, string> }

/** The path the public endpoint serves unsubscribe pages under. */
export const UNSUBSCRIBE_PATH = '/u/';

export function unsubscribeLinks(
  secret: Buffer, baseUrl: string, r: { address: string; senderDomain: string; queueId: string; mailtoDomain: string },
): UnsubscribeLinks {
  const target: UnsubscribeTarget = { address: r.address, senderDomain: r.senderDomain, queueId: r.queueId };
  const url = `${baseUrl.replace(/\/+$/, '')}${UNSUBSCRIBE_PATH}${sealLinkToken(secret, target)}`;
  const mailto = `mailto:${MAILTO_PREFIX}${sealMailtoToken(secret, target)}@${r.mailtoDomain.toLowerCase()}`;
  return {
    url, mailto,
    headers: {
      'List-Unsubscribe': `<${url}>, <${mailto}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A paragraph to put before `</body>`. */
export function footerHtml(url: string): string {
  return `<p style="margin-top:24px;font-size:12px;color:#777777;text-align:center">`
    + `If you no longer want to receive these emails, <a href="${escapeHtml(url)}" style="color:#777777">unsubscribe</a>.</p>`;
}

/** Lines to append to the text body. */
export function footerText(url: string): string {
  return `\n\n--\nIf you no longer want to receive these emails, unsubscribe: ${url}\n`;
}
