// List import of damaged files: a malformed row (an unclosed or stray quote, too few or too
// many fields) is reported at its own line and the rows after it are still imported (or,
// --strict, nothing is); a run that dropped rows exits non-zero; the report of a file full
// of bad rows stays small (first problems, counts per kind); the encoding is checked over
// the whole file and named, input valid in neither UTF-8 nor GBK is refused; an upload's
// errors never show the server's temporary path.
import { adminAuth } from './helpers/api.js';
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { tempDir, startDaemon } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { openTestStore } from './helpers/store.js';
import { Lists } from '../src/lists/lists.js';
import { importFile, type ImportReport } from '../src/lists/import.js';
import { MAX_PROBLEMS } from '../src/lists/import-report.js';

const dir = tempDir('mta-lists-import-');
const cfg = join(dir, 'mta.toml');
writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mta = (args: string[]): ReturnType<typeof runMta> => runMta([...args, '--config', cfg]);
const file = (name: string, content: string | Buffer): string => { const p = join(dir, name); writeFileSync(p, content); return p; };
const exported = async (list: string): Promise<string> => (await mta(['list', 'export', list])).out;

// Line 3 opens a quote it never closes; six valid rows follow it.
const UNCLOSED = [
  'EAddr,UserName,City',
  'ann@dest.test,Ann,Paris',
  'bob@dest.test,Bob,"Berlin',
  'carol@dest.test,Carol,Rome',
  'dan@dest.test,Dan,Oslo',
  'eve@dest.test,Eve,Lima',
  'fay@dest.test,Fay,Kyiv',
  'gus@dest.test,Gus,Riga',
  'hal@dest.test,Hal,"Bern, CH"',
].join('\n') + '\n';

t.test('an unclosed quote is one bad row at its own line; the rows after it are imported; exit 1', async (t) => {
  t.equal((await mta(['list', 'create', 'q', '--alias', 'q@example.com'])).code, 0);
  const r = await mta(['list', 'import', 'q', file('unclosed.csv', UNCLOSED), '--json']);
  t.equal(r.code, 1, 'a run that dropped a row is not a clean exit');
  t.match(r.err, /1 of 8 rows were not imported .*MTA_ERR_IMPORT_PARTIAL/);
  const rep = JSON.parse(r.out) as ImportReport;
  t.match(rep, { rows: 8, imported: 7, invalid: 1, problem_counts: { unclosed_quote: 1 } });
  t.same(rep.errors, [{ line: 3, value: 'bob@dest.test', reason: 'field 3 opens a quote that is not closed on this line', kind: 'unclosed_quote' }]);
  t.equal(await exported('q'), [
    'EAddr,UserName,City', 'ann@dest.test,Ann,Paris', 'carol@dest.test,Carol,Rome', 'dan@dest.test,Dan,Oslo', 'eve@dest.test,Eve,Lima',
    'fay@dest.test,Fay,Kyiv', 'gus@dest.test,Gus,Riga', 'hal@dest.test,Hal,"Bern, CH"',
  ].join('\n') + '\n', 'every other row, the quoted one after the damage included');
});

t.test('too few fields, too many, a stray quote: the same treatment, an aligned table', async (t) => {
  t.equal((await mta(['list', 'create', 'f', '--alias', 'f@example.com'])).code, 0);
  const csv = file('fields.csv', 'EAddr,UserName,City\na@dest.test,A,Paris\nb@dest.test,B\nc@dest.test,C,Rome,extra\nd@dest.test,"D"x,Oslo\ne@dest.test,E,Lima\n');
  const r = await mta(['list', 'import', 'f', csv]);
  t.equal(r.code, 1);
  t.match(r.out, /imported\s+2\n/);
  const table = r.out.slice(r.out.indexOf('LINE'));
  t.equal(table, [
    'LINE  VALUE          REASON',
    '3     "b@dest.test"  2 fields, but the header names 3 columns',
    '4     "c@dest.test"  4 fields, but the header names 3 columns',
    '5     "d@dest.test"  field 2 has characters after its closing quote',
    '',
  ].join('\n'));
  t.equal(await exported('f'), 'EAddr,UserName,City\na@dest.test,A,Paris\ne@dest.test,E,Lima\n');
});

t.test('--strict: an unclosed quote refuses the file once, nothing written', async (t) => {
  t.equal((await mta(['list', 'create', 's', '--alias', 's@example.com'])).code, 0);
  const r = await mta(['list', 'import', 's', file('strict.csv', UNCLOSED), '--strict']);
  t.equal(r.code, 1);
  t.equal(r.out, '');
  t.equal(r.err.match(/refused/g)?.length, 1, 'the refusal is printed once');
  t.match(r.err, /line 3: "bob@dest.test": field 3 opens a quote that is not closed on this line; nothing was imported/);
  t.equal(await exported('s'), 'EAddr\n');
});

t.test('a million-problem file: the report keeps the first problems and counts all by kind', async (t) => {
  const data = join(dir, 'cap-data');
  const store = openTestStore(data);
  t.teardown(() => store.close());
  await new Lists(store).create({ name: 'cap', alias: 'cap@example.com' });
  const n = 20_000;
  const rows = ['EAddr,UserName'];
  for (let i = 0; i < n; i++) rows.push(i % 2 ? `bad${i},X` : `x${i}@dest.test,X,too,many`);
  const rep = await importFile(store, 'cap', file('cap.csv', rows.join('\n')));
  t.match(rep, { rows: n, imported: 0, invalid: n, errors_truncated: true, problem_counts: { invalid_address: n / 2, field_count: n / 2 } });
  t.equal(rep.errors.length, MAX_PROBLEMS);
  t.ok(JSON.stringify(rep).length < 200_000, `report is ${JSON.stringify(rep).length} bytes`);
});

t.test('encoding: checked over the whole file, named in the report; neither UTF-8 nor GBK is refused', async (t) => {
  t.equal((await mta(['list', 'create', 'enc', '--alias', 'enc@example.com'])).code, 0);
  const utf8 = await mta(['list', 'import', 'enc', file('u.csv', 'EAddr,UserName\nli@dest.test,李娜\n')]);
  t.equal(utf8.code, 0, utf8.err);
  t.match(utf8.out, /encoding utf8 \(auto: the file is valid UTF-8\)/);
  const gbk = await mta(['list', 'import', 'enc', file('g.csv', iconv.encode('EAddr,UserName\nwang@dest.test,王小明\n', 'gbk')), '--json']);
  t.match(JSON.parse(gbk.out), { encoding: 'gbk', encoding_note: /^auto: not valid UTF-8 \(line 2, byte \d+\), valid GBK$/ });
  const before = await exported('enc');
  // Valid UTF-8 for the first 64 KB, then bytes that are neither UTF-8 nor GBK.
  const pad = Array.from({ length: 3000 }, (_, i) => `p${i}@dest.test,填充`).join('\n');
  const broken = Buffer.concat([Buffer.from(`EAddr,UserName\n${pad}\n`), Buffer.from([0x7a, 0x40, 0x64, 0x2e, 0x74, 0x2c, 0xff, 0xff, 0x0a])]);
  t.ok(broken.length > 64 * 1024);
  const bad = await mta(['list', 'import', 'enc', file('bad.csv', broken)]);
  t.equal(bad.code, 1);
  t.match(bad.err, /bad\.csv is neither valid UTF-8 \(line 3002, byte \d+\) nor valid GBK \(line \d+, byte \d+\).*Nothing was imported \(MTA_ERR_INVALID\)/);
  const named = await mta(['list', 'import', 'enc', file('bad2.csv', broken), '--encoding', 'utf8']);
  t.equal(named.code, 1);
  t.match(named.err, /bad2\.csv is not valid UTF-8 \(line 3002, byte \d+\); nothing was imported/);
  t.equal(await exported('enc'), before, 'nothing was written');
});

t.test('an upload\'s errors name the uploaded file, never the temporary path', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const base = `http://127.0.0.1:${d.daemon.admin!.port}`;
  await fetch(`${base}/api/v1/lists`, { method: 'POST', headers: { 'content-type': 'application/json', ...adminAuth(d) }, body: JSON.stringify({ name: 'up', alias: 'up@example.com' }) });
  const send = async (body: Buffer | string, filename: string): Promise<{ status: number; json: any }> => {
    const form = new FormData();
    form.append('file', new Blob([body]), filename);
    const res = await fetch(`${base}/api/v1/lists/up/members`, { method: 'POST', headers: adminAuth(d), body: form });
    return { status: res.status, json: await res.json() };
  };
  for (const [body, name] of [['', 'empty.csv'], [Buffer.from([0xff, 0xfe, 0x80, 0x0a]), 'junk.csv']] as const) {
    const r = await send(body, name);
    t.equal(r.status, 400, JSON.stringify(r.json));
    t.match(r.json.error.message, `the uploaded file "${name}"`);
    t.notMatch(r.json.error.message, /list-upload-|\/tmp|data/, 'no server path');
  }
});
