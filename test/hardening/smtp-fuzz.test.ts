// Property-based hostile input over SMTP (fast-check, fixed seed): random command
// sequences (each run on a fresh connection) and random DATA bytes (runs share an
// authenticated connection, RSET between them) against the real listener of one daemon.
// For every run: each command is answered (or the connection closed)
// within the session deadline, one DATA never yields two messages, the spool holds exactly
// the messages that got a 250 and none with a bare CR or LF, and the daemon still serves.
// Replay a failure with FC_SEED=<seed printed by fast-check> (and its path).
import t from 'tap';
import fc from 'fast-check';
import type { RawSmtp, Reply } from '../helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from '../helpers/daemon.js';
import {
  SENDER, authedSession, bareLineBreak, cheapenPassword, goodTransaction, queuedId, session, storedBody, storedIds, until,
} from '../helpers/hostile.js';
import type { QueueId } from '../../src/util/ids.js';
import { parseAddress } from '../../src/util/address.js';

const SEED = Number(process.env['FC_SEED'] ?? 0x6d7461);
const DEADLINE_S = 20;
/** A reply must come within the session deadline (plus slack for a loaded machine). */
const REPLY_WAIT = (DEADLINE_S + 10) * 1000;
const VICTIM = 'victim@dest.test';

let d: TestDaemon;
t.before(async () => {
  d = await startDaemon(`[smtp]\nallow_insecure_auth = true\nmax_message_size = "64KB"\nmax_header_size = "8KB"\nmax_recipients = 5\n`
    + `auth_failure_limit = 1000000\nmax_connections_per_ip = 50\nsession_deadline = "${DEADLINE_S}s"\nidle_timeout = "${DEADLINE_S}s"\n`);
  await cheapenPassword(d.daemon.store);
});
t.teardown(() => d.stop());

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

// ---- generators ----------------------------------------------------------------------

/** The relay and syntax probes of RFC 5321's dark corners. */
const oddAddress = fc.constantFrom(
  'x@dest.test', 'X@DEST.TEST', 'v@dest.test', SENDER, 'other@example.com', '', 'user%dom.test@[127.0.0.1]', '"user@dom.test"',
  '@[127.0.0.1]:user@dom.test', 'dom.test!user', 'user@dom.test@srv.test', '"a b"@dest.test', 'user@[127.0.0.1]',
  'user@[IPv6:::1]', 'postmaster', 'a@b', 'é@dest.test', 'x@xn--d1acufc.xn--p1ai', `${'l'.repeat(70)}@dest.test`, 'x@-bad-.test',
);
const param = fc.constantFrom('', ' SIZE=100', ' SIZE=999999999999', ' SIZE=-1', ' BODY=8BITMIME', ' BODY=BINARYMIME', ' SMTPUTF8',
  ' RET=FULL', ' ENVID=abc', ' AUTH=<>', ' NOTIFY=SUCCESS,FAILURE', ' ORCPT=rfc822;x@dest.test', ' X-UNKNOWN=1', ' =', ' SIZE');
/** Bytes that are not CR LF: one line, however hostile. */
const junk = fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => s.replace(/[\r\n]/g, ' '));
const longLine = fc.integer({ min: 500, max: 6000 }).map((n) => `NOOP ${'x'.repeat(n)}`);

const anyCommand: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('EHLO client.test', 'HELO client.test', 'EHLO', 'LHLO x', 'RSET', 'NOOP', 'HELP', 'VRFY x@dest.test', 'EXPN list',
    'STARTTLS', 'BDAT 10 LAST', 'XCLIENT ADDR=192.0.2.1', 'XFORWARD ADDR=192.0.2.1', 'AUTH LOGIN', 'AUTH PLAIN', 'AUTH CRAM-MD5',
    'AUTH XOAUTH2 dXNlcj0=', 'AUTH PLAIN ===', '*', 'DATA', 'DATA', 'QUIT', 'MAIL FROM:app@example.com', 'RCPT TO:x@dest.test',
    'GET / HTTP/1.1', `AUTH PLAIN ${b64(`\0${SENDER}\0${PASSWORD}`)}`, `AUTH PLAIN ${b64(`\0${SENDER}\0wrong`)}`, b64(SENDER), b64(PASSWORD)),
  fc.tuple(oddAddress, param).map(([a, p]) => `MAIL FROM:<${a}>${p}`),
  fc.tuple(oddAddress, param).map(([a, p]) => `RCPT TO:<${a}>${p}`),
  fc.tuple(fc.constantFrom('MAIL FROM:', 'RCPT TO:', 'EHLO ', 'AUTH PLAIN ', 'VRFY ', ''), junk).map(([v, j]) => v + j),
  longLine,
);
/** Command lines go out as UTF-8, or as Latin-1 (so any non-ASCII byte is invalid UTF-8). */
const encoding = fc.constantFrom<BufferEncoding>('utf8', 'latin1');
/** Random commands, with the good transaction's steps (alone, or all three in a row) mixed in so that DATA is reached. */
const commands = fc.oneof(
  { weight: 5, arbitrary: anyCommand.map((c) => [c]) },
  { weight: 2, arbitrary: fc.constantFrom(`MAIL FROM:<${SENDER}>`, 'RCPT TO:<x@dest.test>', 'RCPT TO:<y@dest.test>', 'DATA').map((c) => [c]) },
  { weight: 2, arbitrary: fc.constant([`MAIL FROM:<${SENDER}>`, 'RCPT TO:<x@dest.test>', 'DATA']) },
);
/** What a client sends after 354: CRLF lines, or hostile fragments (smuggling sequences, bare CR/LF, NUL, long lines). */
const FRAGMENTS = ['\r\n', '\n', '\r', '\0', '.', '..', '\r\n.', '\n.\n', '\r.\r', '\r.\n', '\n.\r', '\n.\r\n', '\r\n.\n', '\r.\r\n',
  '\r\n.\r', '\r\n\0.\r\n', '\r\r\n', '\r\n\r\n', `MAIL FROM:<${SENDER}>\r\n`, `RCPT TO:<${VICTIM}>\r\n`, 'DATA\r\n', 'QUIT\r\n',
  'From: boss@evil.test\r\n', 'Subject: x\r\n', '\x1b[0m', '\xff\xfe', '=?utf-8?B?QUJD?=', '\t', ' '];
const hostileBody = fc.array(fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FRAGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 990, max: 1010 }).map((n) => 'y'.repeat(n)) },
), { maxLength: 40 }).map((parts) => parts.join(''));
/** Well-formed lines (some starting with dots, some 8-bit): mostly accepted. */
const cleanLine = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 120 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((s) => `.${s}`),
  fc.constant('.'),
);
const cleanBody = fc.array(cleanLine, { maxLength: 30 }).map((lines) => lines.map((l) => `${l}\r\n`).join(''));
const headerBlock = fc.constantFrom(
  `From: ${SENDER}\r\nTo: x@dest.test\r\nSubject: fuzz\r\n\r\n`, `From: App <${SENDER}>\r\nSubject: fuzz\r\n\r\n`,
  `From: ${SENDER}\r\nX-Long: ${'h'.repeat(980)}\r\n\r\n`, `From: ${SENDER}\r\n`, 'Subject: no from\r\n\r\n', '',
  `From: ${SENDER}\r\nFrom: ${SENDER}\r\n\r\n`, `From: boss@evil.test\r\n\r\n`, `From: ${SENDER}\r\n Folded: x\r\n\r\n`,
);
const dataBody = fc.tuple(headerBlock, fc.oneof(cleanBody, hostileBody)).map(([h, b]) => h + b);
/** A session's commands, each with the body it sends if it gets 354 and its encoding. */
const steps = fc.array(fc.tuple(commands, dataBody, encoding), { minLength: 1, maxLength: 10 })
  .map((xs) => xs.flatMap(([lines, body, enc]) => lines.map((line) => [line, body, enc] as const)));

/**
 * The bytes after 354, ending in the one terminator: any earlier <CRLF>.<CRLF> (the
 * start of DATA counts as after a CRLF) is dot-stuffed, since it would really end the data
 * and make what follows commands, which is pipelining, not smuggling.
 */
function terminate(body: string): string {
  let s = `${body}\r\n.\r\n`;
  for (;;) {
    const p = `\r\n${s}`;
    const i = p.indexOf('\r\n.\r\n'); // its dot is p[i + 2], which is s[i]
    if (i === p.length - 5) return s;
    s = `${s.slice(0, i)}.${s.slice(i)}`;
  }
}

/** What smtp-server unstuffs: the first dot of a line starting with two (a lone ". x" line is kept as sent). */
function unstuff(data: string): string {
  return `\r\n${data}`.replace(/\r\n\.\./g, '\r\n.').slice(2);
}

// ---- the checks after each run --------------------------------------------------------

interface RunLog { queued: string[]; accepted: Set<string>; transcript: string[] }

async function checkSpool(before: number, log: RunLog): Promise<void> {
  const ids = await storedIds(d.daemon.store);
  const fresh = ids.slice(before);
  if (fresh.length !== log.queued.length) throw new Error(`${fresh.length} new messages stored, ${log.queued.length} 250 replies after DATA\n${log.transcript.join('\n')}`);
  for (const id of fresh) {
    if (!log.queued.includes(id)) throw new Error(`message ${id} stored without a 250 for it`);
    const body = await storedBody(d.daemon.store, id);
    const at = bareLineBreak(body);
    if (at >= 0) throw new Error(`message ${id}: bare CR/LF stored at byte ${at}: ${JSON.stringify(body.subarray(Math.max(0, at - 20), at + 20).toString('latin1'))}`);
    if (body.includes(0)) throw new Error(`message ${id}: NUL stored`);
    const m = await d.daemon.store.getMessage(id);
    for (const r of m!.recipients) if (!log.accepted.has(r.rcpt.toLowerCase())) throw new Error(`message ${id}: recipient ${r.rcpt} never got a 250 for RCPT`);
  }
}

async function read(c: RawSmtp, after: string, log: RunLog): Promise<Reply | undefined> {
  const r = await c.read(REPLY_WAIT);
  log.transcript.push(`C: ${after.slice(0, 100)}`, `S: ${r ? r.text.slice(0, 200) : '(closed)'}`);
  if (r && !(r.code >= 200 && r.code < 600)) throw new Error(`malformed reply ${r.text}`);
  return r;
}

// ---- properties -----------------------------------------------------------------------

t.test('random command sequences: answered in time, never two messages per DATA, nothing bare stored', async (t) => {
  let runs = 0, dataPhases = 0;
  const prop = fc.asyncProperty(fc.integer({ min: 0, max: 3 }).map((n) => n > 0), steps, async (login, steps) => {
    runs++;
    const before = (await storedIds(d.daemon.store)).length;
    const log: RunLog = { queued: [], accepted: new Set(), transcript: [] };
    const c = login ? await authedSession(d.port) : await session(d.port);
    let mailOk = false;
    try {
      for (const [line, body, enc] of steps) {
        const bytes = Buffer.from(`${line}\r\n`, enc);
        c.write(bytes);
        const r = await read(c, line, log);
        if (!r) break;
        if (/^MAIL /i.test(line)) mailOk = r.code === 250 || mailOk;
        if (/^RCPT TO:/i.test(line) && r.code === 250) {
          // as the server reads it: UTF-8, a source route dropped (RFC 5321 §4.1.1.3: ignored)
          const rcpt = parseAddress((/<([^>]*)>/.exec(bytes.toString('utf8'))?.[1] ?? '').replace(/^@[^:]*:/, ''));
          if (!rcpt) throw new Error(`RCPT of a malformed address accepted: ${JSON.stringify(line)} (${enc})`);
          log.accepted.add(rcpt.address.toLowerCase());
        }
        if (r.code === 354) {
          dataPhases++;
          const data = terminate(body);
          c.write(Buffer.from(data, 'latin1'));
          const f = await read(c, `<${data.length} bytes of DATA>`, log);
          if (!f) break;
          const id = queuedId(f);
          if (id) log.queued.push(id);
          else if (f.code < 400) throw new Error(`DATA answered ${f.text}`);
          if (!mailOk) throw new Error('354 without an accepted MAIL FROM');
          mailOk = false; // the transaction is over, whatever its outcome
        }
        if (/^(RSET|EHLO|HELO)/i.test(line) && r.code === 250) mailOk = false;
      }
    } finally {
      c.socket.destroy();
    }
    await checkSpool(before, log);
    if (runs % 10 === 0) {
      const g = await goodTransaction(d.port);
      if (!queuedId(g)) throw new Error(`a good transaction after run ${runs} got ${g.text}`);
    }
  });
  await fc.assert(prop, { seed: SEED, numRuns: 120 });
  t.ok(dataPhases >= 20, `120 runs (seed ${SEED}) reached DATA ${dataPhases} times`);
});

t.test('random DATA bytes: one reply, one message at most, stored body intact and without bare CR/LF', async (t) => {
  let accepted = 0;
  const victims = async (): Promise<number> => (await d.daemon.store.listQueue({ limit: 100_000 })).filter((r) => r.rcpt === VICTIM).length;
  const victimsBefore = await victims();
  // One authenticated connection serves many runs (RSET between them), renewed well
  // before the session deadline: the 100 ms greeting delay per connection would
  // otherwise dominate the run time.
  let conn: { c: RawSmtp; since: number } | undefined;
  const connection = async (): Promise<RawSmtp> => {
    if (!conn || conn.c.closed || Date.now() - conn.since > (DEADLINE_S * 1000) / 4) {
      conn?.c.socket.destroy();
      conn = { c: await authedSession(d.port), since: Date.now() };
    }
    return conn.c;
  };
  const prop = fc.asyncProperty(dataBody, fc.integer({ min: 1, max: 4 }), async (body, chunks) => {
    const before = (await storedIds(d.daemon.store)).length;
    const log: RunLog = { queued: [], accepted: new Set(['x@dest.test']), transcript: [] };
    const c = await connection();
    if ((await c.cmd('RSET')).code !== 250) throw new Error('RSET refused');
    if ((await c.cmd(`MAIL FROM:<${SENDER}>`)).code !== 250) throw new Error('MAIL refused');
    if ((await c.cmd('RCPT TO:<x@dest.test>')).code !== 250) throw new Error('RCPT refused');
    if ((await c.cmd('DATA')).code !== 354) throw new Error('DATA refused');
    // The same bytes in 1–4 writes: a terminator split across packets must not matter.
    const data = Buffer.from(terminate(body), 'latin1');
    const cut = Array.from({ length: chunks - 1 }, (_, i) => Math.floor((data.length * (i + 1)) / chunks));
    [0, ...cut].forEach((from, i) => c.write(data.subarray(from, [...cut, data.length][i])));
    const f = await read(c, 'DATA bytes', log);
    if (!f) throw new Error('closed after DATA');
    const id = queuedId(f);
    if (id) log.queued.push(id);
    else if (f.code < 400) throw new Error(`DATA answered ${f.text}`);
    // Whatever came inside DATA was data: the next reply is the one to our HELP.
    c.write('HELP\r\n');
    const h = await read(c, 'HELP', log);
    if (h?.code !== 214) throw new Error(`the reply after DATA's was not HELP's 214 but ${h?.text ?? '(closed)'}: data ran on as commands`);
    const sent = unstuff(terminate(body).slice(0, -3));
    if (id) accepted++;
    if (id && sent.includes('\r\n\r\n')) {
      // Intake adds header fields; what follows the first empty line is kept byte for byte.
      const stored = (await storedBody(d.daemon.store, id as QueueId)).toString('latin1');
      const sentBody = sent.slice(sent.indexOf('\r\n\r\n'));
      if (!stored.endsWith(sentBody)) throw new Error(`stored body differs from the one sent:\n${JSON.stringify(stored.slice(-200))}\n${JSON.stringify(sentBody.slice(-200))}`);
    }
    await checkSpool(before, log);
  });
  try {
    await fc.assert(prop, { seed: SEED, numRuns: 200 });
  } finally {
    conn?.c.socket.destroy();
  }
  t.ok(accepted > 30, `${accepted} of 200 random messages accepted (the generator reaches the store)`);
  t.equal(await victims(), victimsBefore, 'no smuggled recipient ever queued');
});

t.test('after the fuzzing: connection slots all released, a good client is served', async (t) => {
  const conns = (d.daemon.submission as unknown as { guards: { connections: Map<string, number> } }).guards.connections;
  await until(() => conns.size === 0, 10_000, 'per-IP connection counts back to zero');
  t.equal(conns.size, 0, 'no per-IP connection count leaked');
  t.ok(queuedId(await goodTransaction(d.port)), 'a good transaction is accepted');
});
