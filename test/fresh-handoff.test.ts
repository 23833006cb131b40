// Fresh mail reaches delivery without a claim of the scheduler's (issue 23): intake's own
// commit claims what the ready set has room for (spool/fresh.ts, scheduler/fresh.ts). What
// does not fit waits for the scheduler's claim as before, and the ready set never holds more
// than its size plus the trigger reserve, nor more than its size while a claim is on its way.
// Counted from outside: the rows claimDue returns.
import t from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import { newQueueId } from '../src/util/ids.js';
import type { Store } from '../src/spool/types.js';
import type { QueueId } from '../src/util/ids.js';
import { dkimpyAvailable, verifyDkimpy } from './helpers/dkimpy.js';

/** Counts the scheduler's own claims and the recipients they returned. */
function countClaims(store: Store): { calls: number; rows: number; undo: () => void } {
  const real = store.claimDue.bind(store);
  const c = { calls: 0, rows: 0, undo: () => { store.claimDue = real; } };
  store.claimDue = async (req) => { c.calls++; const rows = await real(req); c.rows += rows.length; return rows; };
  return c;
}

/** Counts the spool reads of each message's body. */
function countBodyReads(store: Store): { of: Map<QueueId, number>; undo: () => void } {
  const real = store.readBody.bind(store);
  const c = { of: new Map<QueueId, number>(), undo: () => { store.readBody = real; } };
  store.readBody = (id) => { c.of.set(id, (c.of.get(id) ?? 0) + 1); return real(id); };
  return c;
}

const dkimOk = dkimpyAvailable();

t.test('submitted mail is delivered without a claim of the scheduler\'s, nor a read of the spool', async (t) => {
  const w: World = await startWorld();
  t.teardown(() => w.stop());
  const sink = await w.addDomain('fresh.test', 61);
  await w.waitFor('the scheduler\'s first look at the spool', () => !w.daemon.daemon.scheduler!.claimInFlight);
  const store = w.daemon.daemon.store;
  const claims = countClaims(store);
  t.teardown(claims.undo);
  const reads = countBodyReads(store);
  t.teardown(reads.undo);
  // The second message's body crosses several of intake's pieces (MIME parts), which the spool joins into one chunk.
  const multipart = 'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b1"\r\n';
  const body = `--b1\r\nContent-Type: text/plain\r\n\r\n${'plain text\r\n'.repeat(200)}--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b1--\r\n`;
  const ids = [await w.submit(['a@fresh.test', 'b@fresh.test']), await w.submit('c@fresh.test', { extra: multipart, body })];
  await w.waitFor('both delivered', async () => {
    const ms = await Promise.all(ids.map((id) => w.message(id)));
    return ms.every((m) => m.recipients.every((r) => r.state === 'delivered'));
  });
  t.equal(sink.messages.length, 2, 'both messages reached the sink');
  t.equal(claims.rows, 0, 'the scheduler claimed none of them: intake\'s commit handed them over');
  t.equal(claims.calls, 0, 'nor asked the spool for more when they were delivered: it had handed over all it had');
  t.same(ids.map((id) => reads.of.get(id) ?? 0), [0, 0], 'delivery read neither body back from the spool: intake\'s commit handed the bytes over too');
  // What went out is the signature and then exactly what the spool holds.
  reads.undo();
  const ed = (await store.getDomain('example.com'))!;
  for (const [i, id] of ids.entries()) {
    const stored: Buffer[] = [];
    for await (const c of store.readBody(id)) stored.push(c);
    const raw = sink.messages.find((m) => m.to.includes(i === 0 ? 'a@fresh.test' : 'c@fresh.test'))!.raw;
    t.match(raw.subarray(0, 16).toString(), /^DKIM-Signature:/, `message ${i + 1}: signed`);
    t.ok(raw.subarray(raw.length - Buffer.concat(stored).length).equals(Buffer.concat(stored)), `message ${i + 1}: the stored bytes follow the signature unchanged`);
    if (dkimOk.ok) t.ok(verifyDkimpy(raw, `v=DKIM1; k=ed25519; p=${ed.dkimPublicKey}`, `${ed.dkimSelector}._domainkey.example.com`), `message ${i + 1}: dkimpy verifies it`);
  }
  const m = await w.message(ids[0]!);
  t.same(m.events.filter((e) => e.type === 'requeued').length, 0, 'no recipient went back to the queue on the way');
});

t.test('what does not fit the ready set waits for the scheduler\'s claim, within size plus reserve', async (t) => {
  const w: World = await startWorld('ready_set_size = 10\nmax_connections_per_domain = 1\n');
  t.teardown(() => w.stop());
  const slow = await w.addDomain('slow.test', 62, { dataDelayMs: 100 });
  const store = w.daemon.daemon.store;
  const claims = countClaims(store);
  t.teardown(claims.undo);
  const body = Buffer.from('From: app@example.com\r\nTo: undisclosed-recipients:;\r\nSubject: many\r\nMessage-ID: <m@t>\r\n\r\nhi\r\n');
  const commit = (lane: 'trigger' | 'batch', n: number, tag: string): Promise<void> => store.commitIncoming({
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<m@t>', subject: 'many', size: body.length, lane, tag: null, chunks: [body],
    recipients: Array.from({ length: n }, (_, i) => `${tag}${i}@slow.test`),
  });
  const sched = w.daemon.daemon.scheduler!;
  const granted: number[] = [];
  store.handFresh({ offer: (has) => { const g = sched.fresh.offer(has); granted.push(g.trigger + g.batch); return g; }, taken: (g, e) => sched.fresh.taken(g, e) });
  // One commit of 25 batch recipients to an idle scheduler (its first look at the spool done): 10 fit, 15 wait.
  await w.waitFor('the scheduler idle', () => !sched.claimInFlight);
  await commit('batch', 25, 'b');
  t.same(granted, [10], 'the first commit took as many as the ready set holds');
  // Trigger mail may use the reserve (100 here) beyond the 10: 120 recipients, so 20 wait.
  await commit('trigger', 120, 't');
  await w.waitFor('all 145 delivered', async () => (await store.countByState()).delivered === 145, 120_000);
  t.ok(sched.readyMax <= 10 + 100, `the ready set stayed within size plus reserve (max ${sched.readyMax})`);
  t.ok(sched.readyMax > 10, 'trigger mail used the reserve');
  // How much of the second commit fits depends on whether a claim of the first one's rest is on its way.
  t.equal(claims.rows + granted.reduce((a, b) => a + b, 0), 145, `what the commits did not take came through the scheduler's claims (${claims.rows})`);
  t.equal(new Set(slow.messages.flatMap((m) => m.to)).size, 145, 'every recipient once');
});

t.test('with other nodes alive, batch mail is left to every node\'s claims; trigger mail is still taken at once', async (t) => {
  const w: World = await startWorld();
  t.teardown(() => w.stop());
  await w.addDomain('shared.test', 63);
  await w.waitFor('the scheduler\'s first look at the spool', () => !w.daemon.daemon.scheduler!.claimInFlight);
  const store = w.daemon.daemon.store;
  const claims = countClaims(store);
  t.teardown(claims.undo);
  w.daemon.daemon.scheduler!.setNodesAlive(2);
  const body = Buffer.from('From: app@example.com\r\nTo: x@shared.test\r\nSubject: s\r\nMessage-ID: <s@t>\r\n\r\nhi\r\n');
  const commit = (lane: 'trigger' | 'batch', rcpts: string[]): Promise<void> => store.commitIncoming({
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<s@t>', subject: 's', size: body.length, lane, tag: null, chunks: [body], recipients: rcpts,
  });
  await commit('trigger', ['code@shared.test']);
  await w.waitFor('the login code delivered', async () => (await store.countByState()).delivered === 1);
  t.equal(claims.rows, 0, 'the trigger message was handed over in its commit');
  await commit('batch', ['n1@shared.test', 'n2@shared.test', 'n3@shared.test']);
  await w.waitFor('the batch delivered', async () => (await store.countByState()).delivered === 4);
  t.equal(claims.rows, 3, 'the batch recipients came through a claim, as another node\'s could');
});

t.test('a claim on its way counts against the room: fresh mail never overfills the ready set', async (t) => {
  const w: World = await startWorld('ready_set_size = 10\n');
  t.teardown(() => w.stop());
  const sink = await w.addDomain('room.test', 64);
  const store = w.daemon.daemon.store;
  const sched = w.daemon.daemon.scheduler!;
  const body = Buffer.from('From: app@example.com\r\nTo: x@room.test\r\nSubject: r\r\nMessage-ID: <r@t>\r\n\r\nhi\r\n');
  const commit = (rcpts: string[]): Promise<void> => store.commitIncoming({
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<r@t>', subject: 'r', size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: rcpts,
  });
  // The scheduler's claim of the first ten is held on its way; meanwhile five more arrive with the handoff on.
  const real = store.claimDue.bind(store);
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let claimed = 0;
  store.claimDue = async (req) => { const rows = await real(req); if (rows.length > 0 && claimed === 0) { claimed = rows.length; await held; } return rows; };
  t.teardown(() => { store.claimDue = real; });
  store.handFresh(undefined);
  await commit(Array.from({ length: 10 }, (_, i) => `a${i}@room.test`));
  await w.waitFor('the claim of the first ten', () => claimed === 10);
  store.handFresh(sched.fresh);
  await commit(Array.from({ length: 5 }, (_, i) => `b${i}@room.test`));
  release();
  await w.waitFor('all 15 delivered', async () => (await store.countByState()).delivered === 15);
  t.ok(sched.readyMax <= 10, `the ready set never held more than its size (max ${sched.readyMax})`);
  t.equal(new Set(sink.messages.flatMap((m) => m.to)).size, 15, 'every recipient once');
});

t.test('fresh mail does not overtake older mail waiting in the spool: the ready set still fills oldest first', async (t) => {
  const w: World = await startWorld('ready_set_size = 10\nmax_connections_per_domain = 1\n');
  t.teardown(() => w.stop());
  const sink = await w.addDomain('fifo.test', 65, { dataDelayMs: 30 });
  const store = w.daemon.daemon.store;
  const body = Buffer.from('From: app@example.com\r\nTo: x@fifo.test\r\nSubject: f\r\nMessage-ID: <f@t>\r\n\r\nhi\r\n');
  const message = (rcpt: string) => ({
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<f@t>', subject: 'f', size: body.length, lane: 'batch' as const, tag: null, chunks: [body], recipients: [rcpt],
  });
  // Thirty at once: ten fit the ready set, twenty wait in the spool.
  await Promise.all(Array.from({ length: 30 }, (_, i) => store.commitIncoming(message(`old${i}@fifo.test`))));
  // New mail keeps coming while the old is delivered one at a time.
  for (let i = 0; i < 20; i++) {
    await store.commitIncoming(message(`new${i}@fifo.test`));
    await new Promise((r) => setTimeout(r, 50));
  }
  await w.waitFor('all 50 delivered', async () => (await store.countByState()).delivered === 50, 60_000);
  const order = sink.messages.flatMap((m) => m.to);
  const lastOld = Math.max(...order.map((r, i) => (r.startsWith('old') ? i : -1)));
  const firstNew = order.findIndex((r) => r.startsWith('new'));
  t.ok(lastOld < firstNew, `every old message reached the sink before the first new one (last old at ${lastOld}, first new at ${firstNew})`);
  t.equal(order.length, 50, 'each once');
});
