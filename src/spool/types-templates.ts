/**
 * spool/types-templates — what templates (src/templates) need from the spool.
 */

export type TemplateState = 'draft' | 'approved' | 'rejected';

export interface TemplateRecord {
  name: string;
  subject: string;
  fromName: string | null;
  html: string;
  /** null: generated from the HTML when rendered */
  text: string | null;
  state: TemplateState;
  rejectReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface TemplateStore {
  /** false when the name is taken */
  addTemplate(t: TemplateRecord): Promise<boolean>;
  getTemplate(name: string): Promise<TemplateRecord | undefined>;
  listTemplates(): Promise<TemplateRecord[]>;
  /** Replaces every field but name and createdAt; false when there is no such template. */
  updateTemplate(t: TemplateRecord): Promise<boolean>;
  removeTemplate(name: string): Promise<boolean>;
}
