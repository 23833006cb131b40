/**
 * tracking/request — what a message asks to track, decided once at intake: the
 * `X-Mta-Track` header (SMTP; the send API's `tracking` and a batch task's --tracking
 * become that header too), else the sending domain's default (`[[tracking.domain]]`).
 * The decision travels with the spooled message as a normalised `X-Mta-Track` header,
 * which delivery reads and takes off before signing (tracking/rewrite.ts).
 *
 * Must never: let tracked mail in without a tracking host (the links would lead nowhere),
 * or turn an unknown value into "no tracking" silently.
 */
import type { Config } from '../config/config.js';

export interface TrackSetting { opens: boolean; clicks: boolean }

export const TRACK_VALUES = ['opens', 'clicks', 'none'] as const;

/** The header's value for a setting ("opens, clicks"), or undefined when nothing is tracked. */
export function trackHeaderValue(t: TrackSetting): string | undefined {
  const v = [...(t.opens ? ['opens'] : []), ...(t.clicks ? ['clicks'] : [])].join(', ');
  return v || undefined;
}

/** The setting a header value names, or an error naming the unknown value. */
export function parseTrackHeader(value: string): TrackSetting | { error: string } {
  const words = value.split(/[\s,]+/).map((w) => w.trim().toLowerCase()).filter(Boolean);
  const bad = words.find((w) => !(TRACK_VALUES as readonly string[]).includes(w));
  if (bad !== undefined || words.length === 0) {
    return { error: `X-Mta-Track: ${bad === undefined ? 'empty value' : `unknown value "${bad.slice(0, 40)}"`}; use "opens", "clicks", "opens, clicks" or "none"` };
  }
  if (words.includes('none') && words.length > 1) return { error: 'X-Mta-Track: "none" cannot be combined with "opens" or "clicks"' };
  return { opens: words.includes('opens'), clicks: words.includes('clicks') };
}

/**
 * The tracking of a message from its X-Mta-Track lines and the sender's domain: undefined
 * for none, an error for a bad value or tracking without a tracking host.
 */
export function resolveTracking(lines: readonly string[], senderDomain: string,
  config: { tracking: Pick<Config['tracking'], 'domains'>; public: Pick<Config['public'], 'baseUrl'> } | undefined): { track?: TrackSetting; error?: string } {
  if (lines.length > 1) return { error: 'X-Mta-Track: give the header once' };
  const asked = lines.length === 1 ? parseTrackHeader(lines[0]!) : config?.tracking.domains.get(senderDomain.toLowerCase());
  if (asked && 'error' in asked) return { error: asked.error };
  if (!asked || (!asked.opens && !asked.clicks)) return {};
  if (!config?.public.baseUrl) return { error: 'tracking needs a tracking host: set public.base_url (a domain\'s tracking CNAME points at it)' };
  return { track: asked };
}
