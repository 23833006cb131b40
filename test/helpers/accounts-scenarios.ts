/**
 * accounts-scenarios — scenarios of the accounts aggregates' ports, written once against the
 * Store contract and run by test/pg-accounts.test.ts on SQLite and on PostgreSQL. Each
 * asserts what it expects and returns a transcript of what it saw, which the test compares
 * between the backends.
 */
import type { Test } from 'tap';
import type { Store } from '../../src/spool/types.js';
import type { DomainCheckRecord, DomainRecord } from '../../src/spool/types-domains.js';
import type { IncomingMessage, QueueEntry } from '../../src/spool/types-queue.js';
import type { SenderRecord } from '../../src/spool/types-senders.js';
import type { TaskRecord } from '../../src/spool/types-tasks.js';
import type { TemplateRecord } from '../../src/spool/types-templates.js';
import { MtaError } from '../../src/util/errors.js';
import { newTaskId, type TaskId } from '../../src/util/ids.js';

/** One backend's side of a scenario: its ports (the SQLite store, or the PostgreSQL classes), intake and the queue to set up and read mail. */
export interface Side {
  name: 'sqlite' | 'postgres';
  store: Store;
  intake(m: IncomingMessage): Promise<void>;
  queue(): Promise<QueueEntry[]>;
}

/** The catalogue code a promise rejects with, `resolved` when it does not, and the message of an error outside the catalogue. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; return 'resolved'; } catch (e) { return e instanceof MtaError ? e.code : `not a catalogue error: ${(e as Error).message}`; }
}

/** The catalogue error a promise rejects with, as code, message and field. */
async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string; field?: string | undefined } | 'resolved'> {
  try { await p; return 'resolved'; } catch (e) {
    if (!(e instanceof MtaError)) throw e;
    return { code: e.code, message: e.message, field: (e as { field?: string }).field };
  }
}

/** A task row; `over` changes fields. */
export function taskRecord(over: Partial<TaskRecord> = {}, id: TaskId = newTaskId()): TaskRecord {
  return {
    id, kind: 'template', list: 'news', template: 'welcome', content: { subject: 'Hi', fromName: null, html: '<p>x</p>', text: null }, sourceId: null,
    sender: 'news@example.com', tag: null, addressType: 'sender', tracking: true, unsubscribe: false, state: 'queued', pauseReason: null, resumeAt: null,
    cursor: null, exhausted: false, listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0,
    bouncedAfterDelivery: 0, createdAt: 1, updatedAt: 1, finishedAt: null, ...over,
  };
}

function domain(name: string): DomainRecord {
  return { name, dkimSelector: 's1', dkimAlgorithm: 'ed25519', dkimPrivateKey: 'priv', dkimPublicKey: 'pub', ownershipToken: 'tok', status: 'unverified', createdAt: 10 };
}

function sender(address: string, dom: string): SenderRecord {
  return { address, domain: dom, type: 'trigger', replyTo: null, passwordHash: 'h1', disabled: false, createdAt: 20 };
}

export async function domainsScenario(t: Test, { store }: Side): Promise<unknown> {
  await store.addDomain(domain('b.test'));
  await store.addDomain(domain('a.test'));
  const dup = await errorOf(store.addDomain(domain('a.test')));
  t.same(dup, { code: 'MTA_ERR_EXISTS', message: 'domain a.test exists already', field: undefined });
  t.equal((await store.getDomain('A.TEST'))?.name, 'a.test', 'looked up in lower case');
  await store.addSender(sender('app@a.test', 'a.test'));
  const inUse = await errorOf(store.removeDomain('a.test'));
  t.same(inUse, { code: 'MTA_ERR_IN_USE', message: 'domain a.test still has 1 sender address; remove them first', field: undefined });
  const check = (name: DomainCheckRecord['name'], status: DomainCheckRecord['status']): DomainCheckRecord =>
    ({ domain: 'b.test', name, status, expected: 'v=spf1', found: null, detail: 'why', checkedAt: 500 });
  await store.saveDomainChecks('b.test', [check('spf', 'missing'), check('dkim', 'ok')], 'unverified', []);
  await store.saveDomainChecks('b.test', [check('spf', 'ok'), check('dkim', 'ok'), check('dmarc', 'ok')], 'verified', [
    { at: 600, type: 'domain.verified', domain: 'b.test', detail: { checks: 3 } }, { at: 601, type: 'domain.dns_error', domain: 'a.test', detail: { error: 'x' } },
  ]);
  const checks = await store.getDomainChecks('b.test');
  t.same(checks.map((c) => c.name), ['dkim', 'dmarc', 'spf'], 'the latest run only, by name');
  const events = await store.listDomainEvents({ domain: 'b.test' });
  t.same(events, [{ at: 600, type: 'domain.verified', domain: 'b.test', detail: { checks: 3 } }]);
  t.equal((await store.listDomainEvents({ since: 601 })).length, 1, 'since');
  await store.setNextDkimKey('b.test', { selector: 's2', privateKey: 'priv2', publicKey: 'pub2' });
  const rotating = await store.getDomain('b.test');
  t.same(rotating?.nextDkim, { selector: 's2', privateKey: 'priv2', publicKey: 'pub2' });
  t.equal(await store.promoteNextDkimKey('b.test'), 's1', 'the old selector');
  t.equal(await store.promoteNextDkimKey('b.test'), undefined, 'nothing waiting');
  const b = await store.getDomain('b.test');
  t.same([b?.dkimSelector, b?.dkimPublicKey, b?.nextDkim, b?.status, b?.checkedAt], ['s2', 'pub2', null, 'verified', 500]);
  t.equal(await store.removeDomain('b.test'), true);
  t.same([await store.removeDomain('b.test'), (await store.getDomainChecks('b.test')).length], [false, 0], 'gone with its checks');
  return { dup, inUse, checks, events, rotating, b, list: await store.listDomains() };
}

export async function sendersScenario(t: Test, { store }: Side): Promise<unknown> {
  await store.addDomain(domain('a.test'));
  await store.addDomain(domain('b.test'));
  for (const [a, d] of [['z@a.test', 'a.test'], ['m@b.test', 'b.test'], ['b@a.test', 'a.test']] as const) await store.addSender(sender(a, d));
  const dup = await errorOf(store.addSender(sender('z@a.test', 'a.test')));
  t.same(dup, { code: 'MTA_ERR_EXISTS', message: 'sender z@a.test exists already', field: undefined });
  t.not(await codeOf(store.addSender(sender('x@nowhere.test', 'nowhere.test'))), 'resolved', 'a sender of no domain is refused');
  t.same((await store.listSenders()).map((s) => s.address), ['b@a.test', 'm@b.test', 'z@a.test'], 'by address');
  t.same((await store.listSenders('a.test')).map((s) => s.address), ['b@a.test', 'z@a.test']);
  const cas = [
    await store.setSenderPassword('b@a.test', 'h2', 'stale'), await store.setSenderPassword('b@a.test', 'h2', 'h1'),
    await store.setSenderPassword('b@a.test', null), await store.setSenderPassword('nobody@a.test', 'h'),
  ];
  t.same(cas, [false, true, true, false], 'a rehash only over the hash it read');
  t.same([await store.setSenderDisabled('z@a.test', true), await store.setSenderDisabled('nobody@a.test', true)], [true, false]);
  const z = await store.getSender('z@a.test');
  t.same([z?.disabled, (await store.getSender('b@a.test'))?.passwordHash], [true, null]);
  t.same([await store.removeSender('z@a.test'), await store.removeSender('z@a.test')], [true, false]);
  // Reply-to verification: the guard counts sends per sender and per mailbox (any case), one use per link.
  const guard = { since: 0, maxPerSender: 2, maxPerAddress: 1 };
  const send = (nonce: string, address: string, sentAt: number) => ({ nonce, sender: 'b@a.test', address, sentAt, expiresAt: sentAt + 600_000 });
  const started = [
    await store.startReplyToVerification(send('n1', 'Reply@x.test', 1000), guard),
    await store.startReplyToVerification(send('n2', 'reply@X.test', 2000), guard),
    await store.startReplyToVerification(send('n3', 'other@x.test', 3000), guard),
    await store.startReplyToVerification(send('n4', 'third@x.test', 4000), guard),
  ];
  t.same(started, [true, false, true, false], 'one mail per mailbox, two per sender');
  t.equal(await codeOf(store.startReplyToVerification({ ...send('n5', 'r@x.test', 5000), sender: 'nobody@a.test' }, guard)), 'MTA_ERR_NOT_FOUND');
  const pending = (await store.getSender('b@a.test'))?.replyTo;
  t.same(pending, { address: 'other@x.test', state: 'pending', nonce: 'n3', sentAt: 3000, expiresAt: 603_000 }, 'the newest send is pending');
  const times = await store.replyToSendTimes('b@a.test', 'REPLY@x.test', 0);
  t.same(times, { sender: [1000, 3000], address: [1000] });
  const confirms = [
    await store.confirmReplyTo('b@a.test', 'n1', 2000), await store.confirmReplyTo('b@a.test', 'n3', 700_000),
    await store.confirmReplyTo('b@a.test', 'n3', 4000), await store.confirmReplyTo('b@a.test', 'n3', 4001),
  ];
  t.same(confirms, [false, false, true, false], 'a replaced link, a late one, the right one once');
  const verified = (await store.getSender('b@a.test'))?.replyTo;
  t.same(verified, { address: 'other@x.test', state: 'verified', verifiedAt: 4000 });
  const used = await store.getReplyToSend('n3');
  t.equal(used?.usedAt, 4000, 'the send is marked used');
  t.equal(await store.getReplyToSend('n9'), undefined);
  t.same([await store.setSenderReplyTo('b@a.test', null), await store.setSenderReplyTo('nobody@a.test', null)], [true, false]);
  t.equal((await store.getSender('b@a.test'))?.replyTo, null, 'cleared');
  t.equal(await store.pruneReplyToSends(2500), 1, 'sends before the bound forgotten');
  return { dup, cas, z, all: await store.listSenders(), started, pending, times, confirms, verified, used };
}

export async function tagsScenario(t: Test, { store }: Side): Promise<unknown> {
  const added = [];
  for (const name of ['b', 'a', 'B', 'a']) added.push(await store.addTag({ name, description: `tag ${name}`, createdAt: 5 }));
  t.same(added, [true, true, true, false], 'a name taken is false');
  const list = await store.listTags();
  t.same(list.map((x) => x.name), ['B', 'a', 'b'], 'byte order, as SQLite compares');
  t.same([await store.removeTag('a'), await store.removeTag('a'), await store.getTag('a'), (await store.getTag('b'))?.description], [true, false, undefined, 'tag b']);
  return list;
}

export async function templatesScenario(t: Test, { store }: Side): Promise<unknown> {
  const tpl = (name: string, over: Partial<TemplateRecord> = {}): TemplateRecord => ({
    name, subject: 'Hello {{name}}', fromName: null, html: '<p>Hi</p>', text: null, state: 'draft', rejectReason: null, createdAt: 1, updatedAt: 1, ...over,
  });
  const added = [await store.addTemplate(tpl('welcome')), await store.addTemplate(tpl('bye')), await store.addTemplate(tpl('welcome'))];
  t.same(added, [true, true, false]);
  const upd = [await store.updateTemplate(tpl('welcome', { state: 'rejected', rejectReason: 'no', text: 'Hi', createdAt: 99, updatedAt: 7 })),
    await store.updateTemplate(tpl('missing'))];
  t.same(upd, [true, false]);
  const w = await store.getTemplate('welcome');
  t.same([w?.state, w?.rejectReason, w?.text, w?.createdAt, w?.updatedAt], ['rejected', 'no', 'Hi', 1, 7], 'every field but name and createdAt');
  t.same((await store.listTemplates()).map((x) => x.name), ['bye', 'welcome']);
  t.same([await store.removeTemplate('bye'), await store.removeTemplate('bye')], [true, false]);
  return { w, list: await store.listTemplates() };
}

export async function listsScenario(t: Test, { store }: Side): Promise<unknown> {
  await store.addList({ name: 'news', alias: 'news@lists.test', description: 'N', createdAt: 3 });
  await store.addList({ name: 'alpha', alias: 'alpha@lists.test', description: null, createdAt: 4 });
  const dups = [await errorOf(store.addList({ name: 'news', alias: 'other@lists.test', description: null, createdAt: 5 })),
    await errorOf(store.addList({ name: 'other', alias: 'news@lists.test', description: null, createdAt: 5 }))];
  t.same(dups.map((d) => d !== 'resolved' && d.message), ['list news exists already', 'alias address news@lists.test belongs to another list']);
  // 2,300 rows over three batches; an address repeated across the batches' edge is a duplicate of this import.
  const rows = Array.from({ length: 2300 }, (_, i) => ({ address: `m${String(i).padStart(4, '0')}@x.test`, variables: { Name: `n${i}` } }));
  rows.push({ address: 'm0005@x.test', variables: { Name: 'again' } });
  rows.splice(1200, 0, { address: 'm0999@x.test', variables: { Name: 'again' } });
  const first = await store.upsertListMembers('news', 'imp1', ['Name'], rows, 100);
  t.same([first.filter((w) => w === 'inserted').length, first.filter((w) => w === 'duplicate').length, first[1200], first.at(-1)], [2300, 2, 'duplicate', 'duplicate']);
  const second = await store.upsertListMembers('news', 'imp2', ['City', 'Name'], [
    { address: 'm0001@x.test', variables: { City: 'Oslo' } }, { address: 'new@x.test', variables: { ['__proto__']: 'p', City: 'Rome' } },
    { address: 'm0001@x.test', variables: { City: 'Bergen' } },
  ], 200);
  t.same(second, ['updated', 'inserted', 'duplicate']);
  const missing = [await codeOf(store.upsertListMembers('nope', 'i', [], [], 1)), await codeOf(store.putListMember('nope', 'a@x.test', {}, 'add', 1)),
    await codeOf(store.removeListMember('nope', 'a@x.test'))];
  t.same(missing, ['MTA_ERR_NOT_FOUND', 'MTA_ERR_NOT_FOUND', 'MTA_ERR_NOT_FOUND']);
  const puts = [
    await store.putListMember('news', 'm0001@x.test', { Zip: '1' }, 'add', 300), await store.putListMember('news', 'solo@x.test', { Zip: '2' }, 'update', 300),
    await store.putListMember('news', 'm0001@x.test', { Zip: '3', Name: 'N1' }, 'update', 301), await store.putListMember('news', 'solo@x.test', { Zip: '4' }, 'add', 302),
  ];
  t.same(puts.map((p) => p.write), ['exists', 'missing', 'updated', 'inserted']);
  t.same({ ...puts[2]!.member?.variables }, { City: 'Oslo', Zip: '3', Name: 'N1' }, 'merged into the member');
  const news = await store.getList('news');
  t.same([news?.members, news?.columns], [2302, ['Name', 'City', 'Zip']], 'counted; columns in first-seen order');
  const page1 = await store.listMembers('news', { limit: 3 });
  const page2 = await store.listMembers('news', { after: page1.at(-1)!.address, limit: 2 });
  t.same([...page1, ...page2].map((m) => m.address), ['m0000@x.test', 'm0001@x.test', 'm0002@x.test', 'm0003@x.test', 'm0004@x.test']);
  const odd = (await store.listMembers('news', { after: 'm9999@x.test', limit: 5 })).find((m) => m.address === 'new@x.test');
  t.equal(odd?.variables['__proto__'], 'p', 'a variable named __proto__ is a variable');
  const found = await store.listMembers('news', { contains: 'm000', after: 'm0003@x.test', limit: 10 });
  t.same(found.map((m) => m.address), ['m0004@x.test', 'm0005@x.test', 'm0006@x.test', 'm0007@x.test', 'm0008@x.test', 'm0009@x.test'], 'a search, paged');
  t.same(await store.listMembers('news', { contains: '%', limit: 5 }), [], 'the search text is text, not a pattern');
  t.same([await store.removeListMember('news', 'solo@x.test'), await store.removeListMember('news', 'solo@x.test')], [true, false]);
  t.same(await store.listMembers('nope', { limit: 5 }), [], 'no such list: no members');
  t.same((await store.listLists()).map((l) => [l.name, l.members]), [['alpha', 0], ['news', 2301]]);
  t.same([await store.removeList('news'), await store.removeList('news'), await store.getList('news')], [true, false, undefined]);
  t.same(await store.listMembers('news', { limit: 5 }), [], 'members gone with the list');
  return { dups, first, second, puts: puts.map((p) => ({ ...p, member: p.member && { ...p.member, variables: { ...p.member.variables } } })), news, page1, page2 };
}

export async function tasksScenario(t: Test, { store }: Side): Promise<unknown> {
  const ids = ['T0001', 'T0002', 'T0003'] as TaskId[];
  await store.addTask(taskRecord({ state: 'queued', tag: 'spring' }, ids[0]));
  await store.addTask(taskRecord({ state: 'sending', kind: 'alias', template: null, content: null, sourceId: 'Q1' as never }, ids[1]));
  await store.addTask(taskRecord({ state: 'paused', addressType: 'random', tracking: false, unsubscribe: true, resumeAt: 99 }, ids[2]));
  const dup = await errorOf(store.addTask(taskRecord({}, ids[0])));
  t.same(dup !== 'resolved' && dup.code, 'MTA_ERR_EXISTS');
  t.same((await store.listTasks({})).map((x) => x.id), ['T0003', 'T0002', 'T0001'], 'newest first');
  t.same((await store.listTasks({ before: 'T0003', limit: 1 })).map((x) => x.id), ['T0002'], 'a page below the cursor');
  t.same((await store.listTasks({ states: ['queued', 'paused'] })).map((x) => x.id), ['T0003', 'T0001']);
  const changes = [
    await store.setTaskState(ids[0]!, { from: 'sending', to: 'paused', at: 5 }),
    await store.setTaskState(ids[0]!, { from: 'queued', to: 'sending', at: 6, listSize: 40 }),
    await store.setTaskState(ids[2]!, { from: 'paused', to: 'cancelled', at: 7, pauseReason: null, resumeAt: null }),
  ];
  t.same(changes, [false, true, true], 'applied only from the named state');
  const chunk = { taskId: ids[0]!, messages: [], suppressed: 2, invalid: 1, at: 8 };
  const commits = [
    await store.commitTaskChunk({ ...chunk, after: 'someone@x.test', cursor: 'b@x.test', exhausted: false }),
    await store.commitTaskChunk({ ...chunk, after: null, cursor: 'b@x.test', exhausted: false }),
    await store.commitTaskChunk({ ...chunk, after: 'b@x.test', cursor: 'd@x.test', exhausted: true }),
    await store.commitTaskChunk({ ...chunk, taskId: ids[2]!, after: null, cursor: 'x', exhausted: true }),
  ];
  t.same(commits, [false, true, true, false], 'only at the cursor, only while sending');
  const got = await Promise.all(ids.map((id) => store.getTask(id)));
  t.same([got[0]?.cursor, got[0]?.exhausted, got[0]?.suppressed, got[0]?.invalid, got[0]?.listSize, got[0]?.updatedAt], ['d@x.test', true, 4, 2, 40, 8]);
  t.same([got[2]?.state, got[2]?.finishedAt, got[2]?.resumeAt, got[2]?.unsubscribe, got[1]?.content], ['cancelled', 7, null, true, null]);
  await store.addList({ name: 'news', alias: 'news@lists.test', description: null, createdAt: 1 });
  t.same([await store.listByAlias('NEWS@lists.test'), await store.listByAlias('x@lists.test')], ['news', undefined]);
  t.same(await store.waitingOfTask(ids[0]!), { queued: 0, sending: 0, deferred: 0, held: 0 });
  t.equal(await store.getTask('T9' as TaskId), undefined);
  return { changes, commits, got };
}

export async function tlsRptScenario(t: Test, { store }: Side): Promise<unknown> {
  const c = (domain: string, day: string, result: string, count: number) => ({ domain, day, policy: '{"policy-type":"sts"}', result, mx: 'mx.test', ip: '192.0.2.1', count });
  await store.addTlsRptCounts([c('b.test', '2026-12-01', 'success', 3), c('a.test', '2026-12-02', 'success', 1), c('b.test', '2026-12-01', 'success', 2)]);
  await store.addTlsRptCounts([c('b.test', '2026-12-01', 'certificate-expired', 1), c('a.test', '2026-12-03', 'success', 1)]);
  const counts = await store.tlsRptCounts('b.test', '2026-12-01');
  t.same(counts.map((x) => [x.result, x.count]), [['certificate-expired', 1], ['success', 5]], 'summed by key');
  t.same(await store.tlsRptPending('2026-12-03', 10), [{ domain: 'b.test', day: '2026-12-01' }, { domain: 'a.test', day: '2026-12-02' }], 'days before, oldest first');
  const claims = [
    await store.claimTlsRptReport('b.test', '2026-12-01', 'n1', 1000, 0), await store.claimTlsRptReport('b.test', '2026-12-01', 'n2', 1001, 500),
    await store.claimTlsRptReport('b.test', '2026-12-01', 'n2', 3000, 2000),
  ];
  t.same(claims, [true, false, true], 'a live claim holds; a stale one is taken over');
  await store.finishTlsRptReport('b.test', '2026-12-01', { sentAt: 3100 });
  await store.claimTlsRptReport('a.test', '2026-12-02', 'n1', 1000, 0);
  await store.finishTlsRptReport('a.test', '2026-12-02', { error: 'x'.repeat(2000) });
  const after = [await store.claimTlsRptReport('b.test', '2026-12-01', 'n3', 9000, 9000), await store.claimTlsRptReport('a.test', '2026-12-02', 'n3', 9000, 9000)];
  t.same(after, [false, true], 'a sent report is never claimed again; a failed one is, once stale');
  t.same(await store.tlsRptPending('2026-12-03', 10), [{ domain: 'a.test', day: '2026-12-02' }]);
  t.equal(await store.pruneTlsRpt('2026-12-03'), 5, 'counts and report rows of the days before');
  t.same(await store.tlsRptPending('2026-12-09', 10), [{ domain: 'a.test', day: '2026-12-03' }]);
  return { counts, claims, after };
}

export async function usersScenario(t: Test, { store }: Side): Promise<unknown> {
  const user = (name: string) => ({ name, role: 'operator' as const, passwordHash: `scrypt$${name}`, createdAt: 1, passwordChangedAt: 1 });
  await store.addUser(user('zoe'));
  await store.addUser(user('adam'));
  const dup = await errorOf(store.addUser(user('zoe')));
  t.same(dup, { code: 'MTA_ERR_EXISTS', message: 'user zoe exists already', field: 'name' });
  t.same((await store.listUsers()).map((u) => u.name), ['adam', 'zoe']);
  const s = (idHash: string, u: string, createdAt: number, lastSeenAt: number) => ({ idHash, user: u, createdAt, lastSeenAt });
  for (const x of [s('h1', 'zoe', 10, 10), s('h2', 'zoe', 10, 10), s('h3', 'adam', 10, 10), s('h4', 'adam', 50, 50)]) await store.addSession(x);
  t.not(await codeOf(store.addSession(s('h9', 'nobody', 1, 1))), 'resolved', 'a session of no user is refused');
  await store.touchSession('h3', 40);
  t.same(await store.getSession('h3'), s('h3', 'adam', 10, 40));
  const passwd = [await store.setUserPassword('zoe', 'scrypt$new', 60), await store.setUserPassword('nobody', 'x', 60)];
  t.same(passwd, [true, false]);
  t.same([await store.getSession('h1'), (await store.getUser('zoe'))?.passwordChangedAt], [undefined, 60], 'a new password ends the sessions');
  const roles = [await store.setUserRole('zoe', 'viewer'), await store.setUserRole('nobody', 'admin')];
  t.same([roles, (await store.getUser('zoe'))?.role], [[true, false], 'viewer'], 'a role change');
  t.not(await codeOf(store.setUserRole('zoe', 'root' as never)), 'resolved', 'an unknown role is refused by the schema');
  t.equal(await store.purgeSessions(30, 5), 0, 'nothing idle or too old');
  t.equal(await store.purgeSessions(20, 20), 1, 'created before the bound');
  await store.removeSession('h4');
  await store.addSession(s('h5', 'adam', 70, 70));
  t.same([await store.removeUser('adam'), await store.removeUser('adam'), await store.getSession('h5')], [true, false, undefined], 'sessions go with the user');
  return { dup, passwd, roles, users: await store.listUsers() };
}
