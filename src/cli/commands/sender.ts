/**
 * mta sender add|list|passwd|disable|enable|remove|reply-to — sender addresses, their SMTP
 * passwords and reply-to addresses, through accounts/senders.ts (as for the admin API).
 * A reply-to is set, resent and cleared through the running daemon's admin API, so its
 * verification mail leaves at once (accounts/reply-to.ts); with no daemon, on the spool,
 * and the mail leaves when the daemon starts.
 */
import { Command, Option } from 'commander';
import { daemonOrSpool, withContext, type CliContext } from '../context.js';
import { Senders } from '../../accounts/senders.js';
import { ReplyTos, replyToView } from '../../accounts/reply-to.js';
import { print, printJson, printList, readStdin } from '../output.js';
import type { SenderRecord } from '../../spool/types-senders.js';
import { iso } from '../../admin/context.js';
import { senderView } from '../../admin/routes/senders.js';
import type { AdminReply } from '../admin-client.js';
import { ask, canAsk } from '../prompt.js';
import { MtaError } from '../../util/errors.js';
import { loadSecret } from '../../util/secret.js';

/** A new password typed twice without echo; a mismatch changes nothing. */
async function askPassword(): Promise<string> {
  const first = await ask('New SMTP password: ', true);
  const again = await ask('Type it again: ', true);
  if (first !== again) throw new MtaError('MTA_ERR_INVALID', 'the two passwords differ; nothing changed', 'password');
  return first;
}

function view(s: SenderRecord): Record<string, unknown> {
  const r = replyToView(s.replyTo, Date.now());
  return {
    address: s.address, type: s.type, reply_to: r.address, reply_to_state: r.state, reply_to_expires: iso(r.expiresAt),
    smtp: s.passwordHash ? 'enabled' : 'no password', disabled: s.disabled, created: iso(s.createdAt),
  };
}

function replyTos({ config, store }: CliContext): ReplyTos {
  return new ReplyTos({ store, config: () => config, secret: loadSecret(config.dataDir) });
}

/** A reply-to change through the daemon (or the spool); the API's sender object. */
function replyToCall(c: Command, method: 'PUT' | 'POST' | 'DELETE', sender: string, tail: string, body: unknown, offline: (r: ReplyTos) => Promise<SenderRecord>): Promise<AdminReply> {
  const path = `/api/v1/senders/${encodeURIComponent(sender)}/reply-to${tail}`;
  return daemonOrSpool(c, method, path, body, async (ctx) => senderView(await offline(replyTos(ctx)), Date.now()));
}

/** One line on what the sender's reply-to now is. */
function replyToLine(v: AdminReply): string {
  switch (v['reply_to_state']) {
    case 'pending': return `reply-to ${String(v['reply_to'])} of ${String(v['address'])}: pending; a verification link was mailed to it, valid until ${String(v['reply_to_expires_at'])} (used in Reply-To only once confirmed)`;
    case 'verified': return `reply-to ${String(v['reply_to'])} of ${String(v['address'])}: verified`;
    case 'expired': return `reply-to ${String(v['reply_to'])} of ${String(v['address'])}: its link ran out at ${String(v['reply_to_expires_at'])}; mta sender reply-to resend ${String(v['address'])}`;
    default: return `${String(v['address'])} has no reply-to address`;
  }
}

function replyToCommand(): Command {
  const cmd = new Command('reply-to').description('the reply-to address: verified by a mailed link before it is ever used in Reply-To');
  const done = (o: { json?: boolean }) => (v: AdminReply): void => { if (o.json) printJson(v); else print(replyToLine(v)); };
  cmd.command('set <sender> <address>')
    .description('store ADDRESS as the pending reply-to of SENDER and mail it a verification link (public.base_url; valid reply_to.link_validity, 10 minutes, once); '
      + 'at most reply_to.max_per_sender / max_per_address mails an hour, then refused (MTA_ERR_REPLY_TO_RATE) with the wait')
    .option('--json', 'JSON output')
    .action(async (sender: string, address: string, o: { json?: boolean }, c: Command) => {
      done(o)(await replyToCall(c, 'PUT', sender, '', { address }, (r) => r.set(sender, address)));
    });
  cmd.command('resend <sender>').description('mail a new verification link for the pending or expired reply-to (the earlier link stops working)')
    .option('--json', 'JSON output')
    .action(async (sender: string, o: { json?: boolean }, c: Command) => {
      done(o)(await replyToCall(c, 'POST', sender, '/resend', undefined, (r) => r.resend(sender)));
    });
  cmd.command('clear <sender>').description('remove the reply-to address (a link still out stops working)')
    .option('--json', 'JSON output')
    .action(async (sender: string, o: { json?: boolean }, c: Command) => {
      done(o)(await replyToCall(c, 'DELETE', sender, '', undefined, (r) => r.clear(sender)));
    });
  return cmd;
}

export function senderCommand(): Command {
  const cmd = new Command('sender').description('sender addresses: type, reply-to and SMTP password');
  cmd.command('add <address>')
    .description('add a sender address on an existing domain')
    .addOption(new Option('--type <type>', 'trigger (transactional, sent first) or batch (bulk)').choices(['trigger', 'batch']).default('trigger'))
    .option('--reply-to <address>', 'reply-to address: mailed a verification link, as "mta sender reply-to set" (needs public.base_url)')
    .option('--password-stdin', 'read the SMTP password from standard input (enables SMTP submission)')
    .option('--json', 'JSON output')
    .action(async (address: string, o: { type: 'trigger' | 'batch'; replyTo?: string; passwordStdin?: boolean; json?: boolean }, c: Command) => {
      const password = o.passwordStdin ? await readStdin() : undefined;
      const s = await withContext(c, async (ctx) => {
        if (o.replyTo !== undefined) replyTos(ctx).precheck(o.replyTo);
        return new Senders(ctx.store).add({ address, type: o.type, password });
      });
      let reply: AdminReply | undefined;
      if (o.replyTo !== undefined) {
        try {
          reply = await replyToCall(c, 'PUT', s.address, '', { address: o.replyTo }, (r) => r.set(s.address, o.replyTo!));
        } catch (e) {
          // All or nothing: no sender without the reply-to it was asked with.
          await withContext(c, ({ store }) => new Senders(store).remove(s.address));
          throw e;
        }
      }
      if (o.json) return printJson(reply ? { ...view(s), reply_to: reply['reply_to'], reply_to_state: reply['reply_to_state'], reply_to_expires: reply['reply_to_expires_at'] } : view(s));
      print(`added ${s.address} (${s.type}${s.passwordHash ? ', SMTP enabled' : ', no SMTP password: set one with "mta sender passwd"'})`);
      if (reply) print(replyToLine(reply));
    });
  cmd.command('list').description('list sender addresses with their reply-to and its state (none, pending, expired, verified)')
    .option('--domain <domain>', 'only this domain').option('--json', 'JSON output')
    .action(async (o: { domain?: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const list = await new Senders(store).list(o.domain);
      printList(list.map(view), ['address', 'type', 'reply_to', 'reply_to_state', 'smtp', 'created'], o.json, 'no sender addresses');
    }));
  cmd.command('passwd <address>').description('set the SMTP password: typed twice on a terminal (not shown), else read from standard input')
    .option('--password-stdin', 'read the password from standard input (for scripts; also what happens without a terminal)')
    .action(async (address: string, o: { passwordStdin?: boolean }, c: Command) => {
      const password = o.passwordStdin || !canAsk() ? await readStdin() : await askPassword();
      await withContext(c, async ({ store }) => {
        await new Senders(store).setPassword(address, password);
        print(`password set for ${address}`);
      });
    });
  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    cmd.command(`${name} <address>`).description(disabled ? 'disable a sender: SMTP and the send API refuse its mail with 551 until enabled' : 'enable a disabled sender')
      .option('--json', 'JSON output')
      .action(async (address: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
        const s = await new Senders(store).setDisabled(address, disabled);
        if (o.json) return printJson(view(s));
        print(`${disabled ? 'disabled' : 'enabled'} ${s.address}`);
      }));
  }
  cmd.command('remove <address>').description('remove a sender address')
    .action(async (address: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Senders(store).remove(address);
      print(`removed ${address}`);
    }));
  cmd.addCommand(replyToCommand());
  return cmd;
}
