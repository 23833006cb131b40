/**
 * templates/tags — tags, the labels mail carries (X-Mta-Tag on SMTP, `tag` on the send
 * API, or a batch task). `admit` is the one check every front-end applies to a message's
 * tag (through submission/policy.ts): a known tag passes, an unknown one is refused or,
 * with `[tags] auto_create = true`, created.
 */
import type { TagRecord, TagStore } from '../spool/types-tags.js';
import { MtaError } from '../util/errors.js';

/** 1–64 letters, digits, `_`, `-` or `.` */
export const TAG_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function validTagName(name: string): boolean { return TAG_NAME.test(name); }

export class Tags {
  constructor(private readonly store: TagStore, private readonly now: () => number = Date.now) {}

  async add(name: string, description = ''): Promise<TagRecord> {
    if (!validTagName(name)) throw new MtaError('MTA_ERR_INVALID', `tag "${name}" is not valid: 1-64 letters, digits, _ - .`, 'name');
    const rec: TagRecord = { name, description, createdAt: this.now() };
    if (!(await this.store.addTag(rec))) throw new MtaError('MTA_ERR_EXISTS', `tag ${name} exists already`, 'name');
    return rec;
  }

  async get(name: string): Promise<TagRecord> {
    const t = await this.store.getTag(name);
    if (!t) throw new MtaError('MTA_ERR_NOT_FOUND', `no tag ${name}`, 'name');
    return t;
  }

  list(): Promise<TagRecord[]> { return this.store.listTags(); }

  async remove(name: string): Promise<void> {
    if (!(await this.store.removeTag(name))) throw new MtaError('MTA_ERR_NOT_FOUND', `no tag ${name}`, 'name');
  }

  /**
   * Whether a message may carry `name`: undefined when it may (creating the tag when
   * autoCreate), otherwise the refusal detail (the quoted name).
   */
  async admit(name: string, autoCreate: boolean): Promise<string | undefined> {
    const shown = `"${name.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')}"`;
    if (!validTagName(name)) return `${shown} (a tag is 1-64 letters, digits, _ - .)`;
    if (await this.store.getTag(name)) return undefined;
    if (!autoCreate) return shown;
    await this.store.addTag({ name, description: '', createdAt: this.now() }); // a concurrent creation is fine (INSERT OR IGNORE)
    return undefined;
  }
}
