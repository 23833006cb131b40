// The mta command loads the module of the command it runs, not all of them (cli/main.ts
// COMMANDS): `--help`, `help`, a mistyped name and no command still get every command, so
// the listing and commander's "did you mean" stay whole. Checked by the commands the program
// is built with, and in a real process by the packages it loaded.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, commandNameOf } from '../src/cli/main.js';
import { runMta } from './helpers/run.js';
import { tempDir } from './helpers/daemon.js';

const names = async (...args: string[]): Promise<string[]> => (await buildProgram(['node', 'mta', ...args])).commands.map((c) => c.name());

t.test('a command\'s name builds that command alone; help, a typo and no command build them all', async (t) => {
  const all = (await buildProgram()).commands.map((c) => c.name());
  t.ok(all.length >= 21, `${all.length} commands`);
  // Every table entry loads the command it is named after (a wrong entry would run another command).
  for (const name of all) t.same(await names(name, 'list'), [name], `mta ${name} … loads ${name} only`);
  t.same(await names('-c', '/etc/mta/mta.toml', 'domain', 'list'), ['domain'], 'after the program\'s own -c FILE');
  t.same(await names('--config=/etc/mta/mta.toml', 'queue', 'list'), ['queue']);
  t.same(await names('--version'), [], '--version alone needs no command');
  for (const args of [[], ['--help'], ['help', 'domain'], ['domian', 'list']]) t.same(await names(...args), all, `mta ${args.join(' ')} loads every command`);
  t.equal(commandNameOf(['node', 'mta', '-c', 'x', '--json']), undefined);
});

t.test('the real program: a typo is still answered with the right name; a command loads only what it needs', async (t) => {
  const typo = await runMta(['domian', 'list']);
  t.not(typo.code, 0);
  t.match(typo.err, /unknown command 'domian'[\s\S]*Did you mean domain\?/);

  const dir = tempDir('mta-cli-lazy-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'packages.mjs');
  // The CommonJS packages a run loaded (require's cache): intake's mailsplit and the admin
  // upload parser busboy belong to the daemon, not to `mta domain`.
  writeFileSync(script, `
import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url)('module')._cache;
const { main } = await import(${JSON.stringify(new URL('../src/cli/main.js', import.meta.url).href)});
process.stdout.write = () => true;
await main(['node', 'mta', ...process.argv.slice(2)]);
const seen = new Set(Object.keys(cache).map((k) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(k)?.[1]).filter(Boolean));
process.stderr.write(JSON.stringify([...seen]));
`);
  const loaded = (...args: string[]): string[] => JSON.parse(spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' }).stderr) as string[];
  const domain = loaded('domain', '--help');
  t.ok(domain.includes('commander') && domain.includes('better-sqlite3'), 'the check sees the packages a command loads');
  t.notOk(domain.includes('mailsplit') || domain.includes('busboy'), `mta domain --help loads no daemon package (${domain.join(' ')})`);
  const start = loaded('start', '--help');
  t.ok(start.includes('mailsplit') && start.includes('busboy'), 'mta start loads them');
});
