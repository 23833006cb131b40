// The audit port (spool/types-audit.ts), through a store opened as the program opens one:
// message ids oldest first whatever the commit order, events of a type with or without a
// message, the webhook outbox in numbers, and a digest that moves with every write and
// with no read.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import type { IncomingMessage } from '../src/spool/types-queue.js';
import { tempDir } from './helpers/daemon.js';
import { openTestStore } from './helpers/store.js';

const dir = tempDir('mta-store-audit-');
const store = openTestStore(join(dir, 'data'));
t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });

function msg(receivedAt: number, rcpt: string): IncomingMessage {
  const body = Buffer.from('Subject: x\r\n\r\nhi\r\n');
  const id = newQueueId(receivedAt);
  return {
    id, receivedAt, sender: 'app@example.com', authUser: 'app@example.com', clientIp: null, helo: null, messageId: `<${id}@x>`,
    subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: [rcpt],
  };
}

t.test('message ids are oldest first, not in commit order', async (t) => {
  const now = Date.now();
  const late = msg(now, 'late@dest.test');
  const early = msg(now - 60_000, 'early@dest.test');
  await store.commitIncoming(late);
  await store.commitIncoming(early);
  t.same(await store.auditMessageIds(), [early.id, late.id]);
});

t.test('events of a type: the recipient history and message-less refusals alike', async (t) => {
  const [r] = await store.listQueue({ limit: 1 });
  const at = Date.now();
  t.same(await store.auditEvents('rejected'), [], 'none yet');
  await store.recordRefusal({
    at, sender: 'app@example.com', authUser: 'app@example.com', rcpt: 'Gone@dest.test', reply: '559 5.1.1 Invalid rcptto', via: 'smtp',
    suppression: { address: 'gone@dest.test', scope: '', reason: 'user unknown', source: 'bounce', createdAt: at },
  });
  const rejected = await store.auditEvents('rejected');
  t.equal(rejected.length, 1);
  t.match(rejected[0], { queueId: null, recipientId: null, at, detail: { rcpt: 'Gone@dest.test', via: 'smtp', suppression: { source: 'bounce' } } });
  const receptions = await store.auditEvents('reception');
  t.equal(receptions.length, 2, 'one reception per recipient');
  t.ok(receptions.some((e) => e.queueId === r!.queueId && e.recipientId === r!.recipientId), 'with the message and recipient they belong to');
  t.equal((await store.auditEvents('reception', 1)).length, 1, 'limit');
});

t.test('the webhook outbox in numbers', async (t) => {
  t.same(await store.auditOutbox(), { rows: 0, attempts: 0, dead: 0 });
  await store.addWebhook({ url: 'https://hooks.test/x', sender: null, events: '*', format: 'json', secret: 's', createdAt: Date.now() });
  const at = Date.now();
  await store.recordRefusal({
    at, sender: 'app@example.com', authUser: null, rcpt: 'other@dest.test', reply: '559 5.1.1 Invalid rcptto', via: 'api',
    suppression: { address: 'other@dest.test', scope: '', reason: 'manual', source: 'manual', createdAt: at },
  });
  t.same(await store.auditOutbox(), { rows: 1, attempts: 0, dead: 0 }, 'the refusal queued one event');
  const [item] = await store.claimWebhookDue({ now: Date.now() + 1000, limit: 10, leaseMs: 60_000 });
  await store.recordWebhookAttempt({ webhookId: item!.webhookId, outboxId: item!.id, event: item!.event, at: Date.now(), status: 500, error: null, durationMs: 1 }, { state: 'dead' });
  t.same(await store.auditOutbox(), { rows: 1, attempts: 1, dead: 1 });
});

t.test('the digest changes with a write, not with a read', async (t) => {
  const before = await store.auditDigest();
  t.match(before, /^[0-9a-f]{16,}$/);
  await store.listQueue({ limit: 10 });
  await store.getMessage((await store.auditMessageIds())[0] as QueueId);
  t.equal(await store.auditDigest(), before, 'reads leave it alone');
  t.ok(await store.setSenderDisabled('nobody@example.com', true) === false, 'a write that finds nothing');
  t.equal(await store.auditDigest(), before, 'and changes nothing');
  await store.heartbeat(store.nodeId, { version: '1', hostname: 'h', listeners: [], startedAt: 1 }, Date.now());
  t.equal(await store.tryLeadJob('dns-check', store.nodeId, Date.now(), 45_000), true);
  t.equal(await store.auditDigest(), before, 'heartbeats and job leases are left out: they change on their own');
  await store.addTag({ name: 'audit', description: 'x', createdAt: Date.now() });
  t.not(await store.auditDigest(), before, 'a new tag changes it');
});
