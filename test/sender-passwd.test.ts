// `mta sender passwd` on a terminal asks for the password twice without showing it; a
// mismatch changes nothing; `--password-stdin` (and a pipe) stay for scripts.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { runMtaOnTty } from './helpers/tty.js';

let d: TestDaemon;
t.before(async () => { d = await startDaemon(); });
t.teardown(() => d.stop());
const hash = async (): Promise<string | null> => (await d.daemon.store.getSender('app@example.com'))!.passwordHash;

t.test('on a terminal: asked twice, never echoed', async (t) => {
  const before = await hash();
  const args = ['sender', 'passwd', 'app@example.com', '--config', d.configPath];
  let r = await runMtaOnTty(args, [[/New SMTP password: /, 'first secret one'], [/Type it again: /, 'other secret two']]);
  t.equal(r.code, 1, r.screen);
  t.match(r.screen, /mta: the two passwords differ; nothing changed \(MTA_ERR_INVALID\)/);
  t.equal(await hash(), before, 'a mismatch changes nothing');
  r = await runMtaOnTty(args, [[/New SMTP password: /, 'a brand new secret'], [/Type it again: /, 'a brand new secret']]);
  t.equal(r.code, 0, r.screen);
  t.match(r.screen, /password set for app@example\.com/);
  t.notMatch(r.screen, /brand new secret/, 'the typed password is not shown');
  t.not(await hash(), before, 'the password changed');
});

t.test('scripts: --password-stdin, or a pipe', async (t) => {
  const before = await hash();
  const r = await runMta(['sender', 'passwd', 'app@example.com', '--password-stdin', '--config', d.configPath], 'a scripted password\n');
  t.same([r.code, r.out], [0, 'password set for app@example.com\n']);
  t.not(await hash(), before);
});
