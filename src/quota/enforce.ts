/**
 * quota/enforce — a quota verdict as a submission refusal, the same for SMTP (per RCPT,
 * counting the recipients already accepted in the transaction) and the send API (the
 * whole message): `552 5.7.0 Daily sending quota exceeded` or `... Monthly ...`, with a
 * detail only when the reputation cap or a ban is what refuses (the plain text is what
 * users search their logs for). The first refusal of a period emits `quota.reached`.
 */
import type { Refusal } from '../submission/policy.js';
import type { QuotaService } from './quota.js';

export async function quotaRefusal(quota: QuotaService | undefined, domain: string | undefined, count: number, now: number): Promise<Refusal | undefined> {
  if (!quota || !domain) return undefined;
  const v = await quota.check(domain, count, now);
  if (v.ok) return undefined;
  await quota.reached(domain, v.which, now, count);
  return { reply: v.which === 'daily' ? 'DAILY_QUOTA' : 'MONTHLY_QUOTA', detail: v.reason };
}
