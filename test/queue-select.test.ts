// `mta queue` like mailq and postsuper: the list shows waiting mail (newest last) and says
// when a limit cut it; hold/release/delete/flush act on every recipient a selector names
// (--domain, --sender, --task, --state), through the daemon's API or on the spool
// directly, and a bulk delete is confirmed (--yes without a terminal) or refused.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { runMta, type RunResult } from './helpers/run.js';
import { apiClient } from './helpers/api.js';
import { submitMail } from './helpers/submit.js';
import { runMtaOnTty } from './helpers/tty.js';
import { openTestStore } from './helpers/store.js';
import type { Store } from '../src/spool/index.js';
import type { QueueId } from '../src/util/ids.js';

const mta = (d: TestDaemon, args: string): Promise<RunResult> => runMta([...args.split(' '), '--config', d.configPath]);

async function states(store: Pick<Store, 'getMessage'>, ids: QueueId[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) out.push(...(await store.getMessage(id))!.recipients.map((r) => `${r.rcpt}=${r.state}`));
  return out;
}

t.test('queue list is mailq: waiting mail only, newest last, and a cut list says so', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const store = d.daemon.store;
  const ids: QueueId[] = [];
  for (const r of ['h1@old.test', 'h2@old.test', 'def@dest.test', 'q@dest.test', 'held@dest.test']) ids.push(await submitMail(d, [r]));
  // History: two recipients deleted (failed); one deferred by a real 4xx outcome; one held.
  await store.applyQueueOp('delete', { domain: 'old.test' }, Date.now());
  const [claimed] = (await store.claimDue({ now: Date.now(), limit: 10 })).filter((e) => e.rcpt === 'def@dest.test');
  await store.requeue((await store.listQueue({ states: ['sending'] })).filter((e) => e.rcpt !== 'def@dest.test').map((e) => e.recipientId), Date.now());
  await store.recordOutcomes([{ recipientId: claimed!.recipientId, queueId: claimed!.queueId, kind: 'deferred', at: Date.now(), nextAttemptAt: Date.now() + 3600_000, reply: '451 4.7.1 try later', attempted: true, detail: {} }]);
  await store.applyQueueOp('hold', { queueId: ids[4]! }, Date.now());

  let r = await mta(d, 'queue list --json');
  t.equal(r.code, 0, r.err);
  let j = JSON.parse(r.out) as { items: { rcpt: string; state: string; received_at: string }[]; total: number; truncated: boolean };
  t.same(j.items.map((x) => `${x.rcpt}=${x.state}`), ['def@dest.test=deferred', 'q@dest.test=queued', 'held@dest.test=held'], 'pending only, newest last');
  t.same([j.total, j.truncated, r.err], [3, false, ''], 'nothing cut, no notice');
  t.match(j.items[0]!.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'times are ISO 8601');
  r = await mta(d, 'queue list');
  t.match(r.out, /^QUEUE_ID\s+STATE\s+SENDER\s+RCPT\s+.*\n.*def@dest\.test.*451 4\.7\.1 try later\n.*q@dest\.test.*\n.*held@dest\.test.*\n$/);
  t.notMatch(r.out, /old\.test/, 'no history by default');

  r = await mta(d, 'queue list --limit 2 --json');
  j = JSON.parse(r.out);
  t.same(j.items.map((x) => x.rcpt), ['q@dest.test', 'held@dest.test'], 'a limit keeps the newest');
  t.same([j.total, j.truncated], [3, true]);
  t.equal(r.err, 'mta: showing the newest 2 of 3 recipients; --limit N shows more\n', 'the cut is said on stderr');
  r = await mta(d, 'queue list --all --limit 4 --json');
  j = JSON.parse(r.out);
  t.same(j.items.map((x) => x.rcpt), ['h2@old.test', 'def@dest.test', 'q@dest.test', 'held@dest.test'], '--all: history too, newest last');
  t.same([j.total, j.truncated], [5, true]);
  r = await mta(d, 'queue list --state failed --json');
  t.same((JSON.parse(r.out) as typeof j).items.map((x) => x.rcpt), ['h1@old.test', 'h2@old.test']);
  r = await mta(d, 'queue list --sender nobody@example.com');
  t.same([r.code, r.out], [0, 'the queue is empty: no mail waiting (--all shows delivered and failed mail)\n']);
  r = await mta(d, 'queue list --task nonsense');
  t.same([r.code, r.err], [1, 'mta: "nonsense" is not a task id (MTA_ERR_INVALID)\n']);

  const call = apiClient(d);
  t.same((await call('GET', '/api/v1/queue')).json.items.map((x: { rcpt: string }) => x.rcpt), ['def@dest.test', 'q@dest.test', 'held@dest.test'], 'the API lists waiting mail too');
  t.equal((await call('GET', '/api/v1/queue?all=true')).json.items.length, 5);
  t.equal((await call('GET', '/api/v1/queue?sender=APP@example.com&domain=dest.test')).json.items.length, 3);
});

t.test('hold, release, delete and flush by selector: counts, checks, confirmation', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  await d.addSender('other@example.com');
  const a = await submitMail(d, ['a@one.test', 'b@two.test']);
  const b = await submitMail(d, ['c@one.test'], 'other@example.com');
  const all = [a, b];
  const store = d.daemon.store;

  let r = await mta(d, 'queue hold --domain ONE.test');
  t.same([r.code, r.out, r.err], [0, 'held 2 recipients matching domain=one.test\n', ''], 'through the daemon, with a count');
  t.same(await states(store, all), ['a@one.test=held', 'b@two.test=queued', 'c@one.test=held']);
  r = await mta(d, 'queue release --domain one.test --sender Other@Example.com');
  t.equal(r.out, 'released 1 recipient matching domain=one.test sender=other@example.com\n', 'every selector must match');
  t.same(await states(store, all), ['a@one.test=held', 'b@two.test=queued', 'c@one.test=queued']);

  const refused: [string, string][] = [
    ['queue hold', 'mta: hold needs a queue id or at least one of --domain, --sender, --task, --state (MTA_ERR_INVALID)\n'],
    ['queue hold --state held', 'mta: hold acts on queued or deferred recipients, not "held" (MTA_ERR_INVALID)\n'],
    [`queue hold ${a} --domain one.test`, 'mta: give a queue id or selectors (--domain, --sender, --task, --state), not both (MTA_ERR_INVALID)\n'],
    ['queue flush --sender not-an-address', 'mta: "not-an-address" is not an email address (or <> for the null sender) (MTA_ERR_INVALID)\n'],
    ['queue delete --domain one.test', 'mta: refusing to delete the recipients matching domain=one.test unconfirmed: add --yes (no terminal to ask on) (MTA_ERR_CONFIRM)\n'],
  ];
  for (const [args, err] of refused) {
    r = await mta(d, args);
    t.same([r.code, r.out, r.err], [1, '', err], args);
  }
  t.same(await states(store, all), ['a@one.test=held', 'b@two.test=queued', 'c@one.test=queued'], 'refused commands changed nothing');

  r = await mta(d, 'queue delete --domain one.test --state held --yes');
  t.same([r.code, r.out], [0, 'deleted 1 recipient matching domain=one.test state=held: they end as failed with a "deleted" event; no bounce is sent\n']);
  t.same(await states(store, all), ['a@one.test=failed', 'b@two.test=queued', 'c@one.test=queued']);
  r = await mta(d, 'queue flush --domain two.test --json');
  t.same(JSON.parse(r.out), { affected: 0 }, 'flush by selector through the API');

  const call = apiClient(d);
  t.match((await call('POST', '/api/v1/queue/hold', {})).json.error, { code: 'MTA_ERR_INVALID', message: /needs at least one of domain, sender, task_id, state/ });
  t.equal((await call('POST', '/api/v1/queue/release', { state: 'queued' })).json.error.field, 'state');
  t.equal((await call('POST', '/api/v1/queue/delete', { task_id: 'x' })).json.error.field, 'task_id');
  t.same((await call('POST', '/api/v1/queue/hold', { sender: 'app@example.com' })).json, { affected: 1 });
  t.same((await call('POST', '/api/v1/queue/delete', { sender: 'other@example.com', domain: 'one.test' })).json, { affected: 1 });
  t.same(await states(store, all), ['a@one.test=failed', 'b@two.test=held', 'c@one.test=failed']);
});

t.test('without a daemon a bulk operation changes the spool directly', async (t) => {
  const d = await startDaemon();
  t.teardown(() => rmSync(d.dir, { recursive: true, force: true }));
  const id = await submitMail(d, ['x@one.test', 'y@two.test']);
  await d.daemon.stop();
  let r = await mta(d, 'queue hold --domain two.test');
  t.same([r.code, r.out, r.err], [0, 'held 1 recipient matching domain=two.test\n', 'mta: daemon not running; changed the spool directly\n']);
  r = await mta(d, 'queue delete --sender app@example.com --yes --json');
  t.same(JSON.parse(r.out), { affected: 2, daemon: 'not running' });
  const store = openTestStore(join(d.dir, 'data'));
  t.same(await states(store, [id]), ['x@one.test=failed', 'y@two.test=failed']);
  await store.close();
});

t.test('on a terminal a bulk delete asks first, naming the count; only yes deletes', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const id = await submitMail(d, ['x@one.test', 'y@one.test', 'z@two.test']);
  const ask = /delete 2 recipients matching domain=one\.test\? They end as failed; no bounce is sent\. \[y\/N\]/;
  let r = await runMtaOnTty(['queue', 'delete', '--domain', 'one.test', '--config', d.configPath], [[ask, 'n']]);
  t.equal(r.code, 1, r.screen);
  t.match(r.screen, /mta: not confirmed: nothing deleted \(MTA_ERR_CONFIRM\)/);
  t.same(await states(d.daemon.store, [id]), ['x@one.test=queued', 'y@one.test=queued', 'z@two.test=queued'], '"n" deletes nothing');
  r = await runMtaOnTty(['queue', 'delete', '--domain', 'one.test', '--config', d.configPath], [[ask, 'yes']]);
  t.equal(r.code, 0, r.screen);
  t.match(r.screen, /deleted 2 recipients matching domain=one\.test/);
  t.same(await states(d.daemon.store, [id]), ['x@one.test=failed', 'y@one.test=failed', 'z@two.test=queued']);
});
