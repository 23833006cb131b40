/**
 * mta sender add|list|passwd|disable|enable|remove — sender addresses and their SMTP
 * passwords, through accounts/senders.ts (as for the admin API).
 */
import { Command, Option } from 'commander';
import { withContext } from '../context.js';
import { Senders } from '../../accounts/senders.js';
import { print, printJson, printList, readStdin } from '../output.js';
import type { SenderRecord } from '../../spool/types-senders.js';
import { iso } from '../../admin/context.js';
import { ask, canAsk } from '../prompt.js';
import { MtaError } from '../../util/errors.js';

/** A new password typed twice without echo; a mismatch changes nothing. */
async function askPassword(): Promise<string> {
  const first = await ask('New SMTP password: ', true);
  const again = await ask('Type it again: ', true);
  if (first !== again) throw new MtaError('MTA_ERR_INVALID', 'the two passwords differ; nothing changed', 'password');
  return first;
}

function view(s: SenderRecord): Record<string, unknown> {
  return { address: s.address, type: s.type, reply_to: s.replyTo, smtp: s.passwordHash ? 'enabled' : 'no password', disabled: s.disabled, created: iso(s.createdAt) };
}

export function senderCommand(): Command {
  const cmd = new Command('sender').description('sender addresses: type, reply-to and SMTP password');
  cmd.command('add <address>')
    .description('add a sender address on an existing domain')
    .addOption(new Option('--type <type>', 'trigger (transactional, sent first) or batch (bulk)').choices(['trigger', 'batch']).default('trigger'))
    .option('--reply-to <address>', 'Reply-To address')
    .option('--password-stdin', 'read the SMTP password from standard input (enables SMTP submission)')
    .option('--json', 'JSON output')
    .action(async (address: string, o: { type: 'trigger' | 'batch'; replyTo?: string; passwordStdin?: boolean; json?: boolean }, c: Command) => {
      const password = o.passwordStdin ? await readStdin() : undefined;
      await withContext(c, async ({ store }) => {
        const s = await new Senders(store).add({ address, type: o.type, replyTo: o.replyTo, password });
        if (o.json) return printJson(view(s));
        print(`added ${s.address} (${s.type}${s.passwordHash ? ', SMTP enabled' : ', no SMTP password: set one with "mta sender passwd"'})`);
      });
    });
  cmd.command('list').description('list sender addresses').option('--domain <domain>', 'only this domain').option('--json', 'JSON output')
    .action(async (o: { domain?: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const list = await new Senders(store).list(o.domain);
      printList(list.map(view), ['address', 'type', 'reply_to', 'smtp', 'created'], o.json, 'no sender addresses');
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
  return cmd;
}
