// GET /api/v1/stats/engagement: people's opens and clicks per day of the configured zone,
// counted on the day of the hit. Hits are stored through the store's port (as the public
// tracking endpoint stores them) at chosen times, so day edges need no waiting; machine
// opens and scanner clicks are left out; unique counts are distinct recipients.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { asRecipientId, type QueueId } from '../src/util/ids.js';
import type { HitClass, TrackingKind } from '../src/spool/types-tracking.js';
import { dayIn } from '../src/util/time.js';

/** The test daemon's zone (its config is written for it; the zone arithmetic is util/time's, tested with its own). */
const ZONE = 'UTC';
let d: TestDaemon;
let api: Call;
t.before(async () => {
  d = await startDaemon();
  api = apiClient(d);
});
t.teardown(() => d.stop());

t.test('opens and clicks per day, people only, unique per recipient', async (t) => {
  const sent = await api('POST', '/api/v1/send', { from: 'app@example.com', to: ['ann@dest.test', 'bob@dest.test'], subject: 's', text: 'x' });
  t.equal(sent.status, 200, sent.text);
  const items = (await api('GET', '/api/v1/messages')).json.items as { rcpt: string; recipient_id: number }[];
  const id = (rcpt: string) => asRecipientId(items.find((i) => i.rcpt === rcpt)!.recipient_id);
  const now = Date.now();
  const hit = (rcpt: string, kind: TrackingKind, at: number, cls: HitClass = 'human') => d.daemon.store.recordTrackingHit({
    at, kind, queueId: sent.json.queue_id as QueueId, recipientId: id(rcpt), ip: '192.0.2.1', userAgent: 'test', method: 'GET', class: cls, reason: null,
  });
  const yesterday = now - 86_400_000;
  await hit('ann@dest.test', 'open', now);
  await hit('ann@dest.test', 'open', now);
  await hit('bob@dest.test', 'open', now);
  await hit('ann@dest.test', 'click', now);
  await hit('bob@dest.test', 'open', now, 'machine');
  await hit('bob@dest.test', 'click', now, 'scanner');
  await hit('ann@dest.test', 'open', yesterday);

  const today = dayIn(now, ZONE);
  const before = dayIn(yesterday, ZONE);
  const r = await api('GET', `/api/v1/stats/engagement?from=${before}&to=${today}`);
  t.equal(r.status, 200, r.text);
  t.equal(r.json.time_zone, ZONE);
  t.same(r.json.rows, [
    { day: before, opens: 1, unique_opens: 1, clicks: 0, unique_clicks: 0 },
    { day: today, opens: 3, unique_opens: 2, clicks: 1, unique_clicks: 1 },
  ], 'per day of the zone; the proxy\'s open and the scanner\'s click are not people\'s');
  t.same(r.json.total, { opens: 4, unique_opens: 2, clicks: 1, unique_clicks: 1 }, 'unique over the range: ann counted once');
  t.same((await api('GET', '/api/v1/stats/engagement')).json.rows.map((x: { day: string }) => x.day), [today], 'default: today');

  t.match(await api('GET', `/api/v1/stats/engagement?from=${today}&to=${before}`), { status: 400, json: { error: { code: 'MTA_ERR_INVALID', field: 'from' } } });
  t.match(await api('GET', '/api/v1/stats/engagement?from=2026-01-01&to=2026-03-01'), { status: 400, json: { error: { field: 'to' } } }, 'at most 31 days');
  t.match(await api('GET', '/api/v1/stats/engagement?from=yesterday'), { status: 400, json: { error: { field: 'from' } } });
  t.match(await api('GET', '/api/v1/stats/engagement?domain=example.com'), { status: 400 }, 'unknown parameters are refused');
});
