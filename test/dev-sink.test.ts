// The development sink ([delivery] sink, the development defaults' delivery): every
// recipient, of any domain, even one with no DNS at all or with a [[route]], ends
// `delivered` with the sink's 250 naming the file; the file is the message as it would have
// left (DKIM-signed); no MX host is contacted and nothing is suppressed.
import t from 'tap';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { tempDir } from './helpers/daemon.js';

let w: World;
const base = tempDir('mta-devsink-');
const sinkDir = join(base, 'sink');

t.before(async () => {
  w = await startWorld(`sink = "${sinkDir}"\n[[route]]\ndomains = ["routed.test"]\nhost = "127.0.0.1:1"\ntls = "none"\n`);
});
t.teardown(async () => { await w.stop(); rmSync(base, { recursive: true, force: true }); });

t.test('mail to an unknown domain, a routed one and a real MX all ends in the sink, delivered', async (t) => {
  const mx = await w.addDomain('real.test', 30);
  const id = await w.submit(['someone@example.org', 'x@routed.test', 'y@real.test'], { subject: 'to the sink' });
  const m = await w.waitFor('final states', async () => { const x = await w.message(id); return allFinal(x) && x; });
  t.same(m.recipients.map((r) => r.state), ['delivered', 'delivered', 'delivered']);
  const files = new Set<string>();
  for (const r of m.recipients) {
    const kept = /^250 2\.0\.0 development sink: kept as (\S+\.eml)$/.exec(r.lastReply ?? '');
    t.ok(kept, `${r.rcpt}: the sink's reply names the file (${r.lastReply})`);
    if (kept) files.add(kept[1]!);
  }
  for (const f of files) {
    t.ok(f.startsWith(sinkDir) && existsSync(f), `${f} is in the sink directory`);
    const raw = readFileSync(f, 'utf8');
    t.match(raw, /^DKIM-Signature: /m, 'kept as it would have left: signed');
    t.match(raw, /^Subject: to the sink/m);
  }
  t.equal(mx.messages.length, 0, 'the real MX was not contacted');
  t.same(await w.daemon.daemon.store.listSuppressions({}), [], 'nothing suppressed');
});
