// Delivery → scheduler feedback (src/scheduler/destination.ts): delivery reports what it
// learnt about a destination without times; the destination turns it into limits with the
// scheduler's configured spans, and they lapse at those ends.
import t from 'tap';
import { Destination } from '../src/scheduler/destination.js';
import { loadConfig } from '../src/config/config.js';

const cfg = { ...loadConfig({ discover: false }).delivery, slowdownMs: 90_000, unreachableBackoffMs: 300_000, maxConnectionsPerDomain: 7 };
const NOW = Date.parse('2026-12-04T12:00:00Z');

t.test('slow down: one connection until the configured slowdown has passed', async (t) => {
  const d = new Destination('example.net');
  t.equal(d.connectionLimit(cfg, NOW), 7);
  d.apply({ kind: 'slow-down' }, cfg, NOW);
  t.equal(d.slowUntil, NOW + 90_000);
  t.equal(d.connectionLimit(cfg, NOW + 89_999), 1);
  t.equal(d.connectionLimit(cfg, NOW + 90_000), 7, 'the configured limit again once it lapsed');
});

t.test('unreachable: remembered with its reply for the configured backoff', async (t) => {
  const d = new Destination('example.net');
  d.apply({ kind: 'unreachable', reply: '427 4.4.1 Connect to UNREACHABLE host: mx.example.net' }, cfg, NOW);
  t.equal(d.unreachableReply, '427 4.4.1 Connect to UNREACHABLE host: mx.example.net');
  t.equal(d.isUnreachable(NOW + 299_999), true);
  t.equal(d.isUnreachable(NOW + 300_000), false);
});

t.test('the planned route\'s shaping entry sets the connection limits', async (t) => {
  const d = new Destination('example.net');
  d.apply({ kind: 'shaping', shaping: { name: 'big', domains: ['example.net'], mxSuffixes: [], maxConnections: 2, maxMessagesPerConnection: 3 } }, cfg, NOW);
  t.equal(d.connectionLimit(cfg, NOW), 2);
  t.equal(d.messagesPerConnection(cfg), 3);
  d.apply({ kind: 'shaping', shaping: undefined }, cfg, NOW);
  t.equal(d.connectionLimit(cfg, NOW), 7);
});
