/**
 * intake/headers — header text helpers for intake: unfolding a value, the trace header,
 * and the Message-ID and Date a message must have (the identity policy is in identity.ts).
 * Pure functions over header text so they are easy to test.
 */

/** The value part of a raw header line ("From: a <b@c>\r\n" → "a <b@c>"), unfolded. */
export function headerValue(line: string): string {
  const i = line.indexOf(':');
  return (i >= 0 ? line.slice(i + 1) : line).replace(/\r?\n[ \t]/g, ' ').trim();
}

/** RFC 5322 date-time in UTC, e.g. "Mon, 23 Nov 2026 02:10:35 +0000". */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export interface TraceInfo {
  helo: string | null;
  clientHostname: string | null;
  clientIp: string;
  hostname: string;
  protocol: string;      // ESMTPSA, ESMTPS, ESMTPA...
  queueId: string;
  recipient?: string | undefined;   // only when there is one (privacy, as Postfix does)
  date: Date;
}

export function receivedHeader(t: TraceInfo): string {
  const from = `${t.helo ?? 'unknown'} (${t.clientHostname && t.clientHostname !== `[${t.clientIp}]` ? `${t.clientHostname} ` : ''}[${t.clientIp}])`;
  const forPart = t.recipient ? ` for <${t.recipient}>` : '';
  return `from ${from} by ${t.hostname} (mta) with ${t.protocol} id ${t.queueId}${forPart}; ${rfc5322Date(t.date)}`;
}

export function messageIdFor(queueId: string, hostname: string): string {
  return `<${queueId}@${hostname}>`;
}
