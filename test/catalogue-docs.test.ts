// The README's reply tables against the catalogue (src/mail/replies.ts, src/mail/errors.ts):
// every SMTP reply the submission table shows is one the code sends, every reply the code
// sends is shown, and the error-code table lists every code with its HTTP status, retryable
// flag, submission reply and text. A difference fails naming the README row.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CATALOGUE, type ErrorEntry } from '../src/mail/errors.js';
import { INBOUND_REPLIES, LIBRARY_REPLIES, REPLIES, replyError, replyLine, type Reply } from '../src/mail/replies.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The body rows (cells trimmed) of the table whose header row is `header`. */
function tableRows(readme: string, header: string): string[][] {
  const lines = readme.split('\n');
  const at = lines.findIndex((l) => l.trim() === header);
  if (at < 0) throw new Error(`README has no table headed ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    // `\|` inside a cell is a literal bar, not a column break
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

const ALL_REPLIES: ReadonlyArray<[string, Reply]> = [...Object.entries(REPLIES), ...Object.entries(LIBRARY_REPLIES)];
const SMTP_SPAN = /`(\d{3}) (\d\.\d{1,3}\.\d{1,3})(?: ([^`]*))?`/g;

/** Whether a documented reply text fits a catalogue entry: the text, the text and a detail, or an elided prefix (`...`). */
function fits(doc: string | undefined, r: Reply): boolean {
  if (doc === undefined || doc === '...') return true;
  const withDetail = `${r.text}${r.sep ?? ': '}`;
  if (doc.endsWith('...')) {
    const shown = doc.slice(0, -3).trimEnd();
    return r.text.startsWith(shown) || withDetail.trimEnd() === shown || shown.startsWith(withDetail);
  }
  return doc === r.text || doc.startsWith(`${r.text} `) || doc.startsWith(withDetail);
}

/** Problems of the submission table ("| situation | reply |"), each naming its row or reply. */
export function replyTableProblems(readme: string): string[] {
  const problems: string[] = [];
  const shown = new Set<string>();
  for (const [situation = '', reply = ''] of tableRows(readme, '| situation | reply |')) {
    for (const m of reply.matchAll(SMTP_SPAN)) {
      const [span, code, enhanced, text] = m;
      const matching = ALL_REPLIES.filter(([, r]) => String(r.code) === code && r.enhanced === enhanced && fits(text, r));
      if (matching.length === 0) problems.push(`row "${situation}": ${span} is no reply of src/mail/replies.ts`);
      for (const [name] of matching) shown.add(name);
    }
  }
  for (const [name, r] of ALL_REPLIES) {
    if (!shown.has(name)) problems.push(`reply ${name} (${r.code} ${r.enhanced} ${r.text}) is in no row of the README's submission table`);
  }
  return problems;
}

/** Problems of the error-code table, each naming its row or code. */
export function errorTableProblems(readme: string): string[] {
  const problems: string[] = [];
  const rows = tableRows(readme, '| code | HTTP | retryable | submission reply | meaning |');
  const documented = new Set<string>();
  for (const [codeCell = '', http = '', retryable = '', smtp = '', meaning = ''] of rows) {
    const code = codeCell.replace(/`/g, '');
    documented.add(code);
    const e: ErrorEntry | undefined = (CATALOGUE as Record<string, ErrorEntry>)[code];
    if (!e) { problems.push(`row ${code}: no such code in src/mail/errors.ts`); continue; }
    const reply = e.smtp ? REPLIES[e.smtp] : undefined;
    const want = [String(e.http), e.retryable ? 'yes' : 'no', reply ? `\`${reply.code} ${reply.enhanced}\`` : '—', e.text];
    const got = [http, retryable, smtp, meaning];
    const names = ['HTTP', 'retryable', 'submission reply', 'meaning'];
    want.forEach((w, i) => { if (got[i] !== w) problems.push(`row ${code}: ${names[i]} is "${got[i]}", the catalogue says "${w}"`); });
  }
  for (const code of Object.keys(CATALOGUE)) if (!documented.has(code)) problems.push(`code ${code} has no row in the README's error-code table`);
  return problems;
}

t.test('the README submission table shows exactly the replies of the catalogue', async (t) => {
  t.same(replyTableProblems(README), []);
});

t.test('the README error-code table lists every code as the catalogue has it', async (t) => {
  t.same(errorTableProblems(README), []);
});

t.test('a README row that differs from the catalogue is named', async (t) => {
  const wrongText = README.replace('`551 5.7.1 Main account unavailable`', '`551 5.7.1 Main account disabled`');
  t.same(replyTableProblems(wrongText), [
    'row "sender disabled": `551 5.7.1 Main account disabled` is no reply of src/mail/replies.ts',
    'reply SENDER_DISABLED (551 5.7.1 Main account unavailable) is in no row of the README\'s submission table',
  ]);
  const dropped = README.replace(/^\| the daemon is stopping \|.*\n/m, '');
  t.same(replyTableProblems(dropped), ['reply SHUTTING_DOWN (421 4.3.2 Service shutting down, try again later) is in no row of the README\'s submission table']);

  const wrongStatus = README.replace('| `MTA_ERR_QUOTA` | 429 |', '| `MTA_ERR_QUOTA` | 422 |');
  t.same(errorTableProblems(wrongStatus), ['row MTA_ERR_QUOTA: HTTP is "422", the catalogue says "429"']);
  const notRetryable = README.replace(/\| `MTA_ERR_SPOOL_BUSY` \| 500 \| yes \|/, '| `MTA_ERR_SPOOL_BUSY` | 500 | no |');
  t.same(errorTableProblems(notRetryable), ['row MTA_ERR_SPOOL_BUSY: retryable is "no", the catalogue says "yes"']);
  const missing = README.replace(/^\| `MTA_ERR_CONFIRM` \|.*\n/m, '');
  t.same(errorTableProblems(missing), ['code MTA_ERR_CONFIRM has no row in the README\'s error-code table']);
});

t.test('the inbound listener\'s replies keep the wire text they had before the catalogue held them', async (t) => {
  const wire = (e: Error & { responseCode: number }): string => `${e.responseCode} ${e.message}`;
  t.equal(wire(replyError(INBOUND_REPLIES.RELAY_DENIED)), '550 5.7.1 relay not permitted');
  t.equal(wire(replyError(INBOUND_REPLIES.TOO_MANY_RCPTS)), '452 4.5.3 Too many recipients');
  t.equal(wire(replyError(INBOUND_REPLIES.TOO_BIG, '(max 1048576 bytes)')), '552 5.3.4 Message too big for this server (max 1048576 bytes)');
  t.equal(wire(replyError(INBOUND_REPLIES.LOCAL_ERROR)), '451 4.3.0 Local error in processing, try again later');
  t.equal(wire(replyError(INBOUND_REPLIES.SHUTTING_DOWN)), '421 4.3.2 Service shutting down, try again later');
  t.equal(replyLine(INBOUND_REPLIES.RECORDED), '2.0.0 Ok: recorded');
});
