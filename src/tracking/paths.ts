/**
 * tracking/paths — where tracking links point: `<base>/o/<token>` (the open pixel) and
 * `<base>/c/<token>` (a click, or the honeypot link), under `public.base_url` or the
 * sending domain's tracking host. Shared by the rewriter and the public endpoint.
 */
export const OPEN_PATH = '/o/';
export const CLICK_PATH = '/c/';
/** the unsubscribe pages (public/unsubscribe-links.ts): never rewritten */
const KEPT_PATHS = ['/u/', OPEN_PATH, CLICK_PATH];

/** Whether `url` is one of ours under one of these bases (unsubscribe, tracking): such links stay as they are. */
export function isOwnLink(url: string, bases: readonly string[]): boolean {
  const lower = url.toLowerCase();
  return bases.some((b) => KEPT_PATHS.some((p) => lower.startsWith(`${b.replace(/\/+$/, '').toLowerCase()}${p}`)));
}
