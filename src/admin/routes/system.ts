/**
 * admin/routes/system — the daemon itself: status (what `mta status` prints, with the TLS
 * certificate's end for the console's "needs attention"), the running configuration with
 * its secrets redacted (admin/config-view.ts), the OpenAPI document, `/healthz` for load
 * balancers and systemd watchdogs, and `/metrics` for Prometheus.
 *
 * /healthz needs no token and answers 200 {"ok":true} only when the process is running
 * (not starting or draining), the spool takes a write (a small write rolled back) and
 * every SMTP listener is bound; otherwise 503 with the reasons.
 */
import { z } from 'zod';
import { RECIPIENT_STATES, type RecipientState } from '../../spool/states.js';
import { renderMetrics } from '../../metrics/metrics.js';
import { Reply, defineRoute, type Route } from '../router.js';
import { VERSION, iso, isoTime, type ApiContext } from '../context.js';
import { openApiDocument } from '../openapi.js';
import { certificateEnd } from '../../util/certificate.js';
import { configView } from '../config-view.js';

const TAG = 'system';

const countsSchema = z.object(Object.fromEntries(RECIPIENT_STATES.map((s) => [s, z.number().int()])) as Record<RecipientState, z.ZodNumber>);

const healthSchema = z.object({
  ok: z.boolean(),
  reasons: z.array(z.string()).optional().describe('what is wrong (only with ok: false)'),
});

export async function healthReasons(ctx: ApiContext): Promise<string[]> {
  const reasons: string[] = [];
  const state = ctx.state();
  if (state !== 'running') reasons.push(`daemon is ${state}`);
  try {
    await ctx.store.probeWritable();
  } catch (e) {
    reasons.push(`database does not take writes: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
  const listeners = ctx.config().smtp.listen;
  const ports = ctx.smtpPorts?.() ?? [];
  listeners.forEach((l, i) => { if (!(ports[i]! > 0)) reasons.push(`smtp listener ${l.text} is not bound`); });
  return reasons;
}

export function systemRoutes(ctx: ApiContext, routes: () => readonly Route[]): Route[] {
  let doc: Record<string, unknown> | undefined;
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/status', tag: TAG, summary: 'Daemon state, version, uptime, queue counts and delivery activity',
      response: z.object({
        state: z.string(), version: z.string(), pid: z.number().int(), hostname: z.string(), started_at: isoTime, uptime_s: z.number().int(),
        delivery: z.enum(['enabled', 'disabled']), counts: countsSchema,
        ready: z.number().int().nullable().describe('recipients in the ready set (null: delivery disabled)'),
        active_connections: z.number().int().nullable(),
        pending_restart: z.array(z.string()).describe('settings changed in the file that take effect at the next restart, e.g. "smtp.listen"'),
        tls_certificate: z.object({
          path: z.string(), valid_to: isoTime.nullable(), days_left: z.number().int().nullable().describe('negative once expired'),
          error: z.string().nullable().describe('why the file could not be read as a certificate'),
        }).nullable().describe('smtp.tls.cert as the file on disk says now; null when none is configured'),
      }),
      handler: async () => {
        const s = ctx.scheduler();
        return {
          state: ctx.state(), version: VERSION, pid: process.pid, hostname: ctx.config().hostname, started_at: iso(ctx.startedAt()),
          uptime_s: Math.floor((Date.now() - ctx.startedAt()) / 1000), delivery: s ? 'enabled' as const : 'disabled' as const,
          counts: await ctx.store.countByState(), ready: s ? s.readyCount : null, active_connections: s ? s.activeConnections : null,
          pending_restart: ctx.pendingRestart?.() ?? [],
          tls_certificate: ctx.config().smtp.tls.cert ? certificateEnd(ctx.config().smtp.tls.cert!) : null,
        };
      },
    }),
    defineRoute({
      method: 'GET', path: '/api/v1/config', tag: 'settings',
      summary: 'The running configuration as compiled (defaults filled in, durations in ms, sizes in bytes), secrets shown as "[redacted]"',
      description: 'Read-only: the configuration changes in the file, then SIGHUP or a restart (pending_restart in /api/v1/status).',
      response: z.object({ version: z.string(), source: z.string(), config: z.record(z.string(), z.unknown()) }),
      handler: async () => {
        const config = ctx.config();
        return { version: VERSION, source: config.source, config: configView(config) as Record<string, unknown> };
      },
    }),
    defineRoute({
      method: 'GET', path: '/api/v1/openapi.json', tag: TAG, summary: 'This API as an OpenAPI 3.1 document, generated from the schemas the server validates with',
      response: z.record(z.string(), z.unknown()),
      handler: async () => (doc ??= openApiDocument(routes(), VERSION)),
    }),
    defineRoute({
      method: 'GET', path: '/healthz', tag: TAG, access: 'public',
      summary: 'Liveness and readiness: 200 {"ok":true}, or 503 {"ok":false,"reasons":[...]}',
      description: 'No token needed (admin.allowed_ips still applies). Checks: the daemon is running, the spool takes a write (rolled back), every SMTP listener is bound.',
      response: healthSchema,
      handler: async () => {
        const reasons = await healthReasons(ctx);
        return reasons.length ? new Reply(503, { ok: false, reasons }) : { ok: true };
      },
    }),
    defineRoute({
      method: 'GET', path: '/metrics', tag: TAG, access: 'metrics', responseType: 'text/plain',
      summary: 'Prometheus metrics (text exposition format)',
      description: 'Needs the token like the API unless admin.metrics_public = true.',
      response: z.string(),
      handler: async () => {
        const m = await renderMetrics(ctx.store);
        return new Reply(200, m.text, {}, m.contentType);
      },
    }),
  ];
}
