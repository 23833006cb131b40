// Recipient lists: `mta list create|import|show|export|list|remove` and the JSON API.
// Import reports imported / updated / duplicates / invalid rows with line numbers, reads
// UTF-8 and GBK (sniffed), CSV and TXT, refuses a whole file under --strict without
// changing anything, and streams: a 200,000-row file imports with flat memory.
import t from 'tap';
import { createWriteStream, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { tempDir, startDaemon } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { apiClient } from './helpers/api.js';
import { openTestStore } from './helpers/store.js';
import { Lists } from '../src/lists/lists.js';
import { importFile, type ImportReport } from '../src/lists/import.js';

const dir = tempDir('mta-lists-');
const cfg = join(dir, 'mta.toml');
writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mta = (args: string[], stdin?: string): ReturnType<typeof runMta> => runMta([...args, '--config', cfg], stdin);
const file = (name: string, content: string | Buffer): string => { const p = join(dir, name); writeFileSync(p, content); return p; };
const members = async (name: string): Promise<number> => (JSON.parse((await mta(['list', 'show', name, '--json'])).out) as { members: number }).members;

t.test('create, list, duplicate names and aliases, bad input', async (t) => {
  const r = await mta(['list', 'create', 'news', '--alias', 'News@Lists.Example.com', '--description', 'monthly news']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /created list news \(alias news@lists\.example\.com\)/);
  const dup = await mta(['list', 'create', 'news', '--alias', 'other@example.com']);
  t.equal(dup.code, 1); t.match(dup.err, /list news exists already \(MTA_ERR_EXISTS\)/);
  const alias = await mta(['list', 'create', 'news2', '--alias', 'news@lists.example.com']);
  t.equal(alias.code, 1); t.match(alias.err, /alias address news@lists\.example\.com belongs to another list/);
  const bad = await mta(['list', 'create', 'x', '--alias', 'not-an-address']);
  t.equal(bad.code, 1); t.match(bad.err, /alias "not-an-address" is not a valid email address/);
  const badName = await mta(['list', 'create', 'a/b', '--alias', 'ab@example.com']);
  t.equal(badName.code, 1); t.match(badName.err, /not a valid list name/);
  const noAlias = await mta(['list', 'create', 'y']);
  t.not(noAlias.code, 0); t.match(noAlias.err, /--alias/);
  const list = JSON.parse((await mta(['list', 'list', '--json'])).out) as { name: string; alias: string; members: number; description: string }[];
  t.same(list.map((l) => [l.name, l.alias, l.members, l.description]), [['news', 'news@lists.example.com', 0, 'monthly news']], 'refused creates changed nothing');
});

t.test('CSV import: good, duplicate and invalid rows, each invalid row reported with its line', async (t) => {
  const csv = file('a.csv', [
    'EAddr,UserName,NickName,Gender,Birthday,Mobile,Plan',
    'alice@example.com,Alice Liddell,ali,女士,1990-01-02,13800000001,gold',
    'Bob@Example.COM,Bob,bobby,先生,,13800000002,silver',
    'not-an-address,Nobody,,,,,',
    '',
    'alice@example.com,Alice Again,,,,,',
    ',Empty,,,,,',
    '"carol@example.com","Carol, Jr.",c,,,,"bronze"',
    'bob@example.com,Bob Lowercase,,,,,',
    'dave@example.com,Dave,,,,,,too,many',
  ].join('\r\n') + '\r\n');
  const r = await mta(['list', 'import', 'news', csv, '--json']);
  t.equal(r.code, 1, 'rows were dropped: not a clean exit');
  t.match(r.err, /^mta: 3 of 8 rows were not imported \(listed above\) \(MTA_ERR_IMPORT_PARTIAL\)\n$/);
  const rep = JSON.parse(r.out) as ImportReport;
  t.match(rep, { list: 'news', rows: 8, imported: 3, updated: 0, duplicates: 2, invalid: 3, refused: false, encoding: 'utf8' });
  t.same(rep.variables, ['UserName', 'NickName', 'Gender', 'Birthday', 'Mobile', 'Plan']);
  t.same(rep.errors, [
    { line: 4, value: 'not-an-address', reason: 'not a valid email address', kind: 'invalid_address' },
    { line: 7, value: '', reason: 'EAddr is empty', kind: 'empty_address' },
    { line: 10, value: 'dave@example.com', reason: '9 fields, but the header names 7 columns', kind: 'field_count' },
  ]);
  t.same(rep.duplicate_rows, [{ line: 6, value: 'alice@example.com' }, { line: 9, value: 'bob@example.com' }], 'the first row for an address wins');
  t.equal(await members('news'), 3);
  const table = await mta(['list', 'import', 'news', csv]);
  t.match(table.out, /imported\s+0\n\s+updated\s+3\n\s+duplicates\s+2\n\s+invalid\s+3/);
  t.match(table.out, /LINE  VALUE               REASON\n4     "not-an-address"    not a valid email address\n7     ""                  EAddr is empty\n10    "dave@example.com"  9 fields/, 'the problem table is aligned');
  const show = JSON.parse((await mta(['list', 'show', 'news', '--members', '2', '--json'])).out) as { first_members: Record<string, string>[] };
  t.same(show.first_members[0], { EAddr: 'alice@example.com', UserName: 'Alice Liddell', NickName: 'ali', Gender: '女士', Birthday: '1990-01-02', Mobile: '13800000001', Plan: 'gold' });
  t.equal(show.first_members[1]!['EAddr'], 'bob@example.com', 'addresses are normalised');
});

t.test('a header without EAddr is one clear error; seed-style headers work', async (t) => {
  const r = await mta(['list', 'import', 'news', file('noaddr.csv', 'Email,UserName\nx@example.com,X\n')]);
  t.equal(r.code, 1);
  t.match(r.err, /^mta: the header row has no EAddr column \(found: "Email", "UserName"\).*\(MTA_ERR_INVALID\)\n$/);
  const empty = await mta(['list', 'import', 'news', file('empty.csv', '')]);
  t.equal(empty.code, 1); t.match(empty.err, /is empty/);
  const missing = await mta(['list', 'import', 'nosuch', file('one.csv', 'EAddr\na@example.com\n')]);
  t.equal(missing.code, 1); t.match(missing.err, /no list named nosuch/);
  t.equal((await mta(['list', 'create', 'seed', '--alias', 'seed@example.com'])).code, 0);
  const seed = file('seed.txt', '收件人邮箱地址{EAddr}\t收件人姓名{UserName}\t收件人昵称{NickName}\nzhang@example.com\t张三\t小张\n');
  const s = await mta(['list', 'import', 'seed', seed, '--json']);
  t.equal(s.code, 0, s.err);
  t.match(JSON.parse(s.out), { imported: 1, variables: ['UserName', 'NickName'] });
});

t.test('GBK file: sniffed or named, Chinese values round-trip', async (t) => {
  t.equal((await mta(['list', 'create', 'cn', '--alias', 'cn@example.com'])).code, 0);
  const text = 'EAddr,UserName,NickName,Gender\nwang@example.com,王小明,小明,先生\nli@example.com,李娜,娜娜,女士\n';
  const gbk = file('cn.csv', iconv.encode(text, 'gbk'));
  const r = await mta(['list', 'import', 'cn', gbk, '--json']);
  t.equal(r.code, 0, r.err);
  t.match(JSON.parse(r.out), { imported: 2, invalid: 0, encoding: 'gbk' });
  const out = await mta(['list', 'export', 'cn']);
  t.equal(out.out, 'EAddr,UserName,NickName,Gender\nli@example.com,李娜,娜娜,女士\nwang@example.com,王小明,小明,先生\n');
  const named = await mta(['list', 'import', 'cn', gbk, '--encoding', 'gbk', '--json']);
  t.match(JSON.parse(named.out), { imported: 0, updated: 2, encoding: 'gbk' });
  const bom = file('bom.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('EAddr,UserName\nzhao@example.com,赵六\n')]));
  const b = await mta(['list', 'import', 'cn', bom, '--json']);
  t.match(JSON.parse(b.out), { imported: 1, encoding: 'utf8', variables: ['UserName'] }, 'a UTF-8 BOM is stripped, not part of "EAddr"');
  const bad = await mta(['list', 'import', 'cn', gbk, '--encoding', 'latin1']);
  t.not(bad.code, 0); t.match(bad.err, /Allowed choices are utf8, gbk, auto/);
});

t.test('TXT: one address per line, or a tab-separated header', async (t) => {
  t.equal((await mta(['list', 'create', 'plain', '--alias', 'plain@example.com'])).code, 0);
  const bare = await mta(['list', 'import', 'plain', file('bare.txt', 'one@example.com\ntwo@example.com\n\nbroken@\nthree@example.com\n'), '--json']);
  t.equal(bare.code, 1, 'a dropped row: not a clean exit');
  t.match(JSON.parse(bare.out), { rows: 4, imported: 3, invalid: 1, errors: [{ line: 4, value: 'broken@', reason: 'not a valid email address' }], variables: [] });
  const tsv = await mta(['list', 'import', 'plain', file('tab.txt', 'eaddr\tUserName\tCity\none@example.com\tOne\tParis\nfour@example.com\tFour\tLyon\n'), '--json']);
  t.match(JSON.parse(tsv.out), { imported: 1, updated: 1, variables: ['UserName', 'City'] });
  t.equal((await mta(['list', 'export', 'plain'])).out,
    'EAddr,UserName,City\nfour@example.com,Four,Lyon\none@example.com,One,Paris\nthree@example.com,,\ntwo@example.com,,\n');
});

t.test('--strict refuses the whole file on the first error and changes nothing', async (t) => {
  t.equal((await mta(['list', 'create', 'strict', '--alias', 'strict@example.com'])).code, 0);
  t.equal((await mta(['list', 'import', 'strict', file('s0.csv', 'EAddr,UserName\nkeep@example.com,Keep\n')])).code, 0);
  const before = (await mta(['list', 'export', 'strict'])).out;
  const bad = file('s1.csv', 'EAddr,UserName,Extra\nkeep@example.com,Changed,x\nnew1@example.com,N1,\nnew2@example.com,N2,\nbroken,B,\nnew3@example.com,N3,\n');
  const r = await mta(['list', 'import', 'strict', bad, '--strict']);
  t.equal(r.code, 1);
  t.equal(r.out, '', 'the refusal is printed once, as the error');
  t.equal(r.err, 'mta: import refused (--strict): line 5: "broken": not a valid email address; nothing was imported (MTA_ERR_INVALID)\n');
  const j = JSON.parse((await mta(['list', 'import', 'strict', bad, '--strict', '--json'])).out) as ImportReport;
  t.match(j, { refused: true, imported: 0, updated: 0, invalid: 1, errors: [{ line: 5, value: 'broken' }] });
  t.equal((await mta(['list', 'export', 'strict'])).out, before, 'members, variables and columns unchanged');
  const ok = await mta(['list', 'import', 'strict', file('s2.csv', 'EAddr,UserName\nkeep@example.com,Changed\nnew@example.com,New\n'), '--strict', '--json']);
  t.match(JSON.parse(ok.out), { refused: false, imported: 1, updated: 1 });
});

t.test('re-import updates by address; export imports back unchanged', async (t) => {
  t.equal((await mta(['list', 'create', 'rt', '--alias', 'rt@example.com'])).code, 0);
  t.equal((await mta(['list', 'import', 'rt', file('rt1.csv', 'EAddr,UserName,Note\na@example.com,A,"has, comma"\nb@example.com,B,"line\nbreak"\nc@example.com,C,"quote ""q"""\n')])).code, 0);
  const re = await mta(['list', 'import', 'rt', file('rt2.csv', 'EAddr,UserName\nA@EXAMPLE.com,A2\nd@example.com,D\n'), '--json']);
  t.match(JSON.parse(re.out), { imported: 1, updated: 1, duplicates: 0 });
  const exported = (await mta(['list', 'export', 'rt'])).out;
  t.equal(exported, 'EAddr,UserName,Note\na@example.com,A2,\nb@example.com,B,"line\nbreak"\nc@example.com,C,"quote ""q"""\nd@example.com,D,\n',
    're-import replaces the variables of an address');
  t.equal((await mta(['list', 'create', 'rt-copy', '--alias', 'rt-copy@example.com'])).code, 0);
  const back = await mta(['list', 'import', 'rt-copy', file('rt-export.csv', exported), '--json']);
  t.match(JSON.parse(back.out), { imported: 4, invalid: 0 });
  t.equal((await mta(['list', 'export', 'rt-copy'])).out, exported, 'round trip');
  const table = await mta(['list', 'show', 'rt', '--members', '10']);
  t.match(table.out, /NAME\s+ALIAS\s+MEMBERS\s+VARIABLES\s+CREATED\s+DESCRIPTION\nrt\s+rt@example\.com\s+4\s+UserName, Note/);
  t.match(table.out, /EAddr\s+UserName\s+Note\na@example\.com\s+A2/);
  t.equal((await mta(['list', 'remove', 'rt-copy'])).code, 0);
  const gone = await mta(['list', 'show', 'rt-copy']);
  t.equal(gone.code, 1); t.match(gone.err, /no list named rt-copy \(MTA_ERR_NOT_FOUND\)/);
  t.equal((await mta(['list', 'remove', 'rt-copy'])).code, 1);
});

t.test('a 200,000-row file imports in batches with flat memory', async (t) => {
  const data = join(dir, 'big-data');
  const store = openTestStore(data);
  t.teardown(() => store.close());
  await new Lists(store).create({ name: 'big', alias: 'big@example.com' });
  const path = join(dir, 'big.csv');
  const N = 200_000;
  await new Promise<void>((resolve, reject) => {
    const w = createWriteStream(path);
    w.on('error', reject);
    let i = 0;
    const more = (): void => {
      let ok = true;
      while (i < N && ok) {
        ok = w.write(i % 50_000 === 7 ? `bad-${i}\n` : `user${i}@example${i % 97}.com,User ${i},${i % 2 ? '先生' : '女士'},${i}\n`);
        i++;
      }
      if (i < N) w.once('drain', more); else w.end(resolve);
    };
    w.write('EAddr,UserName,Gender,Seq\n');
    more();
  });
  let peak = process.memoryUsage().rss;
  const base = peak;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  let progressCalls = 0;
  const started = Date.now();
  const rep = await importFile(store, 'big', path, { onProgress: () => { progressCalls++; peak = Math.max(peak, process.memoryUsage().rss); } });
  clearInterval(timer);
  t.comment(`200,000 rows in ${Date.now() - started} ms; rss before ${Math.round(base / 2 ** 20)} MiB, peak ${Math.round(peak / 2 ** 20)} MiB`);
  t.match(rep, { rows: N, imported: N - 4, invalid: 4, duplicates: 0 });
  t.same(rep.errors.map((e) => e.line), [9, 50_009, 100_009, 150_009], 'line numbers count the header');
  t.ok(progressCalls >= 199, `${progressCalls} batches`);
  t.equal((await store.getList('big'))!.members, N - 4);
  const [m] = await store.listMembers('big', { after: 'user199998@', limit: 1 });
  t.same(m!.variables, { UserName: 'User 199998', Gender: '女士', Seq: '199998' });
});

t.test('API: create, list, show with a member page, members as JSON rows, remove', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const api = apiClient(d);
  const c = await api('POST', '/api/v1/lists', { name: 'vip', alias: 'VIP@example.com', description: 'best customers' });
  t.equal(c.status, 201, c.text);
  t.match(c.json, { name: 'vip', alias: 'vip@example.com', description: 'best customers', member_count: 0, variables: [] });
  t.equal((await api('POST', '/api/v1/lists', { name: 'vip', alias: 'v2@example.com' })).status, 409);
  const badCreate = await api('POST', '/api/v1/lists', { name: 'x', alias: 'x@example.com', owner: 'me' });
  t.equal(badCreate.status, 400); t.match(badCreate.json, { error: { code: 'MTA_ERR_INVALID' } });
  const badAlias = await api('POST', '/api/v1/lists', { name: 'x', alias: 'nope' });
  t.equal(badAlias.status, 400); t.match(badAlias.json, { error: { field: 'alias' } });

  const rows = [
    { EAddr: 'a@example.com', UserName: '甲', Age: 30 },
    { eaddr: 'b@example.com', UserName: 'B', NickName: null },
    { EAddr: 'a@example.com', UserName: 'dup' },
    { EAddr: 'bad', UserName: 'X' },
    { UserName: 'no address' },
    { EAddr: 'c@example.com' },
  ];
  const m = await api('POST', '/api/v1/lists/vip/members', rows);
  t.equal(m.status, 200, m.text);
  t.match(m.json, { imported: 3, duplicates: 1, invalid: 2, variables: ['UserName', 'Age', 'NickName'] });
  t.same(m.json.errors, [{ line: 4, value: 'bad', reason: 'not a valid email address', kind: 'invalid_address' }, { line: 5, value: '', reason: 'no EAddr field', kind: 'empty_address' }]);
  const strict = await api('POST', '/api/v1/lists/vip/members?strict=true', [{ EAddr: 'z@example.com' }, { EAddr: 'bad' }]);
  t.match(strict.json, { refused: true, imported: 0, errors: [{ line: 2 }] });
  const badRows = await api('POST', '/api/v1/lists/vip/members', { EAddr: 'a@example.com' });
  t.equal(badRows.status, 400, 'an object, not an array of rows');
  t.equal((await api('POST', '/api/v1/lists/vip/members', [])).status, 400, 'no rows');
  t.equal((await api('POST', '/api/v1/lists/vip/members', [{ EAddr: { nested: true } }])).status, 400);
  t.equal((await api('POST', '/api/v1/lists/nosuch/members', [{ EAddr: 'a@example.com' }])).status, 404);

  const all = await api('GET', '/api/v1/lists');
  t.match(all.json, { items: [{ name: 'vip', member_count: 3 }], next_cursor: null });
  t.equal((await api('GET', '/api/v1/lists?limit=0')).status, 400);
  const p1 = await api('GET', '/api/v1/lists/vip?limit=2');
  t.equal(p1.status, 200, p1.text);
  t.match(p1.json, { name: 'vip', member_count: 3, variables: ['UserName', 'Age', 'NickName'] });
  t.same(p1.json.members.items.map((x: { EAddr: string }) => x.EAddr), ['a@example.com', 'b@example.com']);
  t.same(p1.json.members.items[0].variables, { UserName: '甲', Age: '30', NickName: '' });
  const p2 = await api('GET', `/api/v1/lists/vip?limit=2&cursor=${p1.json.members.next_cursor as string}`);
  t.same(p2.json.members.items.map((x: { EAddr: string }) => x.EAddr), ['c@example.com']);
  t.equal(p2.json.members.next_cursor, null);
  t.equal((await api('GET', '/api/v1/lists/vip?cursor=forged')).status, 400);
  t.equal((await api('GET', '/api/v1/lists/nosuch')).status, 404);
  const found = await api('GET', '/api/v1/lists/vip?q=B%40EXAMPLE');
  t.same(found.json.members.items.map((x: { EAddr: string }) => x.EAddr), ['b@example.com'], 'q: members whose address holds the text, any case');
  t.equal(found.json.member_count, 3, 'the count is the whole list\'s');
  t.same((await api('GET', '/api/v1/lists/vip?q=%25')).json.members.items, [], 'q: % is a plain character, not a wildcard');
  const q1 = await api('GET', '/api/v1/lists/vip?q=example&limit=2');
  const q2 = await api('GET', `/api/v1/lists/vip?q=example&limit=2&cursor=${q1.json.members.next_cursor as string}`);
  t.same([...q1.json.members.items, ...q2.json.members.items].map((x: { EAddr: string }) => x.EAddr), ['a@example.com', 'b@example.com', 'c@example.com'], 'q pages like the whole list');

  t.same((await api('DELETE', '/api/v1/lists/vip')).json, { removed: true });
  t.equal((await api('DELETE', '/api/v1/lists/vip')).status, 404);
  t.same(await d.daemon.store.listMembers('vip', { limit: 10 }), [], 'members went with the list');
});
