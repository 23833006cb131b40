/**
 * tracking/links — rewrites the text of one body part: every http(s) link of HTML (`<a>`
 * and `<area>` href) and, when asked, of plain text, becomes a click-tracking link, and
 * the open pixel goes before the last `</body>` (appended when there is none). Works on the
 * decoded part as a latin1 string, so any ASCII-compatible charset (UTF-8, ISO-8859-*)
 * passes through byte for byte: URLs are ASCII and multi-byte sequences hold no ASCII.
 *
 * Never rewritten: unsubscribe links, `mailto:` and other schemes, in-page anchors, links
 * marked `data-mta-notrack`, and links that already point at our tracking paths.
 * Must never: change anything in a part but link targets and the inserted pixel/honeypot.
 */

export interface LinkRewriter {
  /** the tracking URL for the link; `index` numbers the message's tracked links from 0 */
  click(url: string, index: number): string;
  /** the open pixel's URL, when opens are tracked */
  pixel?: string | undefined;
  /** a hidden link that no person can see or click (clicks are tracked) */
  honeypot?: string | undefined;
  /** links that must stay as they are (unsubscribe, our own tracking links) */
  keep(url: string): boolean;
}

/** Numbers the links across all parts of one message. */
export class LinkCounter { n = 0; }

const TAG = /<(a|area)\b((?:[^>"']|"[^"]*"|'[^']*')*)>/gi;
const HREF = /(^|\s)(href\s*=\s*)("([^"]*)"|'([^']*)'|([^\s"'>]+))/i;
const NOTRACK = /(^|\s)data-mta-notrack(?=[\s=/]|$)/i;
const HTTP = /^https?:\/\/[^\s]/i;

function decodeEntities(s: string): string {
  return s.replace(/&(amp|#0*38|#x0*26);/gi, '&').replace(/&#(\d+);/g, (m, d: string) => (Number(d) < 128 ? String.fromCharCode(Number(d)) : m))
    .replace(/&#x([0-9a-f]+);/gi, (m, h: string) => (parseInt(h, 16) < 128 ? String.fromCharCode(parseInt(h, 16)) : m));
}

function escapeAttr(s: string): string { return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;'); }

function trackable(url: string, r: LinkRewriter): boolean {
  return HTTP.test(url) && !r.keep(url);
}

export function rewriteHtml(html: string, r: LinkRewriter, counter: LinkCounter, clicks: boolean): string {
  let out = clicks ? html.replace(TAG, (whole, _name: string, attrs: string) => {
    if (NOTRACK.test(attrs)) return whole;
    const m = HREF.exec(attrs);
    if (!m) return whole;
    const url = decodeEntities((m[4] ?? m[5] ?? m[6] ?? '').trim());
    if (!trackable(url, r)) return whole;
    const tracked = r.click(url, counter.n++);
    const start = m.index + m[1]!.length;
    const attrsOut = `${attrs.slice(0, start)}${m[2]}"${escapeAttr(tracked)}"${attrs.slice(start + m[2]!.length + m[3]!.length)}`;
    return `${whole.slice(0, whole.length - attrs.length - 1)}${attrsOut}>`;
  }) : html;
  const extra = (r.honeypot && clicks ? `<a href="${escapeAttr(r.honeypot)}" style="display:none !important;font-size:0;line-height:0" aria-hidden="true" tabindex="-1"></a>` : '')
    + (r.pixel ? `<img src="${escapeAttr(r.pixel)}" width="1" height="1" alt="" border="0" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0" />` : '');
  if (!extra) return out;
  const end = out.toLowerCase().lastIndexOf('</body');
  out = end >= 0 ? `${out.slice(0, end)}${extra}${out.slice(end)}` : `${out}${extra}`;
  return out;
}

const TEXT_URL = /\bhttps?:\/\/[^\s<>"]+/gi;

export function rewriteText(text: string, r: LinkRewriter, counter: LinkCounter): string {
  return text.replace(TEXT_URL, (found: string) => {
    // Sentence punctuation after a URL is not part of it.
    const url = found.replace(/[.,;:!?)\]'}]+$/, '');
    if (!trackable(url, r)) return found;
    return `${r.click(url, counter.n++)}${found.slice(url.length)}`;
  });
}
