// Faults: kill -9 at random moments under mixed load (several submitting clients,
// deliveries to a sink, webhook POSTs to a receiver), 5 rounds (soak: 20). Every
// acknowledged recipient ends delivered (duplicates counted, losses 0), every recipient has
// exactly one final event, and the webhook receiver heard every final event at least once.
import t from 'tap';
import { startFaultWorld, table, type FaultWorld } from '../helpers/fault-world.js';
import { killRounds } from '../helpers/fault-scenarios.js';

const ROUNDS = Number(process.env['MTA_KILL_ROUNDS'] ?? 5);

let w: FaultWorld;
t.before(async () => { w = await startFaultWorld({ sink: { dataDelayMs: 20 } }); });
t.teardown(() => w.close());

t.test(`kill -9 under mixed load, ${ROUNDS} rounds`, async (t) => {
  const { row, rounds } = await killRounds(w, ROUNDS);
  t.comment(rounds.map((r) => `round ${r.round}: ${r.acked} recipients acknowledged, ${r.refused} transactions cut, ${r.ms} ms`).join('\n'));
  t.comment(`\n${table([{ name: 'kill -9', ...row }])}`);
  t.ok(rounds.every((r) => r.acked > 0), 'every round acknowledged mail before the kill');
  t.ok(row.acknowledged > 0, `${row.acknowledged} recipients acknowledged`);
  t.equal(row.lost, 0, `no acknowledged recipient lost${row.lost ? `: ${row.lostList.slice(0, 5).join(', ')}` : ''}`);
  t.equal(row.delivered, row.acknowledged, 'every acknowledged recipient delivered to the sink');
  t.equal(row.badFinal, 0, 'every recipient in the spool has exactly one final event');
  t.ok(row.finalEvents >= row.acknowledged, 'a final event for at least every acknowledged recipient');
  t.equal(row.webhookMissing, 0, `the receiver heard every final event${row.webhookMissing ? `; missing ${row.missingList.slice(0, 5).join(', ')}` : ''}`);
});
