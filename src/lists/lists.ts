/**
 * lists/lists — recipient lists (收件人列表): a name, a unique alias address, a description
 * and members keyed by their normalised address, each with its variables (UserName,
 * NickName, Gender, Birthday, Mobile and any other column of the imported file). Shared by
 * `mta list ...` and the admin API; members are imported by lists/import.ts.
 */
import type { ListMember, ListRecord, Store } from '../spool/types.js';
import { canonicalAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { LIVE_TASK_STATES, tasksIn } from '../tasks/tasks.js';

const NAME = /^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$/u;

/** A list name: letters (any script), digits, `_`, `.`, `-`; at most 64 characters. */
export function checkListName(name: string): string {
  if (!NAME.test(name)) throw new MtaError('MTA_ERR_INVALID', `"${name}" is not a valid list name (letters, digits, _ . -; at most 64 characters)`, 'name');
  return name;
}

export type ListStoreApi = Pick<Store, 'addList' | 'getList' | 'listLists' | 'removeList' | 'upsertListMembers' | 'listMembers' | 'listTasks'>;

export class Lists {
  constructor(private readonly store: ListStoreApi, private readonly now: () => number = Date.now) {}

  async create(input: { name: string; alias: string; description?: string | undefined }): Promise<ListRecord> {
    const name = checkListName(input.name);
    const alias = canonicalAddress(input.alias);
    if (!alias) throw new MtaError('MTA_ERR_INVALID', `alias "${input.alias}" is not a valid email address`, 'alias');
    const description = input.description?.trim() || null;
    if (description && description.length > 500) throw new MtaError('MTA_ERR_INVALID', 'description is longer than 500 characters', 'description');
    await this.store.addList({ name, alias, description, createdAt: this.now() });
    return (await this.store.getList(name))!;
  }

  async get(name: string): Promise<ListRecord> {
    const l = await this.store.getList(name);
    if (!l) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${name}`);
    return l;
  }

  list(): Promise<ListRecord[]> { return this.store.listLists(); }

  async remove(name: string): Promise<void> {
    // A task reads its list by name as it expands: removing the list would end it early, silently.
    const users = (await tasksIn(this.store, LIVE_TASK_STATES)).filter((t) => t.list === name);
    if (users.length > 0) {
      throw new MtaError('MTA_ERR_IN_USE', `list ${name} is used by ${users.length === 1 ? 'task' : 'tasks'} ${users.slice(0, 5).map((t) => t.id).join(', ')}${users.length > 5 ? ', ...' : ''}; cancel or finish them first`, 'name');
    }
    if (!(await this.store.removeList(name))) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${name}`);
  }

  members(name: string, opts: { after?: string | undefined; limit: number }): Promise<ListMember[]> {
    return this.store.listMembers(name, opts);
  }

  /** Every member, page by page, in address order. */
  async *allMembers(name: string, page = 5000): AsyncIterable<ListMember[]> {
    let after: string | undefined;
    for (;;) {
      const rows = await this.store.listMembers(name, { after, limit: page });
      if (rows.length > 0) yield rows;
      if (rows.length < page) return;
      after = rows[rows.length - 1]!.address;
    }
  }
}
