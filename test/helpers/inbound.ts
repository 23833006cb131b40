/**
 * An inbound world: the delivery world (helpers/delivery.ts) with the inbound listener on
 * a loopback port, a sink for dest.test, and an account-level webhook to a receiver; what
 * the inbound tests (bounces, complaints) share.
 */
import { join } from 'node:path';
import { startWorld, type World } from './delivery.js';
import { startReceiver, type Receiver } from './receiver.js';
import { WebhookService } from '../../src/events/webhooks.js';
import { loadSecret } from '../../src/util/secret.js';

export interface InboundWorld { w: World; rx: Receiver; secret: Buffer; inbound: number; stop(): Promise<void> }

export async function startInboundWorld(inboundToml = ''): Promise<InboundWorld> {
  const w = await startWorld('send_dsn = false\n', {
    extraToml: `[inbound]\nlisten = ["127.0.0.1:0"]\n${inboundToml}[webhooks]\nallow_private = true\nretry_schedule = ["50ms"]\nretry_jitter = 0\ntimeout = "3s"\n`,
  });
  await w.addDomain('dest.test', 2);
  const rx = await startReceiver();
  await new WebhookService(w.daemon.daemon.store, () => w.daemon.daemon.config).add({ url: rx.url('/hook'), secret: 'a-test-secret-of-some-length' });
  return {
    w, rx, secret: loadSecret(join(w.daemon.dir, 'data')), inbound: w.daemon.daemon.inbound!.ports[0]!,
    async stop() { await w.stop(); await rx.close(); },
  };
}
