/**
 * lists/lists — recipient lists (收件人列表): a name, a unique alias address, a description
 * and members keyed by their normalised address, each with its variables (UserName,
 * NickName, Gender, Birthday, Mobile and any other column of the imported file). Shared by
 * `mta list ...` and the admin API; members are imported by lists/import.ts.
 */
import type { TaskStore } from '../spool/types-tasks.js';
import type { ListMember, ListRecord, ListStore } from '../spool/types-lists.js';
import { canonicalAddress } from '../util/address.js';
import { columnName } from './import.js';
import { MtaError } from '../util/errors.js';
import { LIVE_TASK_STATES, tasksIn } from '../tasks/tasks.js';

const NAME = /^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$/u;

/** A list name: letters (any script), digits, `_`, `.`, `-`; at most 64 characters. */
export function checkListName(name: string): string {
  if (!NAME.test(name)) throw new MtaError('MTA_ERR_INVALID', `"${name}" is not a valid list name (letters, digits, _ . -; at most 64 characters)`, 'name');
  return name;
}

export type ListStoreApi = Pick<ListStore, 'addList' | 'getList' | 'listLists' | 'removeList' | 'upsertListMembers' | 'listMembers' | 'putListMember' | 'removeListMember'> & Pick<TaskStore, 'listTasks'>;

/** Longest variable value (as for an imported row). */
export const MAX_VALUE = 1024;

function memberAddress(input: string): string {
  const a = canonicalAddress(input);
  if (!a) throw new MtaError('MTA_ERR_INVALID', `"${input}" is not a valid email address`, 'EAddr');
  return a;
}

/** Checked variables for one member: names as an import names its columns, values within MAX_VALUE; null-prototype. */
function memberVariables(input: Readonly<Record<string, string>>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(input)) {
    const name = columnName(k);
    if (name === '' || name.length > 64 || name === 'EAddr') throw new MtaError('MTA_ERR_INVALID', `"${k}" is not a usable variable name (1-64 characters, not EAddr)`, 'variables');
    if (v.length > MAX_VALUE) throw new MtaError('MTA_ERR_INVALID', `${name} is longer than ${MAX_VALUE} characters`, 'variables');
    out[name] = v.trim();
  }
  return out;
}

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

  /** Adds one member; MTA_ERR_EXISTS when the address is a member already. */
  async addMember(name: string, address: string, variables: Readonly<Record<string, string>>): Promise<ListMember> {
    const a = memberAddress(address);
    const r = await this.store.putListMember(checkListName(name), a, memberVariables(variables), 'add', this.now());
    if (r.write === 'exists' || !r.member) throw new MtaError('MTA_ERR_EXISTS', `${a} is a member of list ${name} already (update it instead)`, 'EAddr');
    return r.member;
  }

  /** Changes the given variables of one member (the others stay); MTA_ERR_NOT_FOUND when it is not a member. */
  async updateMember(name: string, address: string, variables: Readonly<Record<string, string>>): Promise<ListMember> {
    const a = memberAddress(address);
    const r = await this.store.putListMember(checkListName(name), a, memberVariables(variables), 'update', this.now());
    if (r.write === 'missing' || !r.member) throw new MtaError('MTA_ERR_NOT_FOUND', `${a} is not a member of list ${name}`, 'EAddr');
    return r.member;
  }

  async removeMember(name: string, address: string): Promise<void> {
    const a = memberAddress(address);
    if (!(await this.store.removeListMember(checkListName(name), a))) throw new MtaError('MTA_ERR_NOT_FOUND', `${a} is not a member of list ${name}`, 'EAddr');
  }

  /** A page of members by address; `contains` keeps the addresses with that text (any case). */
  members(name: string, opts: { after?: string | undefined; limit: number; contains?: string | undefined }): Promise<ListMember[]> {
    return this.store.listMembers(name, { ...opts, contains: opts.contains?.toLowerCase() || undefined });
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
