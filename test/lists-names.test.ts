// Names from input are never object keys with a prototype behind them: list columns named
// constructor, __proto__, toString and hasOwnProperty import, show, export (CSV cells a
// spreadsheet would run as formulas escaped, and imported back unchanged) and fill a
// template like any other; the suppression export escapes formula cells too.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, startDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { makeTemplate } from './helpers/tasks.js';
import { runMta } from './helpers/run.js';
import { openTestStore } from './helpers/store.js';
import { memberVars } from '../src/tasks/render.js';
import { fillTemplate } from '../src/templates/templates.js';
import type { TaskFrame } from '../src/tasks/render.js';
import { escapeCell, unescapeCell } from '../src/util/csv-cells.js';

const dir = tempDir('mta-lists-names-');
const data = join(dir, 'data');
const cfg = join(dir, 'mta.toml');
writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${data}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mta = (args: string[]): ReturnType<typeof runMta> => runMta([...args, '--config', cfg]);
const file = (name: string, content: string): string => { const p = join(dir, name); writeFileSync(p, content); return p; };

const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];

t.test('columns named like Object.prototype members: import, show, export, fill', async (t) => {
  t.equal((await mta(['list', 'create', 'proto', '--alias', 'proto@example.com'])).code, 0);
  const csv = `EAddr,${NAMES.join(',')}\na@dest.test,c1,p1,t1,h1\nb@dest.test,,,,\n`;
  const imp = await mta(['list', 'import', 'proto', file('proto.csv', csv), '--json']);
  t.equal(imp.code, 0, imp.err);
  t.match(JSON.parse(imp.out), { imported: 2, invalid: 0, variables: NAMES });
  const exp = await mta(['list', 'export', 'proto']);
  t.equal(exp.code, 0, exp.err);
  t.equal(exp.out, csv, 'every row exported, values as imported');
  const show = await mta(['list', 'show', 'proto', '--members', '5']);
  t.equal(show.code, 0, show.err);
  t.notMatch(show.out, /function|native code|\[object/, 'no inherited method shown as a value');

  const store = openTestStore(data);
  t.teardown(() => store.close());
  const [a, b] = await store.listMembers('proto', { limit: 2 });
  const frame = { columns: NAMES } as unknown as TaskFrame;
  const tpl = { subject: '{constructor}', html: '<p>{__proto__} {toString}</p>', text: '{hasOwnProperty} {EAddr}' };
  t.same(fillTemplate(tpl, memberVars(frame, a!)), { subject: 'c1', html: '<p>p1 t1</p>', text: 'h1 a@dest.test', textGenerated: false });
  t.same(fillTemplate(tpl, memberVars(frame, b!)), { subject: '', html: '<p> </p>', text: ' b@dest.test', textGenerated: false }, 'empty values, no inherited ones');
});

t.test('exports escape formula cells (OWASP) and import them back unchanged', async (t) => {
  for (const v of ['=1+1', '+49 30', '-5', '@SUM(A1)', '\tx', '\rx', "'=x", "''+y", 'plain', "it's", '']) {
    t.equal(unescapeCell(escapeCell(v)), v, `round trip ${JSON.stringify(v)}`);
    t.notMatch(escapeCell(v), /^[=+\-@\t\r]/, `${JSON.stringify(v)} cannot start a formula`);
  }
  t.equal((await mta(['list', 'create', 'f', '--alias', 'f@example.com'])).code, 0);
  const csv = 'EAddr,UserName,Note\n-x@dest.test,=HYPERLINK("http://evil.test"),+1\nb@dest.test,@me,-t\n';
  t.equal((await mta(['list', 'import', 'f', file('f.csv', csv)])).code, 0);
  const out = (await mta(['list', 'export', 'f'])).out;
  t.equal(out, `EAddr,UserName,Note\n'-x@dest.test,"'=HYPERLINK(""http://evil.test"")",'+1\nb@dest.test,'@me,'-t\n`);
  t.equal((await mta(['list', 'create', 'f2', '--alias', 'f2@example.com'])).code, 0);
  t.equal((await mta(['list', 'import', 'f2', file('f2.csv', out)])).code, 0);
  t.equal((await mta(['list', 'export', 'f2'])).out, out, 'the export imports back unchanged');

  t.equal((await mta(['suppression', 'add', '=cmd@dest.test', '--reason', '=HYPERLINK("x")'])).code, 0);
  const sup = await mta(['suppression', 'export']);
  t.equal(sup.code, 0, sup.err);
  t.match(sup.out, /^'=cmd@dest\.test,.*"'=HYPERLINK\(""x""\)"/m);
});

t.test('single members: add, update, remove through the CLI and the API, each refusal precise', async (t) => {
  t.equal((await mta(['list', 'create', 'one', '--alias', 'one@example.com'])).code, 0);
  let r = await mta(['list', 'member', 'add', 'one', 'Ann@Dest.test', '--var', 'UserName=Ann', '--var', 'City=Paris']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /added ann@dest\.test in list one: UserName="Ann" City="Paris"/);
  r = await mta(['list', 'member', 'add', 'one', 'ann@dest.test']);
  t.equal(r.code, 1); t.match(r.err, /ann@dest\.test is a member of list one already.*MTA_ERR_EXISTS/);
  r = await mta(['list', 'member', 'update', 'one', 'ann@dest.test', '--var', 'City=Rome', '--json']);
  t.equal(r.code, 0, r.err);
  t.same(JSON.parse(r.out), { EAddr: 'ann@dest.test', variables: { UserName: 'Ann', City: 'Rome' } }, 'update merges');
  r = await mta(['list', 'member', 'update', 'one', 'nobody@dest.test', '--var', 'City=Rome']);
  t.equal(r.code, 1); t.match(r.err, /nobody@dest\.test is not a member of list one.*MTA_ERR_NOT_FOUND/);
  r = await mta(['list', 'member', 'add', 'one', 'not-an-address']);
  t.equal(r.code, 1); t.match(r.err, /"not-an-address" is not a valid email address/);
  r = await mta(['list', 'member', 'add', 'one', 'b@dest.test', '--var', 'novalue']);
  t.equal(r.code, 1); t.match(r.err, /--var takes Name=Value/);
  t.equal((await mta(['list', 'export', 'one'])).out, 'EAddr,UserName,City\nann@dest.test,Ann,Rome\n');
  r = await mta(['list', 'member', 'remove', 'one', 'ann@dest.test']);
  t.equal(r.code, 0, r.err);
  r = await mta(['list', 'member', 'remove', 'one', 'ann@dest.test']);
  t.equal(r.code, 1); t.match(r.err, /MTA_ERR_NOT_FOUND/);

  const d = await startDaemon();
  t.teardown(() => d.stop());
  const api = apiClient(d);
  t.equal((await api('POST', '/api/v1/lists', { name: 'web', alias: 'web@example.com' })).status, 201);
  const add = await api('POST', '/api/v1/lists/web/members/a%40dest.test', { variables: { UserName: 'A' } });
  t.equal(add.status, 201, add.text);
  t.match(add.json, { EAddr: 'a@dest.test', variables: { UserName: 'A' } });
  t.equal((await api('POST', '/api/v1/lists/web/members/a%40dest.test', { variables: {} })).status, 409);
  const upd = await api('PUT', '/api/v1/lists/web/members/A%40dest.test', { variables: { Plan: 'gold' } });
  t.equal(upd.status, 200, upd.text);
  t.same(upd.json.variables, { UserName: 'A', Plan: 'gold' });
  t.equal((await api('PUT', '/api/v1/lists/web/members/z%40dest.test', { variables: {} })).status, 404);
  t.equal((await api('POST', '/api/v1/lists/web/members/bad', { variables: {} })).status, 400);
  t.equal((await api('POST', '/api/v1/lists/nosuch/members/a%40dest.test', { variables: {} })).status, 404);
  // Variable objects from the API keep every name, __proto__ included (zod's record dropped it).
  const proto = await api('PUT', '/api/v1/lists/web/members/a%40dest.test', JSON.parse('{"variables":{"__proto__":"p","constructor":"c"}}'));
  t.equal(proto.status, 200, proto.text);
  t.same(proto.json.variables, JSON.parse('{"UserName":"A","Plan":"gold","__proto__":"p","constructor":"c"}'));
  t.equal((await api('PUT', '/api/v1/lists/web/members/a%40dest.test', { variables: { X: 5 } })).status, 400, 'values are text');
  await makeTemplate(d.daemon.store, 'p', { subject: '{constructor}', html: '<p>{__proto__}</p>' }, false);
  const rendered = await api('POST', '/api/v1/templates/p/render', JSON.parse('{"vars":{"__proto__":"P","constructor":"C"}}'));
  t.equal(rendered.status, 200, rendered.text);
  t.match(rendered.json, { subject: 'C', html: '<p>P</p>' });
  t.same((await api('DELETE', '/api/v1/lists/web/members/a%40dest.test')).json, { removed: true });
  t.equal((await api('GET', '/api/v1/lists/web')).json.member_count, 0);
});
