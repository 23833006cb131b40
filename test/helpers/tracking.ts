// Tracked mail for tests: submit it over SMTP, wait for its copies in a sink, read the HTML
// part back (whatever its transfer encoding) and hit its pixel and links with a real HTTP
// client against the public listener.
import type { Test } from 'tap';
import { request } from 'node:http';
import { allFinal, type World } from './delivery.js';
import { PASSWORD } from './daemon.js';
import { RawSmtp } from './smtp-client.js';
import type { Sink } from './sink.js';
import type { QueueId } from '../../src/util/ids.js';

export interface HttpReply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

export function http(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a kept-alive one may be closed by the server as it is reused (ECONNRESET).
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The path of a tracking URL (the public listener is reached on loopback, whatever host the mail names). */
export const urlPath = (url: string): string => new URL(url).pathname;

/** Submits one message as app@example.com; `headers` are header lines (CRLF-ended) after Subject. */
export async function submitTracked(port: number, rcpts: string[], headers: string, body: string): Promise<{ code: number; text: string }> {
  const c = await RawSmtp.connect(port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  for (const r of rcpts) await c.cmd(`RCPT TO:<${r}>`);
  const d = await c.data(Buffer.from(`From: app@example.com\r\nTo: ${rcpts[0]}\r\nSubject: tracked\r\n${headers}\r\n${body}.\r\n`));
  await c.quit();
  return d;
}

/** Submits and waits until every recipient is final; asserts all were delivered; each recipient's copy as the sink got it. */
export async function deliverTracked(t: Test, w: World, sink: Sink, rcpts: string[], headers: string, body: string): Promise<{ id: QueueId; copies: Map<string, string> }> {
  const r = await submitTracked(w.daemon.port, rcpts, headers, body);
  if (r.code !== 250) throw new Error(`DATA: ${r.text}`);
  const id = r.text.split(' ').pop() as QueueId;
  const m = await w.waitFor('delivered', async () => { const x = await w.message(id); return allFinal(x) && x; });
  const copies = new Map<string, string>();
  for (const msg of sink.messages) if (msg.raw.toString('latin1').includes(id)) for (const to of msg.to) copies.set(to, msg.raw.toString('latin1'));
  t.same(m.recipients.map((x) => x.state), rcpts.map(() => 'delivered'), 'every recipient delivered');
  return { id, copies };
}

/** A transfer-encoded body decoded (base64 / quoted-printable / 7bit). */
function decode(enc: string, body: string): string {
  if (enc === 'base64') return Buffer.from(body, 'base64').toString('utf8');
  if (enc === 'quoted-printable') return body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
  return body;
}

/** The decoded HTML part of a copy: the whole body of a single-part message, else its first text/html part. */
export function htmlOf(raw: string): string {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  if (!/^Content-Type: multipart/im.test(head)) return decode(/^Content-Transfer-Encoding: ([\w-]+)/im.exec(head)?.[1]?.toLowerCase() ?? '7bit', raw.slice(head.length + 4));
  const m = /Content-Type: text\/html; charset=utf-8\r\n(?:Content-Transfer-Encoding: ([\w-]+)\r\n)?\r\n([\s\S]*?)(?:\r\n--|$)/.exec(raw)!;
  return decode(m[1] ?? '7bit', m[2]!);
}

/** A copy's open pixel and click links (paths), in the order of the HTML; the hidden honeypot link is the last click. */
export function trackingPaths(raw: string): { pixel: string | undefined; clicks: string[] } {
  const html = htmlOf(raw);
  const pixel = /<img src="(https?:\/\/[^"]+\/o\/[^"]+)"/.exec(html)?.[1];
  return { pixel: pixel && urlPath(pixel), clicks: [...html.matchAll(/href="(https?:\/\/[^"]+\/c\/[^"]+)"/g)].map((x) => urlPath(x[1]!)) };
}
