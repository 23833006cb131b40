/**
 * mta tag add|list|remove — the tags mail may carry (X-Mta-Tag, the API's `tag`), through
 * templates/tags.ts (as for the admin API).
 */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { Tags } from '../../templates/tags.js';
import { print, printJson, printList } from '../output.js';
import type { TagRecord } from '../../spool/types-tags.js';

function view(t: TagRecord): Record<string, unknown> {
  return { name: t.name, description: t.description, created: new Date(t.createdAt).toISOString() };
}

export function tagCommand(): Command {
  const cmd = new Command('tag').description('tags: labels for mail (X-Mta-Tag header, API "tag" field); statistics filter by them');
  cmd.command('add <name>').description('add a tag (1-64 letters, digits, _ - .)')
    .option('--description <text>', 'what the tag is for', '')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { description: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const t = await new Tags(store).add(name, o.description);
      if (o.json) return printJson(view(t));
      print(`added tag ${t.name}`);
    }));
  cmd.command('list').description('list tags').option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      printList((await new Tags(store).list()).map(view), ['name', 'description', 'created'], o.json, 'no tags');
    }));
  cmd.command('remove <name>').description('remove a tag (mail already tagged keeps its tag)')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Tags(store).remove(name);
      print(`removed tag ${name}`);
    }));
  return cmd;
}
