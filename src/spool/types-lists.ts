/**
 * spool/types-lists — what recipient lists (src/lists) need from the spool: lists, their
 * members with variables, and the import's upserts.
 */

export interface ListRecord {
  name: string;
  /** canonical (lower-case) alias address */
  alias: string;
  description: string | null;
  /** variable names seen in imports, first-seen order (EAddr not included) */
  columns: string[];
  createdAt: number;
  /** member count (getList, listLists) */
  members: number;
}

export interface ListMember { address: string; variables: Record<string, string>; updatedAt: number }

/** What one row of an upsert did: new member, updated member, or a second row for an address already written by this import. */
export type MemberWrite = 'inserted' | 'updated' | 'duplicate';

export interface ListStore {
  addList(l: { name: string; alias: string; description: string | null; createdAt: number }): Promise<void>;
  getList(name: string): Promise<ListRecord | undefined>;
  listLists(): Promise<ListRecord[]>;
  /** Removes the list with its members. */
  removeList(name: string): Promise<boolean>;
  /**
   * Writes members in one transaction: a new address is inserted, one written before by
   * another import is updated (variables replaced), one already written by `importId` is a
   * duplicate and left alone. `columns` are merged into the list's. One status per row.
   */
  upsertListMembers(list: string, importId: string, columns: readonly string[], rows: readonly { address: string; variables: Record<string, string> }[], now: number): Promise<MemberWrite[]>;
  /** Members by address, after the cursor; `contains`: only addresses with this text in them (as stored: lower case). */
  listMembers(list: string, opts: { after?: string | undefined; limit: number; contains?: string | undefined }): Promise<ListMember[]>;
  /** One member added (`exists` when the address is there) or its variables updated, merged (`missing` when it is not). */
  putListMember(list: string, address: string, variables: Record<string, string>, mode: 'add' | 'update', now: number): Promise<{ write: 'inserted' | 'updated' | 'exists' | 'missing'; member?: ListMember }>;
  removeListMember(list: string, address: string): Promise<boolean>;
}
