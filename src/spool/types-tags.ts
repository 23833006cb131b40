/**
 * spool/types-tags — what tags (src/templates/tags.ts) need from the spool.
 */

export interface TagRecord { name: string; description: string; createdAt: number }

export interface TagStore {
  /** false when the tag exists already */
  addTag(t: TagRecord): Promise<boolean>;
  getTag(name: string): Promise<TagRecord | undefined>;
  listTags(): Promise<TagRecord[]>;
  removeTag(name: string): Promise<boolean>;
}
