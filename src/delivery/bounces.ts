/**
 * delivery/bounces — the reply classification table: data, not code. Rows are tried in
 * order; the first whose pattern matches the reply text decides the category. The
 * seed's receiver table ("常见接收方退信代码", seeds/001) comes first, then DirectMail's
 * own delivery codes; RFC 3463 enhanced codes and the basic code are the fallback
 * (delivery/classify.ts).
 *
 * `permanent` says what a 5xx reply with this text means; a 4xx reply is always retried,
 * whatever its text, except where `finalEvenIf4xx` says the seed forbids retrying.
 */

export type BounceCategory =
  | 'delivered' | 'user_unknown' | 'invalid_address' | 'mailbox_full' | 'mailbox_restricted'
  | 'spam_block' | 'ip_blacklisted' | 'sender_blacklisted' | 'rate_limited' | 'greylisted'
  | 'message_too_large' | 'auth_failed' | 'dns' | 'network' | 'receiver_temporary' | 'policy' | 'other';

/** DirectMail's status: 0 delivered, 2 invalid address, 3 rejected as spam, 4 failed. */
export type DirectMailStatus = 0 | 2 | 3 | 4;

export interface BounceRule {
  category: BounceCategory;
  pattern: RegExp;
  status: DirectMailStatus;      // when final
  suppress?: boolean;            // add the recipient to the suppression list when final
  retryEvenIf5xx?: boolean;      // the seed says: pause and try later
  finalEvenIf4xx?: boolean;      // the seed says: do not retry
  slowDown?: boolean;            // the destination should be throttled for a while
}

const USER_UNKNOWN_TEXTS = [
  'account does not exist', 'invalid address', 'invalid mailbox', 'invalid recipient', 'invalid user',
  'is not a valid mailbox', 'is not a valid user', 'mailbox not found', 'no mailbox by that name',
  'no mailbox here by that name', 'no such address', 'no such mailbox', 'no such recipient', 'no such user',
  'recipient does not exist', 'recipient is not exist', 'recipient not found', 'recipient unknown',
  'unknown or illegal alias', 'unknown user', 'user not exist', 'user not found', 'user unknown',
  'recipient address rejected', 'nosuchuser', 'delivery error: dd', 'account has been disabled',
  "doesn' t have a", "doesn't have a", 'address rejected: user', 'mailbox unavailable: user',
];

function anyOf(texts: readonly string[]): RegExp {
  return new RegExp(texts.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'i');
}

export const BOUNCE_RULES: readonly BounceRule[] = [
  // DirectMail's own delivery-side codes (seed: 524/526/423/427). 524 and 526 fail the
  // recipient but never suppress it: they are what our resolver said about the whole domain
  // once (a resolver that cannot see it, a lapsed registration, a DNS outage), not what a
  // receiver said about the address; the next message asks DNS again.
  // Our own replies carry an enhanced code after the basic one (dns/mx.ts).
  { category: 'dns', pattern: /^524 (?:5\.\d{1,3}\.\d{1,3} )?Host not found by dns resolve/i, status: 2, finalEvenIf4xx: true },
  { category: 'dns', pattern: /^526 (?:5\.\d{1,3}\.\d{1,3} )?No data by dns resolve/i, status: 2, finalEvenIf4xx: true },
  { category: 'dns', pattern: /^423 Dns resolve error/i, status: 4 },
  { category: 'network', pattern: /^427 .*UNREACHABLE|^427 Socks Connect/i, status: 4 },
  // Receivers' codes, seed table order.
  { category: 'greylisted', pattern: /gr[ea]y ?list|grey bounce|come back later/i, status: 4, slowDown: true },
  { category: 'rate_limited', pattern: /frequency limited|HL:I[CF]C|RP-00[123]|MI:SFQ|MI:STC|RP:TRC|rate limit|too many (connections|messages|mails)|4\.7\.28/i, status: 4, retryEvenIf5xx: true, slowDown: true },
  { category: 'mailbox_full', pattern: /over ?quota|mailbox is full|mailbox limit exceeded|exceed mailbox quota|quota exceeded|[45]\.2\.2\b/i, status: 4 },
  { category: 'sender_blacklisted', pattern: /rejected by recipients|sender in prison|user in blacklist/i, status: 3 },
  { category: 'ip_blacklisted', pattern: /DT:RBL|HL:IPB|DY-00[12]|OU-00[12]|SC-00[34]|\bRBL\b|blacklist|ip in pris[io]+n|spamhaus|blocked using|connections will not be accepted from|IP .* is blocked/i, status: 3 },
  { category: 'spam_block', pattern: /\bspam\b|DT:SPM|SC-001|will not accept delivery of this message|content denied|message not allowed|temporarily deferred|5\.7\.515|as spam/i, status: 3 },
  { category: 'user_unknown', pattern: anyOf(USER_UNKNOWN_TEXTS), status: 2, suppress: true },
  { category: 'mailbox_restricted', pattern: /mailbox unavailable or access denied|^450 4\.2\.1/i, status: 4, retryEvenIf5xx: true, slowDown: true },
  { category: 'message_too_large', pattern: /message too large|exceeded mailsize limit|message size exceeds|size limit/i, status: 4 },
  { category: 'invalid_address', pattern: /bad address syntax|MI:IMF|bad recipient address syntax/i, status: 2, suppress: true },
  { category: 'auth_failed', pattern: /\bspf\b|\bdkim\b|\bdmarc\b/i, status: 4 },
  { category: 'receiver_temporary', pattern: /temporarily unavailable|temporarily not available|temporarily unable|service is currently unavailable|unexpected closed|try again later/i, status: 4 },
];
