// The rules (events/effects.ts), table-driven: one row per rule, a fact and what the spool
// knows of its recipient in, the effects a backend must write out. The end-to-end proof
// that the SQLite backend applies them is every webhook, stats, task, quota, suppression,
// unsubscribe and bounce test; this file pins each rule apart, with no storage at all.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createRules, DEFERRED_EVENT_INTERVAL_MS, statsKey, webhookTargets } from '../src/events/effects.js';
import type { Effect, RecipientFacts, WebhookDirectory, WebhookTarget } from '../src/spool/types-effects.js';
import type { RecipientOutcome } from '../src/spool/types-queue.js';
import type { AsyncBounce, UnsubscribeRequest } from '../src/spool/types-inbound.js';
import type { FeedbackRecord } from '../src/spool/types-feedback.js';
import { asRecipientId, type QueueId } from '../src/util/ids.js';
import { tsFiles } from './helpers/store-boundary.js';

const AT = Date.parse('2026-03-10T23:30:00Z');
const HOUR = DEFERRED_EVENT_INTERVAL_MS;

/** 1 and 2 are account-level (2 hears only `delivered`); 3 is alice's own and hears failures and bounces. */
const HOOKS: WebhookTarget[] = [
  { id: 1, sender: null, events: '*' },
  { id: 2, sender: null, events: ['delivered'] },
  { id: 3, sender: 'alice@shop.test', events: ['failed', 'bounce', 'unsubscribe'] },
];
const directory: WebhookDirectory = (s) => HOOKS.filter((h) => h.sender === null || (s !== null && h.sender === s.toLowerCase()));

function facts(over: Partial<RecipientFacts> = {}): RecipientFacts {
  return {
    recipientId: asRecipientId(7), queueId: 'Q1', rcpt: 'Rcpt@X.test', rcptDomain: 'x.test', attempts: 2, deferredEventAt: null,
    sender: 'bob@shop.test', authUser: null, messageId: '<m1@shop.test>', tag: 'news', receivedAt: AT - 60_000, taskId: null, ...over,
  };
}

function outcome(kind: RecipientOutcome['kind'], detail: Record<string, unknown> = {}, over: Partial<RecipientOutcome> = {}): RecipientOutcome {
  return { recipientId: asRecipientId(7), queueId: 'Q1' as QueueId, kind, at: AT, reply: '250 ok', attempted: true, detail, ...over };
}

/** One line per effect: what a reader of the table needs, nothing a rule does not decide. */
function summary(e: Effect): string {
  switch (e.kind) {
    case 'count': return `count ${e.counter}+${e.n}`;
    case 'count-rcpt-domain': return `rcpt ${e.rcptDomain} ${e.counter}+${e.n}`;
    case 'failure-category': return `category ${e.rcptDomain} ${e.category}`;
    case 'latency': return `latency ${e.rcptDomain} ${e.ms}`;
    case 'task-count': return `task ${e.taskId} ${e.counter}`;
    case 'spam-bounce': return `spam ${e.key.domain}`;
    case 'outbox': return `outbox ${e.event} -> ${e.webhookIds.join(',')}`;
    case 'suppress': return `suppress ${e.entry.address} scope=${e.entry.scope} ${e.entry.source}: ${e.entry.reason}`;
    case 'deferral-reported': return `deferral-reported ${e.at}`;
  }
}

const rules = createRules({ timeZone: 'UTC' });
const unsub = (over: Partial<UnsubscribeRequest> = {}): UnsubscribeRequest => ({ address: 'rcpt@x.test', senderDomain: 'Shop.test', queueId: 'Q1', method: 'link', at: AT, ...over });
const bounce = (over: Partial<AsyncBounce> = {}): AsyncBounce => ({
  queueId: 'Q1' as QueueId, rcpt: 'rcpt@x.test', at: AT, reply: '550 5.1.1 user unknown', status: 2, category: 'user_unknown', suppress: true, detail: {}, ...over,
});
const alice = facts({ sender: 'Alice@Shop.test' });
const report = (over: Partial<FeedbackRecord> = {}): FeedbackRecord => ({
  queueId: 'Q1' as QueueId, recipientId: undefined, candidates: [], feedbackType: 'abuse', complaint: true, at: AT, detail: { user_agent: 'Yahoo!-Mail-Feedback/2.0' }, ...over,
});

type Row = [rule: string, effects: () => Effect[], expected: string[]];
const ROWS: Row[] = [
  ['accepted: requests per sender and per recipient domain', () => rules.accepted({ sender: 'bob@shop.test', receivedAt: AT, tag: null, recipients: ['a@x.test', 'b@X.test', 'c@y.test'] }),
    ['count requests+3', 'rcpt x.test requests+2', 'rcpt y.test requests+1']],
  ['accepted: mail from the null sender counts nowhere', () => rules.accepted({ sender: '', receivedAt: AT, tag: null, recipients: ['a@x.test'] }), []],
  ['delivered: counter, latency, event (account-level: every filter that takes it)', () => rules.outcome(outcome('delivered', { status: 0 }), facts(), directory),
    ['count delivered+1', 'rcpt x.test delivered+1', 'latency x.test 60000', 'outbox delivered -> 1,2']],
  ['delivered: a sender with its own webhook gets it there only, and its filter refuses', () => rules.outcome(outcome('delivered', { status: 0 }), alice, directory),
    ['count delivered+1', 'rcpt x.test delivered+1', 'latency x.test 60000']],
  ['failed, status 2: invalid, its category, the suppression decided with it', () => rules.outcome(outcome('failed', { status: 2, category: 'user_unknown' }, { suppress: { address: 'rcpt@x.test', reason: '550 user unknown' } }), facts(), directory),
    ['suppress rcpt@x.test scope= bounce: 550 user unknown', 'count invalid+1', 'rcpt x.test invalid+1', 'category x.test user_unknown', 'outbox failed -> 1']],
  ['failed, status 3: failed and a spam bounce; the sender\'s own webhook', () => rules.outcome(outcome('failed', { status: 3, category: 'spam_block' }), alice, directory),
    ['count failed+1', 'rcpt x.test failed+1', 'category x.test spam_block', 'spam shop.test', 'outbox failed -> 3']],
  ['failed without a category: other', () => rules.outcome(outcome('failed', { status: 4 }), facts(), directory),
    ['count failed+1', 'rcpt x.test failed+1', 'category x.test other', 'outbox failed -> 1']],
  ['expired: its own counter and category', () => rules.outcome(outcome('expired', { status: 4, category: 'network' }), facts(), directory),
    ['count expired+1', 'rcpt x.test expired+1', 'category x.test expired', 'outbox expired -> 1']],
  ['a task\'s delivery counts on the task', () => rules.outcome(outcome('delivered'), facts({ taskId: 'T1' }), directory),
    ['count delivered+1', 'rcpt x.test delivered+1', 'latency x.test 60000', 'task T1 delivered', 'outbox delivered -> 1,2']],
  ['a task\'s invalid address counts as invalid on the task', () => rules.outcome(outcome('failed', { status: 2, category: 'user_unknown' }), facts({ taskId: 'T1' }), directory),
    ['count invalid+1', 'rcpt x.test invalid+1', 'category x.test user_unknown', 'task T1 invalid', 'outbox failed -> 1']],
  ['a task\'s expiry counts as failed on the task', () => rules.outcome(outcome('expired'), facts({ taskId: 'T1' }), directory),
    ['count expired+1', 'rcpt x.test expired+1', 'category x.test expired', 'task T1 failed', 'outbox expired -> 1']],
  ['first deferral: counted once, reported', () => rules.outcome(outcome('deferred', { status: 4 }), facts(), directory),
    ['count deferred+1', 'rcpt x.test deferred+1', `deferral-reported ${AT}`, 'outbox deferred -> 1']],
  ['another deferral within the hour: nothing', () => rules.outcome(outcome('deferred'), facts({ deferredEventAt: AT - HOUR + 1 }), directory), []],
  ['another deferral an hour later: reported again, not counted', () => rules.outcome(outcome('deferred'), facts({ deferredEventAt: AT - HOUR }), directory),
    [`deferral-reported ${AT}`, 'outbox deferred -> 1']],
  ['our own DSN (null sender): only the suppression', () => rules.outcome(outcome('failed', { status: 2 }, { suppress: { address: 'me@shop.test', reason: '550 no' } }), facts({ sender: '' }), directory),
    ['suppress me@shop.test scope= bounce: 550 no']],
  ['a recipient gone from the spool: nothing to count', () => rules.outcome(outcome('delivered'), undefined, directory), []],
  ['operator delete: failed, category deleted, event', () => rules.deleted(facts(), AT, 'deleted by the operator', directory),
    ['count failed+1', 'rcpt x.test failed+1', 'category x.test deleted', 'outbox deleted -> 1']],
  ['operator delete of a task\'s recipient: failed on the task', () => rules.deleted(facts({ taskId: 'T1' }), AT, 'deleted by the operator', directory),
    ['count failed+1', 'rcpt x.test failed+1', 'category x.test deleted', 'task T1 failed', 'outbox deleted -> 1']],
  ['delete of a cancelled task\'s recipient: cancelled, not a failure category', () => rules.deleted(facts({ taskId: 'T1', taskCancelled: true }), AT, 'deleted by the operator', directory),
    ['count cancelled+1', 'rcpt x.test cancelled+1', 'task T1 failed', 'outbox deleted -> 1']],
  ['delete of our own DSN: nothing', () => rules.deleted(facts({ sender: '' }), AT, 'deleted by the operator', directory), []],
  ['refused at submission: the rejected event, no counters', () => rules.refused({ at: AT, sender: 'bob@shop.test', authUser: null, rcpt: 'r@x.test', reply: '559 5.1.1 Invalid rcptto', via: 'smtp', suppression: { address: 'r@x.test', scope: '', reason: 'x', source: 'bounce', createdAt: 0 } }, directory),
    ['outbox rejected -> 1']],
  ['domain event: account-level webhooks only, whatever the filter', () => rules.domainEvent({ at: AT, type: 'domain.verified', domain: 'shop.test', detail: {} }, directory),
    ['outbox domain.verified -> 1']],
  ['an unknown domain event type: no webhook event', () => rules.domainEvent({ at: AT, type: 'domain.unknown', domain: 'shop.test', detail: {} }, directory), []],
  ['unsubscribe: the sender\'s own webhook', () => rules.unsubscribed(unsub(), alice, directory), ['outbox unsubscribe -> 3']],
  ['unsubscribe from a purged message: account-level webhooks', () => rules.unsubscribed(unsub(), undefined, directory), ['outbox unsubscribe -> 1']],
  ['unsubscribe from our own DSN: nothing', () => rules.unsubscribed(unsub(), facts({ sender: '' }), directory), []],
  ['async bounce (after delivery), invalid address: suppression (the address in lower case), late bounce and late invalid, the bounce event', () => rules.asyncBounce(bounce(), alice, directory),
    ['suppress rcpt@x.test scope= bounce: 550 5.1.1 user unknown', 'count late_bounces+1', 'count late_invalid+1', 'outbox bounce -> 3']],
  ['async bounce not to suppress, not an invalid address: a late bounce only', () => rules.asyncBounce(bounce({ suppress: false, status: 3, category: 'spam_block' }), facts(), directory),
    ['count late_bounces+1', 'outbox bounce -> 1']],
  ['async bounce of a task\'s recipient: counted on the task, apart from its outcomes', () => rules.asyncBounce(bounce({ suppress: false }), facts({ taskId: 'T1' }), directory),
    ['count late_bounces+1', 'count late_invalid+1', 'task T1 bounced_after_delivery', 'outbox bounce -> 1']],
  ['async bounce of our own DSN: the suppression only', () => rules.asyncBounce(bounce(), facts({ sender: '' }), directory), ['suppress rcpt@x.test scope= bounce: 550 5.1.1 user unknown']],
  ['complaint (abuse): suppressed for the sender domain, counted, complaint event', () => rules.complaint(report(), facts(), false, directory),
    ['suppress rcpt@x.test scope=shop.test complaint: complaint (feedback-type abuse from Yahoo!-Mail-Feedback/2.0)', 'count complaints+1', 'outbox complaint -> 1']],
  ['another feedback type (opt-out): recorded by the backend, nothing else', () => rules.complaint(report({ feedbackType: 'opt-out', complaint: false }), facts(), false, directory), []],
  ['complaint about our own DSN: nothing', () => rules.complaint(report(), facts({ sender: '' }), false, directory), []],
];

t.test('each rule, fact in, effects out', async (t) => {
  for (const [rule, effects, expected] of ROWS) t.same(effects().map(summary), expected, rule);
});

t.test('counts land on the day of receipt in the configured zone, keyed by the lower-case sender', async (t) => {
  t.same(statsKey('Bob@Shop.TEST', AT, null, 'UTC'), { day: '2026-03-10', domain: 'shop.test', sender: 'bob@shop.test', tag: '' });
  t.same(statsKey('bob@shop.test', AT, 'news', 'Asia/Shanghai'), { day: '2026-03-11', domain: 'shop.test', sender: 'bob@shop.test', tag: 'news' });
  const [first] = createRules({ timeZone: 'Asia/Shanghai' }).outcome(outcome('delivered'), facts({ receivedAt: AT }), directory);
  t.match(first, { kind: 'count', key: { day: '2026-03-11' } }, 'the rules use the zone they were made with');
});

t.test('targeting: sender-level before account-level, then each filter', async (t) => {
  const rows: [string, string | null, Parameters<typeof webhookTargets>[1], number[]][] = [
    ['no own webhook: the account-level ones that take it', 'bob@shop.test', 'delivered', [1, 2]],
    ['own webhook takes it', 'alice@shop.test', 'failed', [3]],
    ['own webhook refuses it: no fallback to the account', 'ALICE@shop.test', 'delivered', []],
    ['no sender: account-level only, even with sender webhooks listed', null, 'failed', [1]],
  ];
  for (const [what, sender, event, ids] of rows) t.same(webhookTargets(HOOKS, event, sender), ids, what);
  t.same(webhookTargets([{ id: 9, sender: 'x@y.test', events: '*' }], 'delivered', 'other@y.test'), [], 'another sender\'s webhook is never chosen');
});

t.test('hold-back: a retried POST holds the webhook back until its retry; delivered or dead does not', async (t) => {
  t.equal(rules.holdBackUntil({ state: 'failed', nextAttemptAt: AT + 5000 }), AT + 5000);
  t.equal(rules.holdBackUntil({ state: 'delivered' }), undefined);
  t.equal(rules.holdBackUntil({ state: 'dead' }), undefined);
});

t.test('payloads: what the rules put in the outbox', async (t) => {
  const [, , , , , ev] = rules.outcome(outcome('failed', { status: 3, category: 'spam_block', source: 'ip2' }, { reply: '554 5.7.1 spam' }), facts({ taskId: 'T1' }), directory);
  t.match(ev, { kind: 'outbox', payload: {
    event: 'failed', env_id: 'Q1', msg_id: 'm1@shop.test', account: 'bob@shop.test', status: 3, err_code: 554, bounce_category: 'spam_block',
    task_id: 'T1', egress_source: 'ip2', attempts: 2, end_time: '2026-03-10 23:30:00',
  } });
  const [del] = rules.deleted(facts(), AT, 'deleted by the operator', directory).filter((e) => e.kind === 'outbox');
  t.match(del, { payload: { event: 'deleted', status: 4, err_code: null, bounce_category: 'deleted' } });
  const [u] = rules.unsubscribed(unsub({ method: 'one-click' }), facts({ authUser: 'api-user', taskId: 'T1' }), directory);
  t.same((u as Extract<Effect, { kind: 'outbox' }>).payload, {
    event: 'unsubscribe', env_id: 'Q1', msg_id: 'm1@shop.test', account: 'api-user', from: 'bob@shop.test', rcpt: 'Rcpt@X.test', domain: 'shop.test',
    tag: 'news', task_id: 'T1', time: '2026-03-10 23:30:00', method: 'one-click',
  }, 'the message fields follow the recipient-event rules (msg_id without brackets, account)');
  const [p] = rules.unsubscribed(unsub(), undefined, directory);
  t.same((p as Extract<Effect, { kind: 'outbox' }>).payload, {
    event: 'unsubscribe', env_id: 'Q1', msg_id: null, account: null, from: null, rcpt: 'rcpt@x.test', domain: 'shop.test',
    tag: null, task_id: null, time: '2026-03-10 23:30:00', method: 'link',
  }, 'a purged message: its fields are null');
  const [r] = rules.refused({ at: AT, sender: 'bob@shop.test', authUser: null, rcpt: 'r@x.test', reply: '559 5.1.1 Invalid rcptto', via: 'api', suppression: { address: 'r@x.test', scope: '', reason: 'x', source: 'bounce', createdAt: 0 } }, directory);
  t.match(r, { payload: { event: 'rejected', env_id: '', msg_id: '', status: 2, bounce_category: 'suppressed', err_code: 559 } });
});

t.test('suppression entries: an unsubscribe\'s scope is the sender domain; a bounce reason is cut at 500', async (t) => {
  t.same(rules.unsubscribeEntry(unsub({ method: 'mailto' })), { address: 'rcpt@x.test', scope: 'shop.test', reason: 'unsubscribed (mailto)', source: 'unsubscribe', createdAt: AT });
  const [s] = rules.asyncBounce(bounce({ reply: `550 ${'x'.repeat(600)}` }), facts({ rcpt: 'MiXed@X.test' }), directory);
  t.match(s, { kind: 'suppress', entry: { address: 'mixed@x.test', scope: '', source: 'bounce' } });
  t.equal((s as Extract<Effect, { kind: 'suppress' }>).entry.reason.length, 500);
});

t.test('the backend decides nothing: no spool module but the contract and openStore imports events/', async (t) => {
  const allowed = new Set(['index.ts', 'default-rules.ts']);
  const spool = tsFiles(join('src', 'spool'));
  const backend = spool.filter((f) => !allowed.has(basename(f)) && !/^(types(-[a-z]+)?|states)\.ts$/.test(basename(f)));
  t.ok(backend.filter((f) => basename(f).startsWith('sqlite-')).length >= 10, `scanned ${backend.length} backend files`);
  const found = backend.flatMap((f) => readFileSync(f, 'utf8').split('\n').map((l, i) => [f, i + 1, l] as const)
    .filter(([, , l]) => /(from|import\()\s*['"]\.\.\/events\//.test(l)).map(([f, n, l]) => `${f}:${n}: ${l.trim()}`));
  t.same(found, [], found.join('\n'));
  // The contract may name event types, but only as types: no rule comes with them.
  const contract = spool.filter((f) => /^types(-[a-z]+)?\.ts$/.test(basename(f)));
  const valueImports = contract.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => /^import\s+(?!type\b).*['"]\.\.\/events\//.test(l)).map((l) => `${f}: ${l}`));
  t.same(valueImports, [], valueImports.join('\n'));
});

t.test('late bounce and complaint payloads: no `status` (not an outcome); `suppressed` false when the address was on the list', async (t) => {
  const late = rules.asyncBounce(bounce(), facts(), directory).find((e) => e.kind === 'outbox');
  t.ok(late && late.kind === 'outbox' && !('status' in late.payload), 'the late bounce has no status');
  t.match(late, { payload: { event: 'bounce', bounce_status: 2, after_delivery: true, rcpt: 'Rcpt@X.test' } });
  const fresh = rules.complaint(report(), facts(), false, directory).find((e) => e.kind === 'outbox');
  t.match(fresh, { payload: { event: 'complaint', domain: 'shop.test', feedback_type: 'abuse', user_agent: 'Yahoo!-Mail-Feedback/2.0', suppressed: true, msg_id: 'm1@shop.test' } });
  const again = rules.complaint(report(), facts(), true, directory).find((e) => e.kind === 'outbox');
  t.match(again, { payload: { suppressed: false } });
});
