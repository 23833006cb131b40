/**
 * delivery/classify — what a remote reply means for one recipient: retry or not, the
 * DirectMail status, a category, whether to suppress the address and whether to slow the
 * destination down. Table first (delivery/bounces.ts), then RFC 3463 enhanced codes,
 * then the basic code. The scheduler alone decides when a retry happens.
 */
import { BOUNCE_RULES, type BounceCategory, type DirectMailStatus } from './bounces.js';

export interface ReplyClass {
  retry: boolean;
  status: DirectMailStatus;
  category: BounceCategory;
  suppress: boolean;
  slowDown: boolean;
  code: number;
  enhanced: string | null;
}

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

function byEnhanced(cls: string, subject: number, detail: number): { category: BounceCategory; status: DirectMailStatus; suppress: boolean } {
  if (subject === 1) {
    // 5.1.1 bad mailbox, 5.1.2 bad system, 5.1.3 bad syntax, 5.1.6 moved, 5.1.10 null MX
    const bad = [1, 2, 3, 6, 10].includes(detail);
    return { category: detail === 3 ? 'invalid_address' : 'user_unknown', status: bad ? 2 : 4, suppress: bad && cls === '5' };
  }
  if (subject === 2) {
    if (detail === 2) return { category: 'mailbox_full', status: 4, suppress: false };
    if (detail === 1) return { category: 'user_unknown', status: 2, suppress: true }; // mailbox disabled
    if (detail === 3) return { category: 'message_too_large', status: 4, suppress: false };
    return { category: 'mailbox_restricted', status: 4, suppress: false };
  }
  if (subject === 3) return { category: detail === 4 ? 'message_too_large' : 'receiver_temporary', status: 4, suppress: false };
  if (subject === 4) return { category: detail === 4 ? 'dns' : 'network', status: 4, suppress: false };
  if (subject === 7) {
    if (detail === 1) return { category: 'policy', status: 3, suppress: false };
    if ([23, 25, 26, 27].includes(detail)) return { category: 'auth_failed', status: 4, suppress: false };
    return { category: 'policy', status: 4, suppress: false };
  }
  return { category: 'other', status: 4, suppress: false };
}

/** Classifies one reply line (or several joined), e.g. "550 5.1.1 <a@b>: user unknown". */
export function classifyReply(text: string): ReplyClass {
  const t = text.replace(/\s+/g, ' ').trim();
  const code = Number(/^(\d{3})/.exec(t)?.[1] ?? 0);
  const enh = ENHANCED.exec(t);
  const enhanced = enh ? enh[0] : null;
  if (code >= 200 && code < 300) {
    return { retry: false, status: 0, category: 'delivered', suppress: false, slowDown: false, code, enhanced };
  }
  const transient = code >= 400 && code < 500;
  for (const rule of BOUNCE_RULES) {
    if (!rule.pattern.test(t)) continue;
    const retry = rule.finalEvenIf4xx ? false : transient || !!rule.retryEvenIf5xx;
    return { retry, status: rule.status, category: rule.category, suppress: !retry && !!rule.suppress, slowDown: !!rule.slowDown, code, enhanced };
  }
  if (enh) {
    const e = byEnhanced(enh[1]!, Number(enh[2]), Number(enh[3]));
    const retry = enh[1] === '4' || transient;
    return { retry, status: e.status, category: e.category, suppress: !retry && e.suppress, slowDown: false, code, enhanced };
  }
  if (transient || code === 0) return { retry: true, status: 4, category: code === 0 ? 'network' : 'other', suppress: false, slowDown: false, code, enhanced };
  return { retry: false, status: 4, category: 'other', suppress: false, slowDown: false, code, enhanced };
}
