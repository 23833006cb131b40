// Bounce parsing on its own, against the shapes real servers send: RFC 3464 reports
// (ours, Postfix-style, base64-encoded, several recipients), free-text bounces (qmail,
// Exchange), and what must not count as a bounce (delayed reports, auto-replies, mail from
// a person, garbage). Never throws.
import t from 'tap';
import { parseBounce } from '../src/inbound/dsn-parse.js';
import { PARSE_BUDGET } from '../src/inbound/listener.js';
import { buildDsn, type DsnRecipient } from '../src/delivery/dsn.js';

function dsn(rcpts: Partial<DsnRecipient>[]): Buffer {
  return buildDsn({
    reportingMta: 'mx.dest.test', queueId: 'Q1', sender: 'bounce+abc@bounce.example.com', receivedAt: Date.now(),
    originalHeaders: 'From: app@example.com\r\nSubject: hi',
    recipients: rcpts.map((r) => ({ rcpt: 'a@dest.test', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 user unknown', lastAttemptAt: Date.now(), ...r })),
  }).message;
}

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'));

t.test('RFC 3464: every failed recipient, delayed ones left out', async (t) => {
  const r = await parseBounce(dsn([{}, { rcpt: 'b@dest.test', status: '5.2.2', diagnostic: '552 5.2.2 mailbox full' }, { rcpt: 'c@dest.test', action: 'delayed', status: '4.4.1', diagnostic: '421 later' }]), '');
  t.match(r, {
    kind: 'failed', format: 'dsn', reportingMta: 'mx.dest.test',
    recipients: [{ rcpt: 'a@dest.test', reply: '550 5.1.1 user unknown', status: '5.1.1' }, { rcpt: 'b@dest.test', reply: '552 5.2.2 mailbox full', status: '5.2.2' }],
  });
  if (r.kind === 'failed') t.equal(r.recipients.length, 2);
  t.match(await parseBounce(dsn([{ action: 'delayed', status: '4.2.2', diagnostic: '452 full' }]), ''), { kind: 'ignored', reason: /without a failed recipient \(action: delayed\)/ });
});

t.test('Postfix-style report: X-Postfix diagnostic without a code, base64 status part', async (t) => {
  const status = [
    'Reporting-MTA: dns; mx.dest.test', '', 'Final-Recipient: rfc822; <who@dest.test>', 'Original-Recipient: rfc822;who@dest.test',
    'Action: failed', 'Status: 5.1.2', 'Diagnostic-Code: X-Postfix; Host or domain name not found. Name service error', '',
  ].join('\r\n');
  const msg = crlf([
    'From: MAILER-DAEMON@mx.dest.test', 'Subject: Undelivered', 'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"', '',
    '--B', 'Content-Type: text/plain', '', 'It failed.', '',
    '--B', 'Content-Type: message/delivery-status', 'Content-Transfer-Encoding: base64', '', Buffer.from(status).toString('base64').replace(/(.{76})/g, '$1\r\n'), '',
    '--B', 'Content-Type: message/rfc822', '', 'From: app@example.com', 'Subject: original', '', '550 5.7.1 this is in the original and must not be read', '',
    '--B--', '',
  ]);
  t.match(await parseBounce(msg, ''), {
    kind: 'failed', format: 'dsn',
    recipients: [{ rcpt: 'who@dest.test', reply: '550 5.1.2 Host or domain name not found. Name service error', status: '5.1.2' }],
  });
});

t.test('free-text bounces: the first SMTP reply, an enhanced code preferred', async (t) => {
  const qmail = crlf([
    'From: MAILER-DAEMON@mx.dest.test', 'Subject: failure notice', '',
    'Hi. This is the qmail-send program at mx.dest.test. Error 500 times over.', '<gone@dest.test>:', 'Remote host said: 550 5.1.1 No such user here', '',
  ]);
  t.match(await parseBounce(qmail, ''), { kind: 'failed', format: 'text', recipients: [{ rcpt: 'gone@dest.test', reply: '550 5.1.1 No such user here', status: '5.1.1' }] });
  const exchange = crlf([
    'From: postmaster@corp.test', 'Subject: Undeliverable: hi', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
    'Delivery has failed to these recipients or groups:', 'user@corp.test', "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recip=", "ient not found by SMTP address lookup'", '',
  ]);
  t.match(await parseBounce(exchange, 'bounces@corp.test'), { kind: 'failed', recipients: [{ reply: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', rcpt: undefined }] });
  t.match(await parseBounce(crlf(['From: MAILER-DAEMON@x.test', '', 'This is a warning: 451 4.4.1 still trying', '']), ''), { kind: 'ignored', reason: /temporary/ });
});

t.test('not bounces: auto-replies, people, garbage', async (t) => {
  t.match(await parseBounce(crlf(['From: ann@dest.test', 'Auto-Submitted: auto-replied', '', 'Away; 550 people to see.', '']), 'ann@dest.test'), { kind: 'ignored', reason: /auto-reply/ });
  t.match(await parseBounce(crlf(['From: ann@dest.test', '', 'Re: your mail. 550 5.1.1 ha', '']), 'ann@dest.test'), { kind: 'ignored', reason: /not from a mail system/ });
  t.match(await parseBounce(crlf(['From: MAILER-DAEMON@x.test', '', 'nothing useful here', '']), ''), { kind: 'ignored', reason: /no SMTP reply/ });
  for (const junk of [Buffer.alloc(0), Buffer.from('\0\0\0\xff\xfe'), Buffer.from('Content-Type: multipart/report; boundary=\r\n\r\n--\r\n--\r\n'), Buffer.from('x'.repeat(100_000))]) {
    const r = await parseBounce(junk, '');
    t.equal(r.kind, 'ignored', `junk of ${junk.length} bytes ignored`);
  }
});

t.test('a bounce cut at the listener\'s parse budget (inside the returned message) still reads', async (t) => {
  const status = ['Reporting-MTA: dns; mx.dest.test', '', 'Final-Recipient: rfc822; cut@dest.test', 'Action: failed', 'Status: 5.1.1', 'Diagnostic-Code: smtp; 550 5.1.1 no such user', ''].join('\r\n');
  const head = crlf([
    'From: MAILER-DAEMON@mx.dest.test', 'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"', '',
    '--B', 'Content-Type: text/plain', '', 'It failed.', '',
    '--B', 'Content-Type: message/delivery-status', '', status, '',
    '--B', 'Content-Type: message/rfc822', '', 'From: app@example.com', 'Subject: a large original', '', '',
  ]);
  const whole = Buffer.concat([head, Buffer.from(`${'y'.repeat(76)}\r\n`.repeat(40_000)), Buffer.from('\r\n--B--\r\n')]);
  t.ok(whole.length > PARSE_BUDGET * 2, 'the message is larger than the budget');
  const cut = whole.subarray(0, PARSE_BUDGET);
  t.match(await parseBounce(cut, ''), { kind: 'failed', format: 'dsn', recipients: [{ rcpt: 'cut@dest.test', reply: '550 5.1.1 no such user', status: '5.1.1' }] });
  t.match(await parseBounce(whole.subarray(0, head.length - 200), ''), { kind: /failed|ignored/ }, 'cut anywhere: an answer, never a throw');
});

t.test('bounces without an SMTP reply: a lone enhanced code, the words alone, a DSN without Action; delay warnings are not bounces', async (t) => {
  const daemon = ['From: Mail Delivery System <MAILER-DAEMON@mx.dest.test>', 'Subject: Mail delivery failed', ''];
  t.match(await parseBounce(crlf([...daemon, 'The following address failed:', '', '"a@dest.test":', '5.2.2 <a@dest.test>... Mailbox Full', '']), ''), {
    kind: 'failed', format: 'text', recipients: [{ rcpt: 'a@dest.test', reply: '550 5.2.2 <a@dest.test>... Mailbox Full', status: '5.2.2' }],
  });
  t.match(await parseBounce(crlf([...daemon, 'Your message did not reach some or all of the intended recipients.', '', '  b@dest.test', '  Unknown Recipient', '']), ''), {
    kind: 'failed', recipients: [{ rcpt: 'b@dest.test', reply: /^550 5\.1\.1 .*Unknown Recipient$/, status: '5.1.1' }],
  });
  t.match(await parseBounce(crlf([...daemon, 'THIS IS A WARNING MESSAGE ONLY.', 'Delivery to the following recipient has been delayed:', '  c@dest.test', '']), ''), { kind: 'ignored', reason: /delay warning/ });
  t.match(await parseBounce(crlf(['From: postmaster@dest.test', 'Subject: Re: hello', '', "I'm out of the office until Monday; your mail could not be delivered to me in person.", '']), ''),
    { kind: 'ignored', reason: /out of office/ }, 'an away notice without Auto-Submitted is not a bounce');
  const oneGroup = crlf([
    'From: MAILER-DAEMON@mx.dest.test', 'Content-Type: multipart/report; report-type=delivery-status; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'failed', '',
    '--b', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.dest.test', 'Final-Recipient: rfc822; d@dest.test', 'Status: 5.1.1', 'Diagnostic-Code: smtp; 550 5.1.1 no such user', '', '--b--', '',
  ]);
  t.match(await parseBounce(oneGroup, ''), { kind: 'failed', format: 'dsn', recipients: [{ rcpt: 'd@dest.test', reply: '550 5.1.1 no such user' }] }, 'one group, no Action, a permanent Status');
});
