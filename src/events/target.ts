/**
 * events/target — which addresses a webhook may reach. A webhook URL is chosen by whoever
 * holds the admin token, and the start of an error answer is shown in `webhook log`, so
 * an unchecked URL would let it probe and read the network around the server (the admin
 * API itself, 169.254.169.254, databases on loopback). Only public unicast addresses are
 * allowed unless `webhooks.allow_private = true` or the address is in
 * `webhooks.allowed_private_ips`.
 *
 * Checked twice: when a webhook is added (the URL's resolved addresses, for a clear error
 * at once) and on every connection (`checkedLookup`, the address actually dialled), so a
 * name that resolves elsewhere later (DNS rebinding) is still refused.
 *
 * Must never: let an address through because its name looked harmless, or check a name
 * and then dial a different lookup's answer.
 */
import { lookup as dnsLookup, promises as dns, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { IpSet } from '../util/ipset.js';

export interface TargetPolicy { allowPrivate: boolean; allowedPrivateIps: IpSet }

const HINT = 'webhooks go to public addresses only; set webhooks.allow_private = true or list it in webhooks.allowed_private_ips for an internal receiver';

/** Why a webhook may not connect to `ip`, or undefined when it may. */
export function refusedAddress(ip: string, policy: TargetPolicy): string | undefined {
  if (policy.allowPrivate || policy.allowedPrivateIps.has(ip)) return undefined;
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    a = ipaddr.parse(ip.replace(/%.*$/, ''));
  } catch {
    return `${ip} is not an IP address`;
  }
  // ::ffff:127.0.0.1 is loopback too.
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  const range = a.range();
  return range === 'unicast' ? undefined : `${ip} is a ${range} address: ${HINT}`;
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** For an IP-literal URL (no lookup happens for those): the refusal, if any. */
export function refusedLiteral(url: URL, policy: TargetPolicy): string | undefined {
  const host = hostOf(url);
  return isIP(host) ? refusedAddress(host, policy) : undefined;
}

/**
 * When a webhook is added: every address the host resolves to now must be allowed. A name
 * that does not resolve yet is let through: delivery checks it again when it does.
 */
export async function refusedTarget(url: URL, policy: TargetPolicy): Promise<string | undefined> {
  const host = hostOf(url);
  if (isIP(host)) return refusedAddress(host, policy);
  let addrs: LookupAddress[];
  try {
    addrs = await dns.lookup(host, { all: true });
  } catch {
    return undefined;
  }
  for (const a of addrs) {
    const why = refusedAddress(a.address, policy);
    if (why) return `${host} resolves to ${why}`;
  }
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request: resolves as dns.lookup does and hands the socket only
 * allowed addresses, so what is checked is what is dialled.
 */
export function checkedLookup(policy: TargetPolicy) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addrs) => {
      if (err) return callback(err, '');
      const allowed = addrs.filter((a) => refusedAddress(a.address, policy) === undefined);
      if (allowed.length === 0) {
        const why = addrs[0] ? refusedAddress(addrs[0].address, policy) : 'no address';
        const e: NodeJS.ErrnoException = new Error(`refused: ${hostname} resolves to ${why}`);
        e.code = 'EWEBHOOKTARGET';
        return callback(e, '');
      }
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}
