// A domain not seen before (issue 23): its MTA-STS lookup does not wait for the MX answer,
// so the first message to it (a login code's, often) is one DNS round trip sooner. The MX
// answer is held back 800 ms; the `_mta-sts` TXT question must already have been asked,
// before the question for the MX host's address that only the MX answer can prompt.
import t from 'tap';
import { startWorld, allFinal } from './helpers/delivery.js';

t.test('the MTA-STS lookup leaves with the MX lookup, not after it', async (t) => {
  const w = await startWorld();
  t.teardown(() => w.stop());
  const sink = await w.addDomain('slowmx.test', 73);
  w.dns.set('slowmx.test', { MX: [{ preference: 10, exchange: 'mx.slowmx.test' }], delayMs: 800 });
  const id = await w.submit('x@slowmx.test');
  const m = await w.waitFor('delivery', async () => { const x = await w.message(id); return allFinal(x) && x; });
  t.equal(m.recipients[0]!.state, 'delivered');
  t.equal(sink.messages.length, 1);
  const asked = w.dns.queries.map((q) => `${q.type} ${q.name.toLowerCase()}`);
  const sts = asked.indexOf('TXT _mta-sts.slowmx.test');
  const host = asked.indexOf('A mx.slowmx.test');
  t.ok(sts >= 0 && host >= 0, `both asked (${asked.filter((q) => q.includes('slowmx')).join(', ')})`);
  t.ok(sts < host, 'the MTA-STS question went out before the MX answer came back');
});
