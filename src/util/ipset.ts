/**
 * ipset — a set of IP addresses written as single IPs, CIDR blocks or ranges
 * ("1.2.3.4-1.2.3.9"), IPv4 and IPv6. Used for IP protection on SMTP and the API.
 * Parsing is strict: a bad entry is an error, never silently ignored.
 */
import ipaddr from 'ipaddr.js';

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

interface Span { kind: 4 | 6; lo: bigint; hi: bigint }

function toBig(addr: Parsed): bigint {
  let n = 0n;
  for (const b of addr.toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

function parseAddr(text: string): Parsed | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  // isValid accepts shorthand like "1.2" for IPv4; require the four-part form.
  if (ipaddr.IPv4.isValid(text) && !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
  const a = ipaddr.parse(text);
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
}

/** Parses one entry; returns an error message when it is not valid. */
export function parseIpEntry(entry: string): Span | string {
  const text = entry.trim();
  if (text.includes('/')) {
    const [addrText, bitsText] = text.split('/') as [string, string];
    const addr = parseAddr(addrText);
    if (!addr) return `"${entry}" is not an IP address or CIDR block`;
    const max = addr.kind() === 'ipv4' ? 32 : 128;
    if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return `"${entry}": prefix length must be 0..${max}`;
    const bits = BigInt(Number(bitsText));
    const width = BigInt(max);
    const base = toBig(addr);
    const hostMask = (1n << (width - bits)) - 1n;
    return { kind: max === 32 ? 4 : 6, lo: base & ~hostMask, hi: (base & ~hostMask) | hostMask };
  }
  if (text.includes('-')) {
    const [aText, bText] = text.split('-').map((s) => s.trim()) as [string, string];
    const a = parseAddr(aText);
    const b = parseAddr(bText ?? '');
    if (!a || !b) return `"${entry}" is not a range of two IP addresses`;
    if (a.kind() !== b.kind()) return `"${entry}" mixes IPv4 and IPv6`;
    const lo = toBig(a), hi = toBig(b);
    if (lo > hi) return `"${entry}": the range's first address is after its last`;
    return { kind: a.kind() === 'ipv4' ? 4 : 6, lo, hi };
  }
  const a = parseAddr(text);
  if (!a) return `"${entry}" is not an IP address`;
  const n = toBig(a);
  return { kind: a.kind() === 'ipv4' ? 4 : 6, lo: n, hi: n };
}

export class IpSet {
  /** `entries`: the text it was parsed from, to show it again (the console's settings). */
  private constructor(private readonly spans: Span[], readonly entries: readonly string[]) {}

  /** Throws an Error listing the first bad entry. */
  static parse(entries: readonly string[]): IpSet {
    const spans: Span[] = [];
    for (const e of entries) {
      const r = parseIpEntry(e);
      if (typeof r === 'string') throw new Error(r);
      spans.push(r);
    }
    return new IpSet(spans, [...entries]);
  }

  get empty(): boolean { return this.spans.length === 0; }

  has(ip: string): boolean {
    const a = parseAddr(ip.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
    if (!a) return false;
    const kind = a.kind() === 'ipv4' ? 4 : 6;
    const n = toBig(a);
    return this.spans.some((s) => s.kind === kind && n >= s.lo && n <= s.hi);
  }
}
