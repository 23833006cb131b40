/**
 * mta user add|list|passwd|role|remove — the web console's users (accounts/users.ts): a name, a
 * role (admin: everything; operator: everything but users and configuration; viewer: read
 * only) and a password, never given on the command line.
 */
import { Command, Option } from 'commander';
import { withContext } from '../context.js';
import { Users } from '../../accounts/users.js';
import { print, printJson, printList, readStdin } from '../output.js';
import { iso } from '../../admin/context.js';
import { ask, canAsk } from '../prompt.js';
import { MtaError } from '../../util/errors.js';
import { USER_ROLES, type ConsoleUserRecord } from '../../spool/types-users.js';

/** A password typed twice without echo, or standard input (scripts, or no terminal). */
async function readPassword(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin || !canAsk()) return readStdin();
  const first = await ask('Console password: ', true);
  const again = await ask('Type it again: ', true);
  if (first !== again) throw new MtaError('MTA_ERR_INVALID', 'the two passwords differ; nothing changed', 'password');
  return first;
}

export function userView(u: ConsoleUserRecord): Record<string, unknown> {
  return { name: u.name, role: u.role, created: iso(u.createdAt), password_changed: iso(u.passwordChangedAt) };
}

export function userCommand(): Command {
  const cmd = new Command('user').description('web console users: name, role and password');
  cmd.command('add <name>')
    .description('add a console user')
    .addOption(new Option('--role <role>', 'admin (everything), operator (all but users and configuration) or viewer (read only)').choices([...USER_ROLES]).makeOptionMandatory())
    .option('--password-stdin', 'read the password from standard input (for scripts; also what happens without a terminal)')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { role: string; passwordStdin?: boolean; json?: boolean }, c: Command) => {
      const password = await readPassword(o.passwordStdin);
      await withContext(c, async ({ store }) => {
        const u = await new Users(store).add(name, o.role, password);
        if (o.json) return printJson(userView(u));
        print(`added ${u.name} (${u.role})`);
      });
    });
  cmd.command('list').description('list console users').option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      printList((await new Users(store).list()).map(userView), ['name', 'role', 'created', 'password_changed'], o.json, 'no console users');
    }));
  cmd.command('passwd <name>').description('set a console user\'s password (ends the user\'s sessions): typed twice on a terminal, else read from standard input')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }, c: Command) => {
      const password = await readPassword(o.passwordStdin);
      await withContext(c, async ({ store }) => {
        await new Users(store).setPassword(name, password);
        print(`password set for ${name}; their sessions were ended`);
      });
    });
  cmd.command('role <name>').description('change a console user\'s role; it applies from their next request (no new sign-in needed)')
    .addOption(new Option('--role <role>', 'admin, operator or viewer').choices([...USER_ROLES]).makeOptionMandatory())
    .option('--json', 'JSON output')
    .action(async (name: string, o: { role: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const u = await new Users(store).setRole(name, o.role);
      if (o.json) return printJson(userView(u));
      print(`${u.name} is now ${u.role}`);
    }));
  cmd.command('remove <name>').description('remove a console user (and end their sessions)')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Users(store).remove(name);
      print(`removed ${name}`);
    }));
  return cmd;
}
