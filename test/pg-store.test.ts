// The PostgreSQL store as the daemon would hold it (openStoreAsync), on a real server that
// goes away: while PostgreSQL is down intake, claims and outcomes are refused with
// MTA_ERR_SPOOL_BUSY (451 4.3.0 at submission, retryable) and nothing half-written stays;
// once it is back the same store takes the same calls without being reopened.
import t from 'tap';
import { errorEntry, type ErrorCode } from '../src/mail/errors.js';
import { REPLIES } from '../src/mail/replies.js';
import { openStoreAsync } from '../src/spool/index.js';
import { startPostgres } from './helpers/postgres.js';
import { incoming, outcome, states } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));

function smtpReplyFor(e: unknown): string {
  const smtp = errorEntry((e as { code: ErrorCode }).code).smtp;
  const r = smtp ? REPLIES[smtp] : undefined;
  return r ? `${r.code} ${r.enhanced}` : 'none';
}

t.test('PostgreSQL down: refusals are 451 4.3.0 and store nothing; back up: the same store recovers without a restart', async (t) => {
  const url = await cluster.createDatabase();
  const store = await openStoreAsync({
    dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId: 'n1', backend: 'postgres', postgres: { url, poolSize: 2 } },
  }, { allowMissingPorts: true });
  t.teardown(() => store.close());
  const first = incoming(['a@dest.test']);
  await store.commitIncoming(first);
  const [claimed] = await store.claimDue({ now: first.receivedAt + 1, limit: 1 });

  cluster.pause();
  let resumed = false;
  t.teardown(() => { if (!resumed) cluster.resume(); });
  const m = incoming(['b@dest.test']);
  const refused = await store.commitIncoming(m).then(() => undefined, (e: unknown) => e);
  t.match(refused, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'intake');
  t.equal(smtpReplyFor(refused), '451 4.3.0', 'a temporary refusal at submission');
  await t.rejects(store.recordOutcomes([outcome(claimed!, 'delivered', first.receivedAt + 2)]), { code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'an outcome');
  await t.rejects(store.claimDue({ now: first.receivedAt + 2, limit: 1 }), { code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'a claim');

  cluster.resume();
  resumed = true;
  t.equal(await store.getMessage(m.id), undefined, 'the refused message was not stored');
  await store.commitIncoming(m);
  t.equal(await store.recordOutcomes([outcome(claimed!, 'delivered', first.receivedAt + 3)]), 1, 'the outcome goes through on the same store');
  t.same(await states(store), { 'a@dest.test': 'delivered', 'b@dest.test': 'queued' });
});
