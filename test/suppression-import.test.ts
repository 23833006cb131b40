// Suppression import from CSV (`mta suppression import FILE` and POST /api/v1/suppressions/import):
// the export's own format or one address per line; each bad line reported at its line with
// its reason, the others imported; a run that dropped lines exits 1; an export imports back.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, startDaemon } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { apiClient } from './helpers/api.js';

const dir = tempDir('mta-supp-import-');
const cfg = join(dir, 'mta.toml');
writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mta = (args: string[]): ReturnType<typeof runMta> => runMta([...args, '--config', cfg]);
const file = (name: string, content: string): string => { const p = join(dir, name); writeFileSync(p, content); return p; };

t.test('CLI: a per-line report, the good lines imported, exit 1 when lines were dropped', async (t) => {
  const csv = [
    'address,scope,source,reason,created_at',
    'a@dest.test,,manual,bounced,2026-01-01T00:00:00.000Z',
    'not-an-address,,manual,x,',
    'b@dest.test,shop.example,manual,"unsubscribed, politely",',
    'c@dest.test,,manual,"unclosed',
    'd@dest.test,bad domain!,manual,x,',
    'e@dest.test,,manual,x',
    'f@dest.test,,manual,,',
  ].join('\n') + '\n';
  const r = await mta(['suppression', 'import', file('s.csv', csv)]);
  t.equal(r.code, 1, 'lines were dropped');
  t.match(r.err, /4 of 7 rows were not imported .*MTA_ERR_IMPORT_PARTIAL/);
  t.match(r.out, /added\s+3\n\s+already\s+0\n\s+invalid\s+4/);
  const table = r.out.slice(r.out.indexOf('LINE')).split('\n');
  t.match(table[1], /^3\s+"not-an-address"\s+"not-an-address" is not a valid address$/);
  t.match(table[2], /^5\s+"c@dest\.test"\s+field 4 opens a quote that is not closed on this line$/);
  t.match(table[3], /^6\s+"d@dest\.test"\s+"bad domain!" is not a valid domain$/);
  t.match(table[4], /^7\s+"e@dest\.test"\s+4 fields, but the header names 5 columns$/);
  const list = JSON.parse((await mta(['suppression', 'list', '--json'])).out) as { address: string; scope: string; reason: string }[];
  t.same(list.map((e) => [e.address, e.scope, e.reason]), [
    ['a@dest.test', '(all)', 'bounced'], ['b@dest.test', 'shop.example', 'unsubscribed, politely'], ['f@dest.test', '(all)', 'imported by operator'],
  ]);
  const again = await mta(['suppression', 'import', file('bare.txt', 'a@dest.test\ng@dest.test\n'), '--json']);
  t.equal(again.code, 0, again.err);
  t.match(JSON.parse(again.out), { rows: 2, added: 1, already: 1, invalid: 0 });
  const exported = (await mta(['suppression', 'export'])).out;
  t.equal((await mta(['suppression', 'import', file('back.csv', exported), '--json'])).code, 0, 'an export imports back');
});

t.test('API: POST /api/v1/suppressions/import', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const api = apiClient(d);
  const r = await api('POST', '/api/v1/suppressions/import', { csv: 'x@dest.test\nbroken\ny@dest.test\n' });
  t.equal(r.status, 200, r.text);
  t.match(r.json, { rows: 3, added: 2, invalid: 1, errors: [{ line: 2, value: 'broken', kind: 'invalid_address' }], problem_counts: { invalid_address: 1 } });
  t.equal((await api('POST', '/api/v1/suppressions/import', { csv: '' })).status, 400);
  t.ok(await d.daemon.store.isSuppressed('y@dest.test', 'example.com'));
});
