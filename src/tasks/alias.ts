/**
 * tasks/alias — mail to a recipient list's alias address (SPEC §2 "Recipient list"). Both
 * front-ends (SMTP listener, send API) accept an alias as a recipient (never suppressed:
 * the members are checked one by one when it expands) and hand intake the lists it
 * names instead of a recipient row. Intake then commits one alias task per list in the
 * same transaction as the message, so the 250 promises the expansion; the expander
 * (tasks/expander.ts) sends each member a personalised copy of the message.
 */
import type { TaskStore } from '../spool/types-tasks.js';

/** The recipients that are not list aliases, and the lists named by those that are (each once). */
export async function splitAliases(store: Pick<TaskStore, 'listByAlias'>, recipients: readonly string[]): Promise<{ recipients: string[]; aliasLists: string[] }> {
  const plain: string[] = [];
  const lists = new Set<string>();
  for (const r of recipients) {
    const list = await store.listByAlias(r);
    if (list) lists.add(list); else plain.push(r);
  }
  return { recipients: plain, aliasLists: [...lists] };
}
