/**
 * events/post — one signed webhook request: encode the payload in the webhook's format,
 * sign it, POST it with a deadline, and say what came back. Used by the dispatcher for
 * outbox rows and by `mta webhook test`.
 *
 * Headers: X-Mta-Event (the event name), X-Mta-Timestamp (unix seconds, so receivers can
 * refuse replays), X-Mta-Signature (hex HMAC-SHA256 of `${timestamp}.${body}`) and, for
 * outbox rows, X-Mta-Delivery (the row id: the same on every retry, for deduplication).
 *
 * Only a 2xx answer counts as delivered; redirects are not followed. One connection per
 * request (no keep-alive pool), so a stopping daemon has no idle sockets to wait for.
 * The address dialled must pass the target policy (events/target.ts): private, loopback
 * and link-local receivers are refused unless configured, checked on the looked-up
 * address itself so DNS cannot swap it after a check.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { encodeBody, sign, type WebhookFormat, type WebhookPayload } from './payload.js';
import { checkedLookup, refusedLiteral, type TargetPolicy } from './target.js';

export interface PostTarget { url: string; secret: string; format: WebhookFormat }

export interface PostResult {
  ok: boolean;
  /** HTTP status; null when no answer came */
  status: number | null;
  /** the network error, or the start of a non-2xx answer's body */
  error: string | null;
  at: number;
  durationMs: number;
  /** cut short by the caller (shutdown): not an attempt */
  aborted: boolean;
}

const USER_AGENT = 'mta-webhook/1';
const EXCERPT = 200;

export function postEvent(target: PostTarget, payload: WebhookPayload, opts: { timeoutMs: number; policy: TargetPolicy; deliveryId?: number; signal?: AbortSignal }): Promise<PostResult> {
  const at = Date.now();
  const { body, contentType } = encodeBody(payload, target.format);
  const timestamp = Math.floor(at / 1000);
  const done = (r: Omit<PostResult, 'at' | 'durationMs' | 'aborted'>, aborted = false): PostResult =>
    ({ ...r, at, durationMs: Date.now() - at, aborted });
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    return Promise.resolve(done({ ok: false, status: null, error: `not a URL: ${target.url}` }));
  }
  // An IP in the URL is dialled without a lookup: checked here instead.
  const refused = refusedLiteral(url, opts.policy);
  if (refused) return Promise.resolve(done({ ok: false, status: null, error: `refused: ${refused}` }));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const finish = (r: PostResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const req = request(url, {
      method: 'POST',
      agent: false,
      lookup: checkedLookup(opts.policy),
      // Certificates are verified: a webhook carries the account's data.
      headers: {
        'content-type': contentType,
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': USER_AGENT,
        'x-mta-event': String(payload.event),
        'x-mta-timestamp': String(timestamp),
        'x-mta-signature': sign(target.secret, timestamp, body),
        ...(opts.deliveryId !== undefined ? { 'x-mta-delivery': String(opts.deliveryId) } : {}),
      },
    }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let excerpt = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { if (excerpt.length < EXCERPT) excerpt += c; });
      res.on('error', () => undefined);
      res.on('end', () => {
        const ok = status >= 200 && status < 300;
        finish(done({ ok, status, error: ok ? null : excerpt.replace(/\s+/g, ' ').trim().slice(0, EXCERPT) || null }));
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(done({ ok: false, status: null, error: `no answer within ${opts.timeoutMs} ms` }));
    }, opts.timeoutMs);
    const onAbort = (): void => {
      req.destroy();
      finish(done({ ok: false, status: null, error: 'aborted: shutting down' }, true));
    };
    if (opts.signal?.aborted) { onAbort(); return; }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e: Error) => finish(done({ ok: false, status: null, error: e.message })));
    req.end(body);
  });
}
