/**
 * admin/routes/messages — send details over the API: one item per recipient with its
 * result and last reply (and one per recipient refused at submission, `rejected`), newest
 * first, filtered by time received, sender, recipient (whole, @domain or part), Message-ID,
 * tag, batch task and result; `events=true` adds each recipient's history. The same page `mta log --json`
 * prints ({from, to, items, next_cursor}); stats/stats.ts does the work and the checks.
 */
import { z } from 'zod';
import { SEND_RESULTS, StatsService, type SendResult } from '../../stats/stats.js';
import { RECIPIENT_STATES, type RecipientState } from '../../spool/states.js';
import { defineRoute, type Route } from '../router.js';
import { isoTime, type ApiContext } from '../context.js';

const TAG = 'messages';

const results = z.enum(Object.keys(SEND_RESULTS) as [SendResult, ...SendResult[]]);
const time = z.string().max(64).describe('YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC unless a zone is given)');

const detailSchema = z.object({
  queue_id: z.string().nullable().describe('null for a recipient rejected at submission: no message was made'),
  recipient_id: z.number().int().nullable(),
  received_at: isoTime,
  sender: z.string(),
  rcpt: z.string(),
  tag: z.string().nullable(),
  message_id: z.string().nullable(),
  subject: z.string().nullable(),
  result: results,
  state: z.enum(RECIPIENT_STATES as unknown as [RecipientState, ...RecipientState[]]).nullable(),
  attempts: z.number().int(),
  last_reply: z.string().nullable(),
  updated_at: isoTime,
  events: z.array(z.object({ at: isoTime, type: z.string() }).catchall(z.unknown())).optional()
    .describe('with events=true: every event of the recipient (attempts with MX, IP and the remote reply)'),
});

export function messageRoutes(ctx: ApiContext): Route[] {
  const stats = new StatsService(ctx.store, ctx.config().timeZone);
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/messages', tag: TAG, summary: 'Send details: recipients with their result and last reply, newest first (mta log --json)',
      description: 'Default range: received in the last 24 hours; at most 31 days. Pass next_cursor back as ?cursor= for the next page.',
      query: z.strictObject({
        from: time.optional().describe('received at or after (default: to minus 24 hours)'),
        to: time.optional().describe('received at or before; a bare date means its end (default: now)'),
        sender: z.string().max(320).optional().describe('only mail from this sender: an address, @domain, or part of an address'),
        rcpt: z.string().max(320).optional().describe('only this recipient: an address, @domain (every address there), or part of an address'),
        message_id: z.string().max(998).optional().describe('only the message with this Message-ID (angle brackets optional)'),
        tag: z.string().max(256).optional().describe('only mail with this tag'),
        task_id: z.string().max(64).optional().describe('only the mail of this batch task'),
        result: results.optional().describe('only recipients with this result'),
        limit: z.coerce.number().int().min(1).max(10_000).optional().describe('items per page, 1..10000 (default 100)'),
        cursor: z.string().max(40).optional().describe('next_cursor of the previous page'),
        events: z.enum(['true', 'false']).default('false').describe('add every recipient\'s event history'),
      }),
      response: z.object({
        from: isoTime, to: isoTime,
        items: z.array(detailSchema),
        next_cursor: z.string().nullable().describe('pass as ?cursor= for the next page; null on the last page'),
      }),
      handler: async ({ query }) => stats.details({ ...query, events: query.events === 'true' }),
    }),
  ];
}
