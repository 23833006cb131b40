// The real corpus (/work/shared/data/bounces: 629 DSNs and feedback reports from the public
// sisimai set, BSD licence) through the inbound parsers: nothing throws; every feedback
// report parses with its Feedback-Type and maps to our message once it carries our
// reference header; every bounce is either classified (a reply and its category) or
// ignored for a stated reason. The counts, and every file not classified with its reason,
// are printed (t.comment): that list is what the parsers still cannot read.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBounce } from '../src/inbound/dsn-parse.js';
import { parseFeedback } from '../src/feedback/arf.js';
import { referenceToken } from '../src/feedback/reference.js';
import { targetOf } from '../src/inbound/complaint.js';
import { classifyReply } from '../src/delivery/classify.js';
import { newQueueId } from '../src/util/ids.js';

const DIR = process.env['MTA_BOUNCE_CORPUS'] ?? '/work/shared/data/bounces/eml';
const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.eml')).sort() : [];

/** Reasons a message is rightly not a bounce: still being retried, or not from a mail system. */
const NOT_A_BOUNCE = /delay warning|temporary failure report|auto-reply|action: (delayed|deliverable|relayed|expanded)/;

t.test('every feedback report parses and maps by the reference header', { skip: files.length === 0 ? `no corpus at ${DIR}` : false }, async (t) => {
  const secret = Buffer.alloc(32, 5);
  const arfs = files.filter((f) => f.startsWith('arf-'));
  const types = new Map<string, number>();
  for (const f of arfs) {
    const raw = readFileSync(join(DIR, f), 'latin1');
    const r = await parseFeedback(Buffer.from(raw, 'latin1'));
    if (f === 'arf-26.eml') {
      // Not a feedback report: Apple Mail's unsubscribe request (X-Apple-Unsubscribe), a plain message.
      t.match(r, { kind: 'ignored', reason: /no message\/feedback-report part/ }, `${f}: not a report`);
      continue;
    }
    if (r.kind !== 'report') { t.fail(`${f}: ${r.reason}`); continue; }
    t.match(r.report.feedbackType, /^[a-z][a-z0-9-]*$/, `${f}: ${r.report.feedbackType} (${r.report.format})`);
    types.set(r.report.feedbackType, (types.get(r.report.feedbackType) ?? 0) + 1);
    // The same report about a message of ours: its returned headers carry our reference.
    const id = newQueueId();
    const withRef = raw.replace(/^(Content-Type:\s*(message\/rfc822|text\/rfc822-headers?)[^]*?\n\n)/im, `$1X-Mta-Ref: ${referenceToken(secret, id, 42)}\n`);
    const again = await parseFeedback(Buffer.from(withRef, 'latin1'));
    t.same(again.kind === 'report' ? targetOf(secret, again.report, undefined) : again, { queueId: id, recipientId: 42, by: 'reference' }, `${f}: mapped by the reference`);
  }
  t.comment(`feedback reports: ${arfs.length - 1} parsed (${[...types].map(([k, n]) => `${k} ${n}`).join(', ')}); arf-26 is not one`);
});

t.test('every bounce is classified or ignored for a stated reason', { skip: files.length === 0 ? `no corpus at ${DIR}` : false }, async (t) => {
  const byFormat = new Map<string, number>();
  const byCategory = new Map<string, number>();
  const ignored = new Map<string, string[]>();
  let notBounces = 0;
  for (const f of files.filter((x) => !x.startsWith('arf-'))) {
    const msg = readFileSync(join(DIR, f));
    if ((await parseFeedback(msg)).kind === 'report') { byFormat.set('feedback', (byFormat.get('feedback') ?? 0) + 1); continue; }
    const r = await parseBounce(msg, '');
    if (r.kind === 'ignored') {
      if (NOT_A_BOUNCE.test(r.reason)) notBounces++;
      ignored.set(r.reason, [...(ignored.get(r.reason) ?? []), f]);
      continue;
    }
    byFormat.set(r.format, (byFormat.get(r.format) ?? 0) + 1);
    if (r.recipients.length === 0) t.fail(`${f}: a bounce without a recipient`);
    for (const rc of r.recipients) {
      const cls = classifyReply(rc.reply);
      if (!/^[245]\d\d\b/.test(rc.reply) || !cls.category) t.fail(`${f}: reply ${JSON.stringify(rc.reply)} not classified`);
      byCategory.set(cls.category, (byCategory.get(cls.category) ?? 0) + 1);
    }
  }
  const classified = [...byFormat].filter(([k]) => k !== 'feedback').reduce((n, [, v]) => n + v, 0);
  t.ok(classified > 0, 'bounces were classified');
  t.comment(`bounces classified: ${classified} (${[...byFormat].map(([k, n]) => `${k} ${n}`).join(', ')}); recipients by category: ${[...byCategory].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.comment(`rightly not bounces (delays, temporary failures, auto-replies): ${notBounces}`);
  for (const [reason, list] of ignored) t.comment(`not classified, ${reason}: ${list.length}: ${list.join(' ')}`);
});
