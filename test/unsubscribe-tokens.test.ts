// The sealed tokens on their own: VERP addresses and unsubscribe tokens round-trip, are
// short and case-proof where SMTP needs it, and refuse every altered, spliced, truncated,
// random or foreign token. The server secret file: created once, 0600, reused.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSecret, base32Decode, base32Encode } from '../src/util/secret.js';
import { parseVerp, verpAddress } from '../src/mail/verp.js';
import { openLinkToken, openMailtoToken, recipientDigest, sealLinkToken } from '../src/mail/tokens.js';
import { footerHtml, footerText, unsubscribeLinks } from '../src/public/unsubscribe-links.js';
import { newQueueId } from '../src/util/ids.js';
import { parseAddress } from '../src/util/address.js';
import { tempDir } from './helpers/daemon.js';

const secret = randomBytes(32);
const other = randomBytes(32);

/** Every single-character change of a token, in its own alphabet. */
function alterations(token: string, alphabet: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token[i]!;
    const repl = alphabet[(alphabet.indexOf(c) + 1) % alphabet.length]!;
    out.push(token.slice(0, i) + repl + token.slice(i + 1));
  }
  return out;
}

t.test('secret.key: 32 random bytes, created once with mode 0600, then reused', async (t) => {
  const dir = tempDir();
  const a = loadSecret(join(dir, 'data'));
  t.equal(a.length, 32);
  const st = statSync(join(dir, 'data', 'secret.key'));
  t.equal(st.mode & 0o777, 0o600);
  t.same(loadSecret(join(dir, 'data')), a, 'the same key on the next start');
  t.notSame(loadSecret(tempDir()), a, 'another data_dir, another key');
  writeFileSync(join(dir, 'data', 'secret.key'), 'garbage\n');
  t.throws(() => loadSecret(join(dir, 'data')), { code: 'MTA_ERR_DATA_DIR' }, 'a damaged key is refused, not replaced');
});

t.test('base32: lower case, either case decodes, foreign characters refused', async (t) => {
  for (let n = 0; n < 40; n++) {
    const b = randomBytes(n);
    const s = base32Encode(b);
    t.match(s, /^[a-z2-7]*$/);
    t.same(base32Decode(s), b);
    t.same(base32Decode(s.toUpperCase()), b);
  }
  t.equal(base32Decode('ab1c'), undefined);
  t.equal(base32Decode('abcdefgh!'), undefined);
});

t.test('VERP: round trip, length, case folding, and every tampering refused', async (t) => {
  const id = newQueueId();
  const addr = verpAddress(secret, id, 'Example.com', 'bounce');
  t.match(addr, /^bounce\+[a-z2-7]+@bounce\.example\.com$/);
  const local = addr.slice(0, addr.indexOf('@'));
  t.ok(local.length <= 64, `local part ${local.length} ≤ 64`);
  t.ok(parseAddress(addr), 'a valid mailbox address');
  t.same(parseVerp(secret, addr), { queueId: id });
  t.same(parseVerp(secret, addr.toUpperCase()), { queueId: id }, 'a bouncing server upper-casing it changes nothing');
  t.same(parseVerp(secret, local), { queueId: id }, 'the local part alone');
  t.equal(verpAddress(secret, id, 'example.com', 'bounce'), addr, 'deterministic: one address per message');
  t.not(verpAddress(secret, newQueueId(), 'example.com', 'bounce'), addr);
  t.equal(parseVerp(other, addr), undefined, 'another server\'s key');
  const token = local.slice('bounce+'.length);
  let refused = 0;
  for (const bad of alterations(token, 'abcdefghijklmnopqrstuvwxyz234567')) if (parseVerp(secret, `bounce+${bad}@bounce.example.com`) === undefined) refused++;
  t.equal(refused, token.length, 'every one-character alteration refused');
  t.equal(parseVerp(secret, `bounce+${token.slice(0, -1)}@x.test`), undefined, 'truncated');
  t.equal(parseVerp(secret, `bounce+${token}a@x.test`), undefined, 'extended');
  t.equal(parseVerp(secret, `bounce+${base32Encode(randomBytes(24))}@x.test`), undefined, 'random');
  t.equal(parseVerp(secret, `bounce+${id.toLowerCase()}@x.test`), undefined, 'a bare queue id is not a token');
  t.equal(parseVerp(secret, 'postmaster@bounce.example.com'), undefined);
  t.throws(() => verpAddress(secret, 'not-a-queue-id', 'example.com', 'bounce'), { code: 'MTA_ERR_INVALID' });
});

t.test('unsubscribe link token: opaque, sealed, unforgeable', async (t) => {
  const id = newQueueId();
  const target = { address: 'jane.doe@dest.test', senderDomain: 'example.com', queueId: id };
  const tok = sealLinkToken(secret, target);
  t.match(tok, /^[A-Za-z0-9_-]+$/, 'URL safe');
  t.notOk(tok.includes(id) || /jane|dest|example/i.test(Buffer.from(tok, 'base64url').toString('latin1')), 'names neither the message nor the address');
  t.same(openLinkToken(secret, tok), target);
  t.not(sealLinkToken(secret, target), tok, 'random nonce: two links for one recipient differ');
  t.equal(openLinkToken(other, tok), undefined, 'another server\'s key');

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let refused = 0;
  const alts = alterations(tok, B64);
  for (const bad of alts) if (openLinkToken(secret, bad) === undefined) refused++;
  t.equal(refused, alts.length, 'every one-character alteration refused');

  const tok2 = sealLinkToken(secret, { ...target, address: 'mallory@dest.test' });
  const half = Math.floor(tok.length / 2);
  t.equal(openLinkToken(secret, tok.slice(0, half) + tok2.slice(half)), undefined, 'spliced from two tokens');
  t.equal(openLinkToken(secret, tok2.slice(0, half) + tok.slice(half)), undefined, 'spliced the other way');
  t.equal(openLinkToken(secret, tok.slice(0, -2)), undefined, 'truncated');
  t.equal(openLinkToken(secret, randomBytes(80).toString('base64url')), undefined, 'random');
  t.equal(openLinkToken(secret, ''), undefined);
  t.equal(openLinkToken(secret, 'a/b'), undefined);
});

t.test('unsubscribeLinks: RFC 8058 headers, mailto within SMTP limits, footers', async (t) => {
  const id = newQueueId();
  const l = unsubscribeLinks(secret, 'https://track.example.com/', { address: 'jane@dest.test', senderDomain: 'example.com', queueId: id, mailtoDomain: 'bounce.example.com' });
  t.match(l.url, /^https:\/\/track\.example\.com\/u\/[A-Za-z0-9_-]+$/, 'no double slash');
  t.match(l.mailto, /^mailto:unsubscribe\+[a-z2-7]+@bounce\.example\.com$/);
  t.equal(l.headers['List-Unsubscribe'], `<${l.url}>, <${l.mailto}>`);
  t.equal(l.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
  const mailAddr = l.mailto.slice('mailto:'.length);
  t.ok(mailAddr.indexOf('@') <= 64, 'mailto local part ≤ 64');
  t.ok(parseAddress(mailAddr), 'a valid mailbox address');
  const opened = openMailtoToken(secret, mailAddr.toUpperCase());
  t.equal(opened?.queueId, id, 'mailto token opens, in any case');
  t.same(opened?.digest, recipientDigest('jane@dest.test', 'example.com'));
  t.equal(openMailtoToken(other, mailAddr), undefined);
  const local = mailAddr.slice('unsubscribe+'.length, mailAddr.indexOf('@'));
  let refused = 0;
  for (const bad of alterations(local, 'abcdefghijklmnopqrstuvwxyz234567')) if (!openMailtoToken(secret, `unsubscribe+${bad}@x.test`)) refused++;
  t.equal(refused, local.length, 'every one-character alteration of the mailto refused');
  t.equal(openMailtoToken(secret, `unsubscribe+${parseVerpToken(id)}@x.test`), undefined, 'a VERP token is not an unsubscribe token');

  t.match(footerHtml('https://t.example/u/a"b<c'), /href="https:\/\/t\.example\/u\/a&quot;b&lt;c"/, 'HTML-escaped');
  t.match(footerText(l.url), l.url);
});

function parseVerpToken(id: string): string {
  const a = verpAddress(secret, id, 'example.com', 'bounce');
  return a.slice('bounce+'.length, a.indexOf('@'));
}
