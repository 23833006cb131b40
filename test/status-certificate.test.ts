// GET /api/v1/status names the end of the SMTP TLS certificate as its file says now (the
// console's Overview warns from it): null without one, the date and days left, and the
// reason when the file is no longer a certificate, without failing the status call.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { startDaemon, tempDir } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { makeCert } from './helpers/tls.js';

t.test('no certificate configured: null', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const r = await apiClient(d)('GET', '/api/v1/status');
  t.equal(r.status, 200, r.text);
  t.equal(r.json.tls_certificate, null);
});

t.test('a certificate: its end and days left; a broken file: the reason', async (t) => {
  const tls = makeCert(tempDir('mta-cert-'));
  const d = await startDaemon(`[smtp.tls]\ncert = "${tls.cert}"\nkey = "${tls.key}"\n`);
  t.teardown(() => d.stop());
  const api = apiClient(d);
  const end = Date.parse(new X509Certificate(readFileSync(tls.cert)).validTo);
  const r = await api('GET', '/api/v1/status');
  t.same(r.json.tls_certificate, {
    path: tls.cert, valid_to: new Date(end).toISOString(), days_left: Math.floor((end - Date.now()) / 86_400_000), error: null,
  }, 'valid for 2 days from its making: 1 whole day left');
  writeFileSync(tls.cert, 'not a certificate\n');
  const broken = await api('GET', '/api/v1/status');
  t.equal(broken.status, 200, 'the status still answers');
  t.match(broken.json.tls_certificate, { path: tls.cert, valid_to: null, days_left: null, error: /\S/ });
});
