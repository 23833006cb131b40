/**
 * admin/browser — refuses what a web browser sends on a page's behalf, so a page the
 * operator happens to visit cannot drive the admin API on loopback:
 *
 *   - a `Host` that is not one of the listener's names (DNS rebinding: the page's own name
 *     made to resolve to 127.0.0.1 would make the API same-origin to it). Allowed:
 *     localhost, the loopback addresses, the bind address (every local interface address
 *     when it is a wildcard), the configured hostname and `admin.hosts`;
 *   - an `Origin` other than the API's own (a cross-site fetch or form post), and
 *     `Sec-Fetch-Site` other than same-origin or none (a browser's own navigation).
 *
 * Content types a page can send without asking (text/plain, forms) are refused by the
 * body reader (admin/server.ts); the token is the last line. Must never: trust any of
 * these headers to let a request in — they only keep requests out.
 */
import { networkInterfaces } from 'node:os';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/config.js';
import { MtaError } from '../util/errors.js';
import { isLoopback } from './auth.js';

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** The names the admin listener answers to, lower-case, IPv6 without brackets. */
export function allowedHosts(config: Config): Set<string> {
  const names = new Set(['localhost', config.hostname, config.admin.host, ...config.admin.hosts].map((h) => h.toLowerCase()));
  if (WILDCARD.has(config.admin.host)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
  }
  return names;
}

/** `Host: [::1]:8025` → `::1`; `Host: Example.COM.:80` → `example.com`. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/** Throws MTA_ERR_FORBIDDEN (403) for a foreign Host (all the console's pages ask: a link from elsewhere may open them). */
export function checkHost(headers: IncomingHttpHeaders, hosts: Set<string>): void {
  const host = headers.host ?? '';
  const name = hostName(host);
  if (!(hosts.has(name) || isLoopback(name))) {
    throw new MtaError('MTA_ERR_FORBIDDEN', `Host ${JSON.stringify(host)} is not a name of this admin API; add it to admin.hosts if it is one`);
  }
}

/** Throws MTA_ERR_FORBIDDEN (403) for a foreign Host, a cross-site Origin or Sec-Fetch-Site. */
export function checkBrowser(headers: IncomingHttpHeaders, hosts: Set<string>): void {
  checkHost(headers, hosts);
  const host = headers.host ?? '';
  const origin = headers.origin;
  if (origin !== undefined && !sameOrigin(origin, host)) {
    throw new MtaError('MTA_ERR_FORBIDDEN', `cross-origin request from ${JSON.stringify(origin)} refused: the admin API is not for web pages`);
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new MtaError('MTA_ERR_FORBIDDEN', `Sec-Fetch-Site: ${site} refused: the admin API is not for web pages`);
  }
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === new URL(`${u.protocol}//${host}`).host;
  } catch {
    return false; // "null" (sandboxed frames, file:) and garbage
  }
}
