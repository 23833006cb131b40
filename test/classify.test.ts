// Reply classification, table-driven, from the seed's receiver-code table
// (seeds/001, "常见接收方退信代码") and DirectMail's own codes, plus RFC 3463 fallbacks.
import t from 'tap';
import { classifyReply } from '../src/delivery/classify.js';

type Row = [reply: string, retry: boolean, status: 0 | 2 | 3 | 4, category: string, suppress?: boolean];

const ROWS: Row[] = [
  // delivered
  ['250 2.0.0 OK 1700000000 x1si123', false, 0, 'delivered'],
  ['250 Ok: queued as 4Xyz', false, 0, 'delivered'],
  // DirectMail's own delivery-side codes
  ['524 Host not found by dns resolve [@ou070302]', false, 2, 'dns', false],
  ['526 No data by dns resolve', false, 2, 'dns', false],
  ['524 5.1.2 Host not found by dns resolve: example.org', false, 2, 'dns', false],
  ['526 5.1.2 No data by dns resolve: bare.test has no MX and no address records', false, 2, 'dns', false],
  ['526 5.1.10 No data by dns resolve: null.test publishes a null MX (RFC 7505) and accepts no mail', false, 2, 'dns', false],
  ['423 Dns resolve error', true, 4, 'dns'],
  ['427 Socks Connect to UNREACHABLE host', true, 4, 'network'],
  // 接收地址不存在 — recipient does not exist
  ['521 Recipient address rejected', false, 2, 'user_unknown', true],
  ['550 5.1.1 https://support.google.com/mail/?p=NoSuchUser', false, 2, 'user_unknown', true],
  ['550 5.1.1', false, 2, 'user_unknown', true],
  ['550 Invalid User', false, 2, 'user_unknown', true],
  ['550 Mailbox not found', false, 2, 'user_unknown', true],
  ['550 user not exist', false, 2, 'user_unknown', true],
  ['550 User not found', false, 2, 'user_unknown', true],
  ['554 delivery error: dd Sorry your message to a@yahoo.com cannot be delivered. This account has been disabled or discontinued', false, 2, 'user_unknown', true],
  ["554 delivery error: dd This user doesn' t have a yahoo.com account (a@yahoo.com)", false, 2, 'user_unknown', true],
  ['550 5.1.1 <a@b.test>: Recipient address rejected: User unknown in virtual mailbox table', false, 2, 'user_unknown', true],
  ['550 No such user here', false, 2, 'user_unknown', true],
  // 账号黑名单 — sender blacklisted by the recipient
  ['550 Mail is rejected by recipients', false, 3, 'sender_blacklisted'],
  ['550 sender in prison', false, 3, 'sender_blacklisted'],
  ['550 User in blacklist', false, 3, 'sender_blacklisted'],
  // IP 黑名单
  ['450 DT:RBL', true, 3, 'ip_blacklisted'],
  ['554 HL:IPB', false, 3, 'ip_blacklisted'],
  ['550 DY-001', false, 3, 'ip_blacklisted'],
  ['550 OU-002', false, 3, 'ip_blacklisted'],
  ['550 SC-003', false, 3, 'ip_blacklisted'],
  ['550 in an RBL', false, 3, 'ip_blacklisted'],
  ['550 ip in prision', false, 3, 'ip_blacklisted'],
  ['550 Your IP address is blacklisted', false, 3, 'ip_blacklisted'],
  ['550 5.7.1 Service unavailable; client [203.0.113.9] blocked using zen.spamhaus.org', false, 3, 'ip_blacklisted'],
  ['553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.9', false, 3, 'ip_blacklisted'],
  ['550 5.7.1 Mail from IP 203.0.113.9 was rejected due to listing in Spamhaus SBL', false, 3, 'ip_blacklisted'],
  ['554 IP in blacklist', false, 3, 'ip_blacklisted'],
  // 接收地址被限制 — recipient temporarily restricted
  ['450 4.2.1 https://support.google.com/mail/answer/6592', true, 4, 'mailbox_restricted'],
  ['550 Mailbox unavailable or access denied', true, 4, 'mailbox_restricted'],
  // IP / sender / domain frequency limits
  ['421 HL:ICC', true, 4, 'rate_limited'],
  ['421 RP-001', true, 4, 'rate_limited'],
  ['550 Connection frequency limited', true, 4, 'rate_limited'],
  ['451 MI:SFQ', true, 4, 'rate_limited'],
  ['550 MI:STC', true, 4, 'rate_limited'],
  ['550 RP:TRC', true, 4, 'rate_limited'],
  ['550 Domain frequency limited', true, 4, 'rate_limited'],
  ['421 4.7.28 Our system has detected an unusual rate of unsolicited mail', true, 4, 'rate_limited'],
  ['452 4.2.2 has been temporarily rate limited', true, 4, 'rate_limited'],
  // 垃圾邮件 — spam
  ['421 4.7.0 [TS01] Message from (203.0.113.9) temporarily deferred', true, 3, 'spam_block'],
  ['451 DT:SPM', true, 3, 'spam_block'],
  ['550 DT:SPM', false, 3, 'spam_block'],
  ['550 SC-001', false, 3, 'spam_block'],
  ['521 5.2.1 : AOL will not accept delivery of this message', false, 3, 'spam_block'],
  ['550 5.7.1 Message rejected as spam by Content Filtering', false, 3, 'spam_block'],
  ['550 Mail content denied', false, 3, 'spam_block'],
  ['554 Message not allowed', false, 3, 'spam_block'],
  ['550 5.7.515 Access denied, sending domain does not meet the required authentication level', false, 3, 'spam_block'],
  // 邮件大小超限
  ['550 Message too large', false, 4, 'message_too_large'],
  ['552 Requested mail action aborted: exceeded mailsize limit', false, 4, 'message_too_large'],
  // 邮箱空间满 — mailbox full
  ['452 4.2.2 https://support.google.com/mail/?p=OverQuotaTemp', true, 4, 'mailbox_full'],
  ['552 5.2.2 https://support.google.com/mail/answer/6558', false, 4, 'mailbox_full', false],
  ['550 mailbox limit exceeded', false, 4, 'mailbox_full'],
  ['552 mailbox is full', false, 4, 'mailbox_full'],
  // 接收方临时故障 — receiver temporary failure
  ['450 Service temporarily unavailable', true, 4, 'receiver_temporary'],
  ['451 example.com Resources temporarily unavailable', true, 4, 'receiver_temporary'],
  ['451 4.7.1 Sorry, the service is currently unavailable', true, 4, 'receiver_temporary'],
  ['451 Temporarily unable to process your email', true, 4, 'receiver_temporary'],
  ['400 the mta server of unexpected closed', true, 4, 'receiver_temporary'],
  // 灰名单 — greylisting
  ['451 4.7.1 Greylisting in action, please come back later', true, 4, 'greylisted'],
  ['451 Grey bounce', true, 4, 'greylisted'],
  ['450 4.7.1 <a@b.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/', true, 4, 'greylisted'],
  // 接收地址格式错误, SPF
  ['501 Bad address syntax', false, 2, 'invalid_address', true],
  ['550 MI:IMF', false, 2, 'invalid_address', true],
  ['520 ip and spf record not match', false, 4, 'auth_failed'],
  ['550 MI:SPF', false, 4, 'auth_failed'],
  ['550 SPF check failed', false, 4, 'auth_failed'],
  // RFC 3463 fallback and basic codes
  ['550 5.1.2 Host unknown', false, 2, 'user_unknown', true],
  ['553 5.1.3 nonsense', false, 2, 'invalid_address', true],
  ['554 5.3.4 too big for system', false, 4, 'message_too_large'],
  ['550 5.7.1 Rejected by policy', false, 3, 'policy'],
  ['451 4.4.1 No answer from host', true, 4, 'network'],
  ['554 Transaction failed', false, 4, 'other'],
  ['421 Service closing', true, 4, 'other'],
];

t.test(`classification table (${ROWS.length} real-world reply lines)`, async (t) => {
  t.ok(ROWS.length >= 40);
  for (const [reply, retry, status, category, suppress] of ROWS) {
    const c = classifyReply(reply);
    t.same({ retry: c.retry, status: c.status, category: c.category }, { retry, status, category }, reply);
    if (suppress !== undefined) t.equal(c.suppress, suppress, `${reply}: suppress=${suppress}`);
    if (c.retry) t.notOk(c.suppress, `${reply}: a retried reply never suppresses`);
  }
});

t.test('rate-limit and greylist replies slow the destination down', async (t) => {
  t.ok(classifyReply('421 HL:ICC').slowDown);
  t.ok(classifyReply('451 4.7.1 Greylisting in action').slowDown);
  t.notOk(classifyReply('550 5.1.1 user unknown').slowDown);
});

t.test('enhanced code is extracted', async (t) => {
  t.equal(classifyReply('550 5.1.1 <x@y.test>: no').enhanced, '5.1.1');
  t.equal(classifyReply('550 no code').enhanced, null);
});
