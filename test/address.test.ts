// util/address.ts: an ASCII domain skips punycode (a fast path, issue 23: toASCII's garbage on
// every address of every message). Whatever the path, a domain normalises as punycode would:
// lower case, A-labels for non-ASCII labels, the ideographic dots as dots.
import t from 'tap';
import punycode from 'punycode/punycode.js';
import { normaliseDomain, parseAddress } from '../src/util/address.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** What normaliseDomain gave before the fast path: toASCII on every domain. */
function viaPunycode(domain: string): string | undefined {
  let d = domain.trim().replace(/\.$/, '');
  if (d === '' || d.length > 253) return undefined;
  try { d = punycode.toASCII(d.toLowerCase()); } catch { return undefined; }
  const labels = d.split('.');
  if (labels.length < 2) return undefined;
  return labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!) ? d : undefined;
}

t.test('ASCII and IDN domains normalise as punycode would', async (t) => {
  const cases = [
    'example.com', 'Example.COM', 'mail.example.com.', ' example.com ', 'a-b.example', '-a.example', 'a-.example', 'a..example',
    'xn--bcher-kva.test', 'XN--BCHER-KVA.TEST', 'bücher.test', 'BÜCHER.test', '例え.テスト', 'example。com', 'example．com', 'ｅｘａｍｐｌｅ.com',
    'localhost', '1.2.3.4', 'example.123', `${'a'.repeat(63)}.com`, `${'a'.repeat(64)}.com`, `${'a.'.repeat(126)}com`, '', '.', 'a@b.com', 'ex ample.com',
  ];
  for (const c of cases) t.equal(normaliseDomain(c), viaPunycode(c), JSON.stringify(c));
  t.equal(normaliseDomain('Bücher.Test'), 'xn--bcher-kva.test');
  t.equal(normaliseDomain('MAIL.Example.COM'), 'mail.example.com');
});

t.test('addresses: the local part keeps its case, the domain is normalised', async (t) => {
  t.same(parseAddress('Leser@Bücher.TEST'), { local: 'Leser', domain: 'xn--bcher-kva.test', address: 'Leser@xn--bcher-kva.test' });
  t.same(parseAddress('App@Example.com'), { local: 'App', domain: 'example.com', address: 'App@example.com' });
  t.equal(parseAddress('a@localhost'), undefined);
  t.equal(parseAddress('a\uFFFD@example.com'), undefined);
});
