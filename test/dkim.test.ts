// DKIM signing at delivery time: sign a message that arrives in small chunks, prepend the
// header, and verify it with mailauth and, independently, with Debian's python3-dkim
// (dkimpy). Both verifiers get the public key from a fake resolver: no DNS traffic.
import t from 'tap';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dkimSignature, DkimError } from '../src/delivery/dkim.js';
import { DOMAIN, NOW, SELECTOR, keyFor, resolverFor } from './helpers/dkim-keys.js';
import { PYTHON, dkimpyAvailable, verifyDkimpy } from './helpers/dkimpy.js';
import { bytesPerCall } from './helpers/allocation.js';


/** Yields the message in uneven pieces of 1..29 bytes, so every boundary case gets hit. */
async function* chunked(buf: Buffer): AsyncGenerator<Buffer> {
  let i = 0;
  let n = 1;
  while (i < buf.length) {
    yield buf.subarray(i, i + n);
    i += n;
    n = (n * 7 + 3) % 29 + 1;
  }
}


const body = [
  'This is a multi-part message in MIME format.',
  '',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Hello,  trailing spaces and tabs\t ',
  ...Array.from({ length: 3000 }, (_, i) => `line ${i} of a long body that spans several spool chunks =E2=9C=93`),
  '',
  '--b1--',
  '',
  '',
  '',
].join('\r\n');

const MESSAGE = Buffer.from([
  'Received: from app (app.internal [10.0.0.5]) by mta.example.com (mta) with ESMTPSA id 01M8337DMG00AB2ATA',
  'From: "App" <app@example.com>',
  'To: someone@example.org,',
  '\tsecond@example.org',
  'Subject:   Your   receipt',
  'Date: Mon, 23 Nov 2026 02:10:35 +0000',
  'Message-ID: <01M8337DMG00AB2ATA@mta.example.com>',
  'MIME-Version: 1.0',
  'List-Unsubscribe: <https://example.com/u/1>',
  'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
  'X-Not-Signed: whatever',
  'Content-Type: multipart/alternative; boundary="b1"',
  '',
  body,
].join('\r\n'));

function splitHeader(m: Buffer): { head: string; rest: Buffer } {
  const i = m.indexOf('\r\n\r\n');
  return { head: m.subarray(0, i + 2).toString('latin1'), rest: m.subarray(i + 2) };
}

async function verifyMailauth(message: Buffer, txt: string) {
  const res = await dkimVerify(message, { resolver: resolverFor(txt), curTime: NOW });
  if (res.results.length !== 1) throw new Error(`expected one signature, found ${res.results.length}`);
  // mailauth reports the parsed tags as `algo` and `format` (its typings say otherwise).
  return res.results[0] as unknown as { status: { result: string; comment?: string }; algo: string; format: string; signingDomain: string; selector: string };
}

for (const algorithm of ['rsa', 'ed25519'] as const) {
  const a = algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256';

  t.test(`${a}: signature over a chunked message verifies with mailauth`, async (t) => {
    const { key, txt } = keyFor(algorithm);
    const sig = await dkimSignature(chunked(MESSAGE), key, { now: NOW });
    t.match(sig, /^DKIM-Signature: v=1; a=/, 'a complete header field');
    t.ok(sig.endsWith('\r\n') && !sig.endsWith('\r\n\r\n'), 'ends in one CRLF');
    t.notOk(/\r(?!\n)|(?<!\r)\n/.test(sig), 'CRLF only');
    t.ok(sig.split('\r\n').every((l) => l.length <= 78), 'folded');
    t.ok(sig.split('\r\n').slice(1, -1).every((l) => /^[ \t]/.test(l)), 'every later line is a continuation');
    t.match(sig, `a=${a};`);
    t.match(sig, 'c=relaxed/relaxed;');
    t.match(sig, `d=${DOMAIN};`);
    t.match(sig, `s=${SELECTOR};`);
    t.match(sig, `t=${NOW.getTime() / 1000};`, 'signing time from opts.now');
    const h = /h=([^;]*);/.exec(sig.replace(/\r\n[ \t]/g, ' '))![1]!.split(':').map((s) => s.trim().toLowerCase());
    t.same(h.filter((n) => n === 'from'), ['from', 'from'], 'From over-signed');
    for (const name of ['to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'list-unsubscribe', 'list-unsubscribe-post']) {
      t.ok(h.includes(name), `${name} signed`);
    }
    t.notOk(h.includes('received') || h.includes('x-not-signed'), 'trace and unknown fields are not signed');

    const r = await verifyMailauth(Buffer.concat([Buffer.from(sig), MESSAGE]), txt);
    t.equal(r.status.result, 'pass', r.status.comment ?? 'pass');
    t.equal(r.algo, a);
    t.equal(r.format, 'relaxed/relaxed');
    t.equal(r.signingDomain, DOMAIN);
    t.equal(r.selector, SELECTOR);
  });

  t.test(`${a}: relaxed canonicalization tolerates whitespace changes in transit`, async (t) => {
    const { key, txt } = keyFor(algorithm);
    const sig = await dkimSignature(chunked(MESSAGE), key, { now: NOW });
    const { head, rest } = splitHeader(MESSAGE);
    const refolded = head.replace('Subject:   Your   receipt', 'Subject: Your\r\n receipt').replace('To: someone@example.org,\r\n\tsecond', 'to: someone@example.org, second');
    const body2 = Buffer.from(rest.toString('latin1').replace('tabs\t \r\n', 'tabs\r\n') + '\r\n\r\n', 'latin1');
    const r = await verifyMailauth(Buffer.concat([Buffer.from(sig + refolded, 'latin1'), body2]), txt);
    t.equal(r.status.result, 'pass', r.status.comment ?? 'pass');
  });

  t.test(`${a}: tampering is detected`, async (t) => {
    const { key, txt } = keyFor(algorithm);
    const sig = Buffer.from(await dkimSignature(chunked(MESSAGE), key, { now: NOW }));
    const { head, rest } = splitHeader(MESSAGE);

    const body2 = Buffer.from(rest.toString('latin1').replace('line 1234 ', 'line 1235 '), 'latin1');
    const rb = await verifyMailauth(Buffer.concat([sig, Buffer.from(head, 'latin1'), body2]), txt);
    // mailauth reports a body hash mismatch as "neutral" with this comment, not "fail".
    t.not(rb.status.result, 'pass', 'tampered body does not pass');
    t.equal(rb.status.comment, 'body hash did not verify');

    const subj = Buffer.from(head.replace('Your   receipt', 'Your refund'), 'latin1');
    const rs = await verifyMailauth(Buffer.concat([sig, subj, rest]), txt);
    t.equal(rs.status.result, 'fail', 'tampered Subject fails');

    const hostileBelow = Buffer.from(head.replace('"App" <app@example.com>\r\n', '"App" <app@example.com>\r\nFrom: ceo@example.com\r\n'), 'latin1');
    const r2 = await verifyMailauth(Buffer.concat([sig, hostileBelow, rest]), txt);
    t.equal(r2.status.result, 'fail', 'a second From added below the first breaks the signature');

    const hostileAbove = Buffer.concat([sig, Buffer.from('From: ceo@example.com\r\n'), MESSAGE]);
    const r3 = await verifyMailauth(hostileAbove, txt);
    t.equal(r3.status.result, 'fail', 'a second From added above the first breaks the signature');

    const unsigned = Buffer.concat([sig, Buffer.from('X-Added: fine\r\n'), MESSAGE]);
    t.equal((await verifyMailauth(unsigned, txt)).status.result, 'pass', 'an unsigned field may still be added');
  });
}

t.test('independent verifier: dkimpy (python3-dkim) agrees for rsa and ed25519', async (t) => {
  const have = dkimpyAvailable();
  if (!have.ok) {
    t.fail(`python3-dkim is required for this test and is not importable by ${PYTHON} (${have.detail}). ` +
      'Install it with: apt-get install -y python3-dkim python3-nacl (or set MTA_TEST_PYTHON).');
    return;
  }
  for (const algorithm of ['rsa', 'ed25519'] as const) {
    const { key, txt } = keyFor(algorithm);
    const sig = Buffer.from(await dkimSignature(chunked(MESSAGE), key, { now: NOW }));
    t.ok(verifyDkimpy(Buffer.concat([sig, MESSAGE]), txt), `${algorithm}: dkimpy verifies`);
    const { head, rest } = splitHeader(MESSAGE);
    const subj = Buffer.from(head.replace('Your   receipt', 'Your refund'), 'latin1');
    t.notOk(verifyDkimpy(Buffer.concat([sig, subj, rest]), txt), `${algorithm}: dkimpy rejects a changed Subject`);
    t.notOk(verifyDkimpy(Buffer.concat([sig, Buffer.from('From: ceo@example.com\r\n'), MESSAGE]), txt), `${algorithm}: dkimpy rejects a second From`);
    const body2 = Buffer.from(rest.toString('latin1').replace('line 7 ', 'line 8 '), 'latin1');
    t.notOk(verifyDkimpy(Buffer.concat([sig, Buffer.from(head, 'latin1'), body2]), txt), `${algorithm}: dkimpy rejects a changed body`);
  }
});

t.test('a caller-chosen header list still signs (and over-signs) From', async (t) => {
  const { key, txt } = keyFor('ed25519');
  const sig = await dkimSignature(chunked(MESSAGE), key, { now: NOW, headerList: ['Subject', 'Date'] });
  const h = /h=([^;]*);/.exec(sig.replace(/\r\n[ \t]/g, ' '))![1]!.split(':').map((s) => s.trim().toLowerCase()).sort();
  t.same(h, ['date', 'from', 'from', 'subject']);
  t.equal((await verifyMailauth(Buffer.concat([Buffer.from(sig), MESSAGE]), txt)).status.result, 'pass');
  const bad: unknown = await dkimSignature(chunked(MESSAGE), key, { headerList: ['Bad Name'] }).catch((e: unknown) => e);
  t.ok(bad instanceof DkimError, 'a malformed field name is refused');
});

t.test('signing problems are DkimErrors', async (t) => {
  const { key } = keyFor('rsa');
  const signError = async (p: Promise<string>, re: RegExp, what: string): Promise<void> => {
    const e: unknown = await p.then(() => undefined, (err: unknown) => err);
    t.ok(e instanceof DkimError && e.code === 'E_DKIM_SIGN', `${what}: a DkimError`);
    t.match((e as Error | undefined)?.message, re, `${what}: says why`);
  };

  await signError(dkimSignature(chunked(MESSAGE), { ...key, algorithm: 'ed25519' }), /Invalid key type/, 'key does not match algorithm');
  await signError(dkimSignature(chunked(MESSAGE), { ...key, privateKeyPem: 'not a key' }), /DKIM signing failed/, 'unreadable key');
  await signError(dkimSignature(chunked(Buffer.from('From: a@example.com\r\nSubject: x\r\n')), key), /separator/, 'no blank line after the header');
  await signError(dkimSignature(chunked(Buffer.from('Subject: x\r\n\r\nbody\r\n')), key), /no From/, 'no From header');
  await signError(dkimSignature(chunked(MESSAGE), { ...key, selector: '' }), /selector/, 'no selector');

  async function* failing(): AsyncGenerator<Buffer> {
    yield MESSAGE.subarray(0, 100);
    throw new Error('spool read failed');
  }
  await signError(dkimSignature(failing(), key), /spool read failed/, 'a read error from the spool');
});

t.test('the signature does not depend on where the message is cut, at the end of the header least of all', async (t) => {
  for (const algorithm of ['rsa', 'ed25519'] as const) {
    const { key, txt } = keyFor(algorithm);
    const whole = await dkimSignature([MESSAGE], key, { now: NOW });
    const r = await verifyMailauth(Buffer.concat([Buffer.from(whole), MESSAGE]), txt);
    t.equal(r.status.result, 'pass', `${algorithm}: whole message verifies`);
    const end = MESSAGE.indexOf('\r\n\r\n');
    const cuts: Buffer[][] = [];
    for (let k = end - 4; k <= end + 6; k++) {
      cuts.push([MESSAGE.subarray(0, k), MESSAGE.subarray(k)]);
      // the blank line's bytes one chunk each
      cuts.push([MESSAGE.subarray(0, k), MESSAGE.subarray(k, k + 1), MESSAGE.subarray(k + 1, k + 2), MESSAGE.subarray(k + 2)]);
    }
    for (const [i, pieces] of cuts.entries()) {
      const lengths = pieces.map((p) => p.length).join('+');
      t.equal(await dkimSignature(pieces, key, { now: NOW }), whole, `${algorithm}, cut ${i}: ${lengths} bytes, in memory`);
      t.equal(await dkimSignature((async function* () { yield* pieces; })(), key, { now: NOW }), whole, `${algorithm}, cut ${i}: streamed`);
    }
    // A header ending in bare LFs (mailauth turns them into CRLF before looking for the end)
    const lf = Buffer.from(MESSAGE.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const lfEnd = lf.indexOf('\n\n');
    for (let k = lfEnd - 2; k <= lfEnd + 3; k++) {
      t.equal(await dkimSignature([lf.subarray(0, k), lf.subarray(k)], key, { now: NOW }), whole, `${algorithm}: LF line ends, cut at ${k - lfEnd} from the blank line`);
    }
  }
});

// A DKIM thread's garbage is collected on its own heap, but it is CPU all the same: mailauth's search for
// the end of the header allocated ~50 KB per 2 KB message (an array sliced per byte), stream/promises'
// pipeline an AbortController and a DOMException per message. Counted with V8's sampling heap profiler.
t.test('signing a 2 KB message held in memory allocates under 80 KB', async (t) => {
  const { key } = keyFor('ed25519');
  const message = Buffer.from(['From: a@example.com', 'To: b@example.org', 'Subject: allocation', 'Date: Sat, 05 Dec 2026 10:00:00 +0000',
    'Message-ID: <x@example.com>', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '',
    ...Array.from({ length: 30 }, () => 'The quick brown fox jumps over the lazy dog again and again.'), ''].join('\r\n'));
  const perMessage = await bytesPerCall(() => dkimSignature([message], key, { now: NOW, inline: true }), 1500);
  t.ok(perMessage < 80_000, `${Math.round(perMessage)} bytes allocated per ${message.length}-byte message`);
});
