/** A plain HTTP GET that keeps the body as bytes (gzip'd answers are compared byte for byte). */
import { request, type IncomingHttpHeaders } from 'node:http';

export interface RawResponse { status: number; headers: IncomingHttpHeaders; body: Buffer }

export function httpGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
