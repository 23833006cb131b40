/**
 * both-backends — runs one scenario on SQLite and on PostgreSQL and holds the two to the
 * same answer: each side is made fresh per test (`sides`, SQLite first), the scenario runs
 * as a subtest per side and returns a transcript of what it saw, and the PostgreSQL
 * transcript must equal SQLite's. The scenario asserts its own expectations too, so two
 * backends agreeing on a wrong answer still fail. Used by the PostgreSQL ports' own tests
 * (test/pg-accounts.test.ts, test/cluster-store.test.ts).
 */
import t, { type Test } from 'tap';

export function bothBackends<S extends { name: string }>(
  name: string, sides: readonly ((t: Test) => S | Promise<S>)[], scenario: (t: Test, side: S) => Promise<unknown>,
): void {
  t.test(name, async (t) => {
    const seen: Record<string, unknown> = {};
    for (const make of sides) {
      const side = await make(t);
      await t.test(side.name, async (t) => { seen[side.name] = await scenario(t, side); });
    }
    t.same(seen['postgres'], seen['sqlite'], 'PostgreSQL answers as SQLite does');
  });
}
