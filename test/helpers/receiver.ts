/**
 * A webhook receiver for tests: a real node:http server on 127.0.0.1 that records every
 * request (headers, raw body) and answers per path as the test says: a status code, or
 * 'hang' (never answer until closed). It checks signatures the way the README tells
 * users to.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Received { path: string; headers: IncomingHttpHeaders; body: string; at: number; status: number | 'hang' }

/** How a path answers its n-th request (1-based). */
export type Behaviour = (n: number, body: string) => number | 'hang';

export interface Receiver {
  requests: Received[];
  url(path: string): string;
  on(path: string, b: Behaviour): void;
  /** requests to `path` that got a 2xx answer */
  acked(path: string): Received[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const behaviours = new Map<string, Behaviour>();
  const counts = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      const body = Buffer.concat(chunks).toString('utf8');
      const status = (behaviours.get(path) ?? (() => 200))(n, body);
      requests.push({ path, headers: req.headers, body, at: Date.now(), status });
      if (status === 'hang') { hanging.add(res); res.on('close', () => hanging.delete(res)); return; }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `nope ${n}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    requests,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    on: (path, b) => { behaviours.set(path, b); },
    acked: (path) => requests.filter((r) => r.path === path && typeof r.status === 'number' && r.status >= 200 && r.status < 300),
    close: () => new Promise((r) => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** The README's check: HMAC-SHA256(secret, timestamp + "." + body), hex, compared in constant time. */
export function verifySignature(r: Received, secret: string): boolean {
  const ts = String(r.headers['x-mta-timestamp'] ?? '');
  const sig = String(r.headers['x-mta-signature'] ?? '');
  const expected = createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex');
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected)) && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
}
