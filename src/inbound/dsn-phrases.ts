/**
 * inbound/dsn-phrases — the last resort for free-text bounces that carry no SMTP reply and
 * no status code (Exchange 2003, Domino, Google Groups, many webmail systems): the words a
 * human would read, mapped to the reply code and enhanced status that says the same, so
 * delivery/classify.ts can classify them like any reply. Delay warnings are recognised too,
 * so they are ignored rather than read as bounces.
 *
 * Pure data and one function; the first matching phrase decides. English, with the few
 * Japanese forms the public corpus shows.
 */

/** A delay notice: the message is still being retried. */
const DELAYED = /has been delayed|is delayed for|will be retried|warning message only|not yet been delivered|delivery (is )?delayed|only a temporary failure/i;

/** An out-of-office reply sent without Auto-Submitted (RFC 3834 asks for it; many omit it). */
const AWAY = /out of (the )?office|on vacation|away from (the )?office|auto(matic)?[- ]?reply/i;

const PHRASES: readonly { re: RegExp; reply: string }[] = [
  { re: /message (is |was )?too (large|big)|exceeds? (the )?(maximum )?(message )?size|size limit/i, reply: '552 5.3.4' },
  { re: /incorrectly constructed|malformed address|syntax error in (the )?address/i, reply: '553 5.1.3' },
  { re: /mailbox (is )?full|mailbox exceeds|over ?quota|quota exceeded|exceeded (the )?storage|insufficient (disk )?space|mailbox has exceeded/i, reply: '552 5.2.2' },
  { re: /host (name )?not found|domain (name )?(does not exist|not found)|no mx (record)?|unrouteable|unknown (host|domain)/i, reply: '550 5.1.2' },
  {
    re: /user unknown|unknown user|no such (user|recipient|mailbox|address)|unknown recipient|recipient unknown|(address|user|mailbox|recipient) (does not|doesn't) exist|invalid (user|recipient|address|mailbox)|not a valid (user|recipient|mailbox)|(user|mailbox|recipient|address) (not found|unavailable)|account (is )?(disabled|closed|inactive)|存在しない|宛先不明/i,
    reply: '550 5.1.1',
  },
  { re: /spam|blacklist|blocklist|block(ed)? (by|for)|content (was )?rejected|rejected by (the )?(domain|recipient|remote)|policy|filter/i, reply: '550 5.7.1' },
  { re: /permission|not (allowed|authori[sz]ed|permitted) to (post|send)|権限/i, reply: '550 5.7.1' },
  { re: /permanent (error|failure)|could not be delivered|couldn't be delivered|undeliverable|delivery (has )?failed|failed permanently|returning message to sender|unable to deliver|delivery to the following recipients? failed|not delivered/i, reply: '550 5.0.0' },
];

export type PhraseVerdict = { kind: 'reply'; reply: string; line: string } | { kind: 'delayed' } | { kind: 'away' } | undefined;

/** What the text says, as a reply ("550 5.1.1 <the line that said so>"), a delay, an away notice, or nothing. */
export function phraseReply(text: string): PhraseVerdict {
  // Only the report, not the returned message that follows it (its text may say anything).
  const report = text.split(/^-{2,}\s*(original message|the header of the original|返信|元のメッセージ)|^\s*-+ ?(This is a copy|Original message)/im)[0] ?? text;
  if (DELAYED.test(report)) return { kind: 'delayed' };
  if (AWAY.test(report)) return { kind: 'away' };
  for (const p of PHRASES) {
    const m = p.re.exec(report);
    if (!m) continue;
    const start = report.lastIndexOf('\n', m.index) + 1;
    const end = report.indexOf('\n', m.index);
    const line = report.slice(start, end < 0 ? undefined : end).replace(/\s+/g, ' ').trim().slice(0, 300);
    return { kind: 'reply', reply: `${p.reply} ${line}`, line };
  }
  return undefined;
}
