/**
 * admin/routes/domains — sending domains over the API: list, show, add (with the records
 * to publish), remove, the records with their last check status and as zone lines, a
 * check run now, the last check results, and DKIM rotation. The work is done by
 * accounts/domains.ts and accounts/verification.ts, as for `mta domain ...`.
 */
import { z } from 'zod';
import { Domains, zoneLines, type DomainSummary } from '../../accounts/domains.js';
import { DomainVerifier, checkContext } from '../../accounts/verification.js';
import { DnsClient } from '../../dns/client.js';
import type { DomainCheckRecord, DomainRecord } from '../../spool/types-domains.js';
import { defineRoute, type Route } from '../router.js';
import { MtaError } from '../../util/errors.js';
import { deletedSchema, iso, isoTime, type ApiContext } from '../context.js';
import { pageQuery, pageSchema, pageSorted, decodeCursor } from '../pagination.js';
import { quotaReport, quotaReportSchema, standaloneQuota } from '../../quota/report.js';

const TAG = 'domains';
const P = '/api/v1/domains';

const nameParam = z.strictObject({ name: z.string().min(1).max(253).describe('the domain name') });
const algorithm = z.enum(['rsa', 'ed25519']);
// Explicit A-Z rather than the i flag: JSON Schema patterns carry no flags.
const selector = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, { message: 'must be a DNS label' });

const domainSchema = z.object({
  name: z.string(),
  status: z.string().describe('verified when ownership, SPF and DKIM pass'),
  dkim_selector: z.string(),
  dkim_algorithm: algorithm,
  dkim_public_key: z.string(),
  ownership_token: z.string(),
  created_at: isoTime,
  checked_at: isoTime.nullable(),
  next_dkim_selector: z.string().nullable().describe('a rotated key waiting for its DNS record'),
  failing: z.array(z.string()).describe('checks that did not pass at the last check, e.g. "spf missing"'),
});

const recordSchema = z.object({
  type: z.enum(['TXT', 'MX', 'CNAME']), host: z.string(), value: z.string(), purpose: z.string(),
  status: z.string().describe('status of the covering check at the last check, or "unchecked"'), note: z.string().optional(),
});
const recordsSchema = z.object({ records: z.array(recordSchema), zone: z.array(z.string()).describe('BIND zone-file lines') });

const checkSchema = z.object({
  name: z.string(), status: z.enum(['ok', 'missing', 'mismatch', 'error', 'skipped']),
  expected: z.string().nullable(), found: z.string().nullable(), detail: z.string().nullable(), checked_at: isoTime,
});

function domainView(d: DomainRecord, failing: string[]): z.input<typeof domainSchema> {
  return {
    name: d.name, status: d.status, dkim_selector: d.dkimSelector, dkim_algorithm: d.dkimAlgorithm, dkim_public_key: d.dkimPublicKey,
    ownership_token: d.ownershipToken, created_at: iso(d.createdAt), checked_at: iso(d.checkedAt), next_dkim_selector: d.nextDkim?.selector ?? null, failing,
  };
}

/** One check as the API and `mta domain check|show --json` print it. */
export function checkView(c: DomainCheckRecord): z.input<typeof checkSchema> {
  return { name: c.name, status: c.status, expected: c.expected, found: c.found, detail: c.detail, checked_at: iso(c.checkedAt) };
}

function failingOf(checks: readonly DomainCheckRecord[]): string[] {
  return checks.filter((x) => x.status !== 'ok' && x.status !== 'skipped').map((x) => `${x.name} ${x.status}`);
}

export function domainRoutes(ctx: ApiContext): Route[] {
  const domains = new Domains(ctx.store);
  /** The daemon's DNS client, or a short-lived one (the CLI's way) when there is none. */
  const withDns = async <T>(fn: (dns: DnsClient) => Promise<T>): Promise<T> => {
    const shared = ctx.dns?.();
    if (shared) return fn(shared);
    const dns = new DnsClient({ servers: ctx.config().dns.servers });
    try { return await fn(dns); } finally { dns.close(); }
  };
  return [
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List sending domains with their status and failing checks',
      query: z.strictObject({ ...pageQuery }),
      response: pageSchema(domainSchema),
      handler: async ({ query }) => {
        const after = decodeCursor(query.cursor, z.string());
        return pageSorted(await domains.summaries(), query.limit, after, (s: DomainSummary) => s.domain.name, (s) => domainView(s.domain, s.failing));
      },
    }),
    defineRoute({
      method: 'POST', path: P, tag: TAG, status: 201, summary: 'Add a sending domain: new DKIM key pair and ownership token; returns the records to publish',
      body: z.strictObject({ name: z.string().min(1).max(253), dkim_algorithm: algorithm.optional(), selector: selector.optional() }),
      response: domainSchema.extend(recordsSchema.shape),
      handler: async ({ body }) => {
        const config = ctx.config();
        const d = await domains.add(body.name, { algorithm: body.dkim_algorithm ?? config.domains.dkimAlgorithm, selector: body.selector ?? config.domains.dkimSelector });
        // Offline, as `mta domain add`: adding must work before the zone exists or when DNS is down.
        const r = await withDns((dns) => domains.records(d.name, checkContext(config, dns), { offline: true }));
        return { ...domainView(d, []), records: r.records, zone: r.zone };
      },
    }),
    defineRoute({
      method: 'GET', path: `${P}/:name`, tag: TAG, summary: 'Show one domain',
      params: nameParam, response: domainSchema,
      handler: async ({ params }) => {
        const d = await domains.get(params.name);
        return domainView(d, failingOf(await ctx.store.getDomainChecks(d.name)));
      },
    }),
    defineRoute({
      method: 'DELETE', path: `${P}/:name`, tag: TAG, summary: 'Remove a domain (its sender addresses must be removed first: 409)',
      params: nameParam, response: deletedSchema,
      handler: async ({ params }) => { await domains.remove(params.name); return { deleted: true as const }; },
    }),
    defineRoute({
      method: 'GET', path: `${P}/:name/records`, tag: TAG,
      summary: 'The DNS records to publish, each with its status from the last check, and as BIND zone-file lines',
      description: 'Unless offline=true, DNS is read first so the SPF proposal merges with an existing SPF record and a valid DMARC record is kept.',
      params: nameParam, query: z.strictObject({ offline: z.enum(['true', 'false']).default('false').describe('do not query DNS') }),
      response: recordsSchema,
      handler: async ({ params, query }) => {
        const r = await withDns((dns) => domains.records(params.name, checkContext(ctx.config(), dns), { offline: query.offline === 'true' }));
        return { records: r.records, zone: r.zone };
      },
    }),
    defineRoute({
      method: 'POST', path: `${P}/:name/check`, tag: TAG, summary: 'Query DNS now, store the results and report every check',
      params: nameParam,
      response: z.object({
        domain: z.string(), status: z.string(), previous: z.string(), checks: z.array(checkSchema), problems: z.array(z.string()),
        rotated_from: z.string().nullable().describe('the old DKIM selector when this check completed a rotation'),
      }),
      handler: async ({ params }) => {
        const d = await domains.get(params.name);
        const r = await withDns((dns) => new DomainVerifier(ctx.config(), ctx.store, dns, ctx.log).check(d));
        return { domain: r.domain, status: r.status, previous: r.previous, checks: r.checks.map(checkView), problems: r.problems, rotated_from: r.rotatedFrom ?? null };
      },
    }),
    defineRoute({
      method: 'GET', path: `${P}/:name/checks`, tag: TAG, summary: 'The results of the last check',
      params: nameParam,
      response: z.object({ domain: z.string(), status: z.string(), checked_at: isoTime.nullable(), checks: z.array(checkSchema) }),
      handler: async ({ params }) => {
        const d = await domains.get(params.name);
        return { domain: d.name, status: d.status, checked_at: iso(d.checkedAt), checks: (await ctx.store.getDomainChecks(d.name)).map(checkView) };
      },
    }),
    defineRoute({
      method: 'POST', path: `${P}/:name/dkim-rotate`, tag: TAG,
      summary: 'Make a new DKIM key under a new selector; it replaces the current key once its record is visible in DNS',
      params: nameParam, body: z.strictObject({ algorithm: algorithm.optional(), selector: selector.optional() }),
      response: z.object({
        domain: z.string(), current_selector: z.string(), next_selector: z.string(),
        record: z.object({ type: z.literal('TXT'), host: z.string(), value: z.string() }), zone: z.array(z.string()),
      }),
      handler: async ({ params, body }) => {
        const r = await domains.rotateDkim(params.name, { algorithm: body.algorithm, selector: body.selector });
        return { domain: r.domain, current_selector: r.currentSelector, next_selector: r.nextSelector, record: r.record, zone: zoneLines([r.record]) };
      },
    }),
    // quotas and reputation (src/quota)
    defineRoute({
      method: 'GET', path: `${P}/:name/quota`, tag: TAG,
      summary: 'Quota limits and usage today and this month; with reputation on, the level, cap and the figures behind the next change',
      params: nameParam, response: quotaReportSchema,
      handler: async ({ params }) => {
        const d = await domains.get(params.name);
        return quotaReport(ctx.quota?.() ?? standaloneQuota(ctx.config(), ctx.store, ctx.log), d.name, Date.now());
      },
    }),
    defineRoute({
      method: 'PUT', path: `${P}/:name/reputation`, tag: TAG,
      summary: 'Set the reputation level (0-20); ends a ban. The only way out of level 0',
      params: nameParam, body: z.strictObject({ level: z.number().int().min(0).max(20), reason: z.string().max(200).optional() }),
      response: quotaReportSchema,
      handler: async ({ params, body }) => {
        const d = await domains.get(params.name);
        const quota = ctx.quota?.() ?? standaloneQuota(ctx.config(), ctx.store, ctx.log);
        if (!quota.reputation?.enabled()) throw new MtaError('MTA_ERR_STATE', 'reputation is off ([reputation] enabled = false)');
        await quota.reputation.setLevel(d.name, body.level, Date.now(), body.reason ?? 'set by an operator');
        return quotaReport(quota, d.name, Date.now());
      },
    }),
  ];
}
