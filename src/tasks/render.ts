/**
 * tasks/render — one batch task member becomes one message with one recipient.
 *
 *   kind 'template': the template snapshot filled with the member's variables by the
 *                    template renderer's rules (HTML-escaped in HTML, raw in subject and
 *                    text) and composed by tasks/mime.ts
 *   kind 'alias':    the message sent to the list's alias, personalised per member
 *                    (lists/personalise.ts)
 *
 * Every copy gets its own Message-ID (webhooks report it per recipient), the sender's
 * verified Reply-To, and with unsubscribe on the List-Unsubscribe headers (RFC 8058) and
 * a footer link. Address type `random` makes the envelope MAIL FROM a VERP address
 * sealed with this message's queue id, so an asynchronous bounce names the member.
 *
 * Must never: render a variable that is not the member's own, or reuse a queue id.
 */
import type { MessageStore } from '../spool/types-queue.js';
import type { ListMember } from '../spool/types-lists.js';
import type { SenderRecord } from '../spool/types-senders.js';
import type { TaskMessage, TaskRecord } from '../spool/types-tasks.js';
import { fillTemplate } from '../templates/templates.js';
import { composeTaskMime } from './mime.js';
import { fillPlaceholders, personalise } from '../lists/personalise.js';
import { verpAddress } from '../mail/verp.js';
import { footerHtml, footerText, unsubscribeLinks } from '../public/unsubscribe-links.js';
import { messageIdFor } from '../intake/headers.js';
import { newQueueId, type QueueId } from '../util/ids.js';
import { MtaError } from '../util/errors.js';
import { checkDisplayName } from '../intake/identity.js';
import { usableReplyTo } from '../accounts/reply-to.js';

export interface RenderEnv {
  hostname: string;
  store: Pick<MessageStore, 'readBody'>;
  /** the server's secret (util/secret.ts), for VERP addresses and unsubscribe tokens */
  secret: () => Buffer;
  baseUrl: string | undefined;
  bounceSubdomain: string;
  /** `[templates] max_rendered_size` (default DEFAULT_MAX_RENDERED) */
  maxRenderedSize?: number;
}

/** What stays the same for every member of one task while it expands. */
export interface TaskFrame {
  task: TaskRecord;
  sender: SenderRecord;
  /** the list's variable names: a member without a value gets '' (never a raw `{Name}`) */
  columns: readonly string[];
  /** kind 'alias': the source message's subject */
  sourceSubject: string | null;
}

/** The member's variables, '' for a column it lacks; null-prototype, since list columns are named by imported files. */
export function memberVars(frame: TaskFrame, m: ListMember): Record<string, string> {
  const vars = Object.create(null) as Record<string, string>;
  for (const c of frame.columns) vars[c] = '';
  for (const [k, v] of Object.entries(m.variables)) vars[k] = v;
  vars['EAddr'] = m.address;
  return vars;
}

export async function renderMember(env: RenderEnv, frame: TaskFrame, m: ListMember, now: number): Promise<TaskMessage> {
  const { task, sender } = frame;
  const id = newQueueId(now);
  const vars = memberVars(frame, m);
  const unsub = task.unsubscribe ? unsubscribeFor(env, sender.domain, m.address, id) : undefined;
  const messageId = messageIdFor(id, env.hostname);
  // Only a verified reply-to (accounts/reply-to.ts); a pending one leaves Reply-To out.
  const replyTo = task.kind === 'template' ? usableReplyTo(sender) : undefined;
  const extra: Record<string, string> = {
    ...(replyTo ? { 'Reply-To': replyTo } : {}),
    ...(unsub?.headers ?? {}),
    // Delivery rewrites each copy's links and adds the pixel (src/tracking).
    ...(task.tracking ? { 'X-Mta-Track': 'opens, clicks' } : {}),
  };
  let body: Buffer;
  let subject: string | null;
  if (task.kind === 'template') {
    const c = task.content;
    if (!c) throw new MtaError('MTA_ERR_INTERNAL', `task ${task.id} has no template content`);
    // Checked at creation too; this covers tasks created before the rule (the task pauses with the reason).
    checkDisplayName(c.fromName, 'from_name', sender.address, 'MTA_ERR_TASK');
    // The template renderer's own rules (what `template render` shows); a placeholder left over pauses the task.
    const filled = fillTemplate(c, vars, `task ${task.id}`, env.maxRenderedSize);
    subject = filled.subject;
    let { html, text } = filled;
    if (unsub) { html = withHtmlFooter(html, footerHtml(unsub.url)); text = `${text.replace(/\s+$/, '')}\n\n${footerText(unsub.url)}\n`; }
    body = composeTaskMime({
      from: { name: c.fromName, address: sender.address }, to: m.address, subject, text, html, messageId, date: new Date(now), headers: extra,
    });
  } else {
    if (!task.sourceId) throw new MtaError('MTA_ERR_INTERNAL', `alias task ${task.id} has no source message`);
    const parts: Buffer[] = [];
    for await (const c of personalise(env.store.readBody(task.sourceId), vars)) parts.push(c as Buffer);
    subject = frame.sourceSubject === null ? null : fillPlaceholders(frame.sourceSubject, vars).text;
    body = editHeaders(Buffer.concat(parts), ['message-id', ...(task.tracking ? ['x-mta-track'] : [])], { 'Message-ID': messageId, ...extra });
  }
  return {
    id, receivedAt: now, sender: task.sender, authUser: task.sender, clientIp: null, helo: null, messageId, subject,
    size: body.length, lane: 'batch', tag: task.tag, chunks: [body], recipients: [m.address], taskId: task.id,
    returnPath: task.addressType === 'random' ? verpAddress(env.secret(), id, sender.domain, env.bounceSubdomain) : null,
  };
}

function unsubscribeFor(env: RenderEnv, senderDomain: string, address: string, queueId: QueueId): { url: string; headers: Record<string, string> } {
  if (!env.baseUrl) throw new MtaError('MTA_ERR_TASK', 'unsubscribe links need [public] base_url');
  return unsubscribeLinks(env.secret(), env.baseUrl, { address, senderDomain, queueId, mailtoDomain: `${env.bounceSubdomain}.${senderDomain}` });
}

/** The footer goes before `</body>` when there is one, else at the end. */
export function withHtmlFooter(html: string, footer: string): string {
  const i = html.search(/<\/body\s*>(?![\s\S]*<\/body\s*>)/i);
  return i < 0 ? `${html}\n${footer}` : `${html.slice(0, i)}${footer}\n${html.slice(i)}`;
}

/**
 * The message with the named header fields (and their folded lines) taken out of its
 * top-level header block and `add` put at its start. CRLF message in, CRLF message out.
 */
export function editHeaders(message: Buffer, remove: readonly string[], add: Record<string, string>): Buffer {
  let end = message.indexOf('\r\n\r\n');
  end = end < 0 ? message.length : end + 2;
  const head = message.subarray(0, end).toString('latin1');
  const drop = new Set(remove.map((n) => n.toLowerCase()));
  const kept: string[] = [];
  let skipping = false;
  for (const line of head.split('\r\n')) {
    if (line === '') continue;
    if (/^[ \t]/.test(line)) { if (!skipping) kept.push(line); continue; }
    skipping = drop.has(line.slice(0, line.indexOf(':')).trim().toLowerCase());
    if (!skipping) kept.push(line);
  }
  const added = Object.entries(add).map(([k, v]) => `${k}: ${v.replace(/[\r\n]+/g, ' ')}`);
  const block = Buffer.from([...added, ...kept].join('\r\n') + '\r\n', 'latin1');
  return Buffer.concat([block, message.subarray(end)]);
}
