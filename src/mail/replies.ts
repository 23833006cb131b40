/**
 * mail/replies — every SMTP reply the submission listener sends on its own
 * account, with its enhanced status code (RFC 3463), and the catalogue error the send API
 * answers the same refusal with. Codes and texts follow the seeds (DirectMail), because
 * users search their logs for them. README's submission table is checked against this
 * file (test/catalogue-docs.test.ts).
 *
 * Must never: hold a reply text anywhere else; a new refusal is a new row here.
 */
import type { ErrorCode } from './errors.js';

/**
 * sep: between text and detail (default ": "); error: the catalogue code (mail/errors.ts)
 * the send API refuses with, and so its HTTP status (default MTA_ERR_REFUSED, 422).
 */
export interface Reply { code: number; enhanced: string; text: string; sep?: string; error?: ErrorCode }

export const REPLIES = {
  AUTH_FAILED:        { code: 535, enhanced: '5.7.8', text: 'Authentication failure' },
  AUTH_THROTTLED:     { code: 421, enhanced: '4.7.0', text: 'Too many failed logins from your address, try again later' },
  ACCOUNT_THROTTLED:  { code: 421, enhanced: '4.7.0', text: 'Too many failed logins for this account, try again later' },
  TOO_MANY_RCPTS:     { code: 556, enhanced: '5.5.3', text: 'The number of RCPTs is over size' },
  TOO_BIG:            { code: 557, enhanced: '5.3.4', text: 'The length of DATA content is achieved the maximum threshold', error: 'MTA_ERR_TOO_LARGE' },
  SUPPRESSED:         { code: 559, enhanced: '5.1.1', text: 'Invalid rcptto' },
  DAILY_QUOTA:        { code: 552, enhanced: '5.7.0', text: 'Daily sending quota exceeded', error: 'MTA_ERR_QUOTA' },
  MONTHLY_QUOTA:      { code: 552, enhanced: '5.7.0', text: 'Monthly sending quota exceeded', error: 'MTA_ERR_QUOTA' },
  SENDER_DISABLED:    { code: 551, enhanced: '5.7.1', text: 'Main account unavailable' },
  SENDER_MISMATCH:    { code: 553, enhanced: '5.7.1', text: 'Sender address is not the authenticated user' },
  NULL_SENDER:        { code: 553, enhanced: '5.7.1', text: 'Null sender is not allowed on submission' },
  DOMAIN_NOT_VERIFIED:{ code: 553, enhanced: '5.7.1', text: 'Domain not verified' },
  FROM_REFUSED:       { code: 553, enhanced: '5.7.1', text: 'From header refused' },
  IDENTITY_REFUSED:   { code: 553, enhanced: '5.7.1', text: 'Identity header refused' },
  ENCRYPTION_REQUIRED:{ code: 538, enhanced: '5.7.11', text: 'Encryption required for requested authentication mechanism' },
  IP_NOT_ALLOWED:     { code: 554, enhanced: '5.7.1', text: 'Your address is not allowed to connect', error: 'MTA_ERR_FORBIDDEN' },
  TOO_MANY_CONNS:     { code: 421, enhanced: '4.7.0', text: 'Too many connections from your address' },
  PROXY_REFUSED:      { code: 554, enhanced: '5.7.1', text: 'PROXY protocol header refused' },
  DEADLINE:           { code: 421, enhanced: '4.4.2', text: 'Session deadline exceeded, closing connection' },
  BAD_RCPT:           { code: 501, enhanced: '5.1.3', text: 'Bad recipient address syntax' },
  BAD_SENDER:         { code: 501, enhanced: '5.1.7', text: 'Bad sender address syntax' },
  BAD_CONTENT:        { code: 550, enhanced: '5.6.0', text: 'Message refused' },
  HEADER_TOO_BIG:     { code: 552, enhanced: '5.3.4', text: 'Header block too large', error: 'MTA_ERR_TOO_LARGE' },
  BAD_MIME:           { code: 554, enhanced: '5.6.0', text: 'Message structure cannot be parsed' },
  NO_STORAGE:         { code: 452, enhanced: '4.3.1', text: 'Insufficient system storage, try again later', error: 'MTA_ERR_UNAVAILABLE' },
  LOCAL_ERROR:        { code: 451, enhanced: '4.3.0', text: 'Local error in processing, try again later', error: 'MTA_ERR_UNAVAILABLE' },
  SHUTTING_DOWN:      { code: 421, enhanced: '4.3.2', text: 'Service shutting down, try again later', error: 'MTA_ERR_UNAVAILABLE' },
  UNKNOWN_TAG:        { code: 550, enhanced: '5.7.1', text: 'Unknown tag', sep: ' ', error: 'MTA_ERR_INVALID' },
  TRACKING_REFUSED:   { code: 554, enhanced: '5.6.0', text: 'Tracking refused', error: 'MTA_ERR_INVALID' },
  QUEUED:             { code: 250, enhanced: '2.0.0', text: 'Ok: queued as' },
} as const satisfies Record<string, Reply>;

export type ReplyName = keyof typeof REPLIES;

/**
 * Replies smtp-server gives on its own before our handlers run (its texts, not ours): listed
 * so that everything a client may see is in one place and the README can be checked.
 */
export const LIBRARY_REPLIES = {
  AUTH_REQUIRED:      { code: 530, enhanced: '5.7.0', text: 'Error: authentication Required' },
  SIZE_DECLARED:      { code: 552, enhanced: '5.3.4', text: 'Error: message exceeds fixed maximum message size' },
} as const satisfies Record<string, Reply>;

/**
 * The inbound listener's own replies (inbound/listener.ts): it takes nothing but our signed
 * bounce and unsubscribe addresses, and answers a spool error as submission does.
 */
export const INBOUND_REPLIES = {
  RELAY_DENIED:       { code: 550, enhanced: '5.7.1', text: 'relay not permitted' },
  TOO_MANY_RCPTS:     { code: 452, enhanced: '4.5.3', text: 'Too many recipients' },
  TOO_BIG:            { code: 552, enhanced: '5.3.4', text: 'Message too big for this server', sep: ' ' },
  LOCAL_ERROR:        REPLIES.LOCAL_ERROR,
  SHUTTING_DOWN:      REPLIES.SHUTTING_DOWN,
  RECORDED:           { code: 250, enhanced: '2.0.0', text: 'Ok: recorded' },
} as const satisfies Record<string, Reply>;

/** A reply's text after its basic code: the enhanced code, the text, and the detail if any. */
export function replyLine(r: Reply, detail?: string): string {
  return `${r.enhanced} ${r.text}${detail ? `${r.sep ?? ': '}${detail}` : ''}`;
}

/** An error smtp-server turns into a reply; the text carries our enhanced code. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  constructor(readonly reply: ReplyName, detail?: string) {
    const r: Reply = REPLIES[reply];
    super(replyLine(r, detail));
    this.responseCode = r.code;
  }
}

/** The same for a reply of another table (the inbound listener's). */
export function replyError(r: Reply, detail?: string): Error & { responseCode: number } {
  return Object.assign(new Error(replyLine(r, detail)), { responseCode: r.code });
}

export function replyText(name: ReplyName, detail?: string): string {
  const r: Reply = REPLIES[name];
  return `${r.code} ${r.enhanced} ${detail ?? r.text}`;
}

export const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
