/**
 * templates/templates — mail templates: subject, sender display name, HTML body and an
 * optional text body, with `{Variable}` placeholders. A template is a draft until
 * approved; editing an approved (or rejected) template returns it to draft
 * (`transition`, the one place the state changes). Bodies are limited to
 * `[templates] max_body_size`. `render` substitutes variables (HTML-escaped in the HTML
 * body, as given in subject and text), generates the text body from the HTML when there
 * is none (html-to-text, links kept, from the *filled* HTML: html-to-text changes text,
 * e.g. upper-cases headings, so a placeholder converted before filling would no longer
 * match its name) and composes the MIME message. `fillTemplate` is the one place these
 * rules live: `template render` and every batch task member use it, so what a task sends
 * is what `render` shows. A `from_name` that looks like an address is refused at create,
 * edit, approve and render (intake/identity.ts).
 *
 * Must never: let a placeholder survive into a part that is sent (fillTemplate refuses).
 */
import { compile } from 'html-to-text';
import type { TemplateRecord, TemplateState, TemplateStore } from '../spool/types-templates.js';
import { MtaError } from '../util/errors.js';
import { composeMessage } from '../admin/compose.js';
import { checkDisplayName } from '../intake/identity.js';

export const TEMPLATE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** `{Name` not closed: end of text, white space, a tag, another brace or a quote follows. */
const MALFORMED = /\{[A-Za-z_][A-Za-z0-9_]*(?=$|[\s<>{"'])/g;

export type TemplateAction = 'edit' | 'approve' | 'reject';

/** The state after `action`, or MTA_ERR_TEMPLATE_STATE when the action is not allowed now. */
export function transition(from: TemplateState, action: TemplateAction): TemplateState {
  switch (action) {
    case 'edit': return 'draft';
    case 'approve':
      if (from !== 'draft') throw new MtaError('MTA_ERR_TEMPLATE_STATE', `only a draft can be approved (this template is ${from}${from === 'rejected' ? ': edit it first' : ''})`, 'state');
      return 'approved';
    case 'reject':
      if (from === 'rejected') throw new MtaError('MTA_ERR_TEMPLATE_STATE', 'the template is rejected already', 'state');
      return 'rejected';
  }
}

/** The variables a text uses, in order of first use. */
export function variablesOf(...texts: (string | null)[]): string[] {
  const seen = new Set<string>();
  for (const t of texts) if (t) for (const m of t.matchAll(PLACEHOLDER)) seen.add(m[1]!);
  return [...seen];
}

/** Placeholders opened but not closed, such as `{Unclosed`. */
export function malformedPlaceholders(...texts: (string | null)[]): string[] {
  const out: string[] = [];
  for (const t of texts) if (t) for (const m of t.matchAll(MALFORMED)) out.push(m[0]);
  return out;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

/** What one filling may still add, bytes: a template of 9,000 `{A}` and a 4 KiB value once rendered 76 MB. */
interface Budget { left: number; max: number; what: string }

/** `{Name}` → escape(vars.Name); a name `vars` lacks is collected in `unknown` and kept as written. */
function substitute(text: string, vars: Readonly<Record<string, string>>, escape: (s: string) => string, unknown: Set<string>, budget: Budget): string {
  budget.left -= Buffer.byteLength(text);
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    if (!Object.hasOwn(vars, name)) { unknown.add(name); return whole; }
    const value = escape(vars[name]!);
    budget.left -= Buffer.byteLength(value) - whole.length;
    // Thrown as soon as the budget is spent: the rest is never built.
    if (budget.left < 0) throw new MtaError('MTA_ERR_TEMPLATE_SIZE', `${budget.what} would render over templates.max_rendered_size (${budget.max} bytes)`, 'vars');
    return value;
  });
}

/** The default of `[templates] max_rendered_size` (config/schema.ts), for callers without a config. */
export const DEFAULT_MAX_RENDERED = 1024 * 1024;

// Compiled once: html-to-text's convert() compiles its options on every call (3x slower), and a task converts once per member.
const toText = compile({ wordwrap: 78, selectors: [{ selector: 'img', format: 'skip' }] });

/** A readable text body from HTML: links kept as "text [url]". */
export function textFromHtml(html: string): string {
  return toText(html);
}

export interface FilledParts { subject: string; html: string; text: string; textGenerated: boolean }

/**
 * The template's parts for these variables: values raw in subject and text, HTML-escaped in
 * HTML, line breaks in the subject made spaces; the text generated from the filled HTML
 * when the template has none. A placeholder `vars` cannot fill is MTA_ERR_TEMPLATE_VAR
 * (nothing is sent with a raw `{Name}` in it); parts over `maxBytes` together are
 * MTA_ERR_TEMPLATE_SIZE, found before they are built. Values are not expanded again (one pass).
 */
export function fillTemplate(t: { subject: string; html: string; text: string | null }, vars: Readonly<Record<string, string>>, what = 'template', maxBytes = DEFAULT_MAX_RENDERED): FilledParts {
  const unknown = new Set<string>();
  const raw = (s: string): string => s;
  const budget: Budget = { left: maxBytes, max: maxBytes, what };
  const subject = substitute(t.subject, vars, raw, unknown, budget).replace(/[\r\n]+/g, ' ');
  const html = substitute(t.html, vars, escapeHtml, unknown, budget);
  // A generated text body is at most about as long as the HTML it comes from, which the budget has counted.
  const text = t.text !== null ? substitute(t.text, vars, raw, unknown, budget) : textFromHtml(html);
  if (unknown.size) throw new MtaError('MTA_ERR_TEMPLATE_VAR', `variables used by ${what} are missing: ${[...unknown].join(', ')}`, 'vars');
  return { subject, html, text, textGenerated: t.text === null };
}

/** What the console's editor shows while a template is written: nothing is stored. */
export interface Preview extends FilledParts { variables: string[]; missing: string[]; malformed: string[] }

/**
 * A draft's parts filled with sample values; a variable without a sample stays as written
 * (`{Name}`: one pass, so it is not filled again) and is listed in `missing`, so a half-written
 * template still previews. `malformed`: the placeholders approval would refuse.
 */
export function previewTemplate(t: { subject: string; html: string; text: string | null }, samples: Readonly<Record<string, string>>, maxBytes = DEFAULT_MAX_RENDERED): Preview {
  const variables = variablesOf(t.subject, t.html, t.text);
  const missing = variables.filter((v) => !Object.hasOwn(samples, v));
  const vars: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, samples);
  for (const v of missing) vars[v] = `{${v}}`;
  return { ...fillTemplate(t, vars, 'the preview', maxBytes), variables, missing, malformed: [...new Set(malformedPlaceholders(t.subject, t.html, t.text))] };
}

export interface TemplateInput {
  subject?: string | undefined;
  fromName?: string | null | undefined;
  html?: string | undefined;
  /** null removes the text body (generated from the HTML) */
  text?: string | null | undefined;
}

export interface Rendered { subject: string; fromName: string | null; html: string; text: string; textGenerated: boolean; mime: string }

export class Templates {
  constructor(private readonly store: TemplateStore, private readonly limits: () => { maxBodySize: number; maxRenderedSize?: number }, private readonly now: () => number = Date.now) {}

  private checkBodies(t: Pick<TemplateRecord, 'subject' | 'fromName' | 'html' | 'text'>): void {
    checkDisplayName(t.fromName, 'from_name');
    const max = this.limits().maxBodySize;
    for (const [field, body] of [['html', t.html], ['text', t.text]] as const) {
      if (body === null) continue;
      const n = Buffer.byteLength(body, 'utf8');
      if (n > max) throw new MtaError('MTA_ERR_TEMPLATE_SIZE', `${field} body is ${n} bytes, over templates.max_body_size (${max} bytes)`, field);
    }
    if (!t.subject.trim()) throw new MtaError('MTA_ERR_TEMPLATE', 'subject: must not be empty', 'subject');
    if (/[\r\n]/.test(t.subject)) throw new MtaError('MTA_ERR_TEMPLATE', 'subject: must be one line', 'subject');
    // It becomes the From header's display name: a line break would start a header of its own.
    if (t.fromName !== null && /[\r\n]/.test(t.fromName)) throw new MtaError('MTA_ERR_TEMPLATE', 'from_name: must be one line', 'from_name');
    if (!t.html.trim()) throw new MtaError('MTA_ERR_TEMPLATE', 'html: must not be empty', 'html');
  }

  async create(name: string, input: TemplateInput & { subject: string; html: string }): Promise<TemplateRecord> {
    if (!TEMPLATE_NAME.test(name)) throw new MtaError('MTA_ERR_INVALID', `template name "${name}" is not valid: 1-64 letters, digits, _ - .`, 'name');
    const at = this.now();
    const rec: TemplateRecord = {
      name, subject: input.subject, fromName: input.fromName ?? null, html: input.html, text: input.text ?? null,
      state: 'draft', rejectReason: null, createdAt: at, updatedAt: at,
    };
    this.checkBodies(rec);
    if (!(await this.store.addTemplate(rec))) throw new MtaError('MTA_ERR_EXISTS', `template ${name} exists already`, 'name');
    return rec;
  }

  async get(name: string): Promise<TemplateRecord> {
    const t = await this.store.getTemplate(name);
    if (!t) throw new MtaError('MTA_ERR_NOT_FOUND', `no template ${name}`, 'name');
    return t;
  }

  list(): Promise<TemplateRecord[]> { return this.store.listTemplates(); }

  /** Changes the given fields; the template returns to draft. */
  async edit(name: string, input: TemplateInput): Promise<TemplateRecord> {
    const cur = await this.get(name);
    const next: TemplateRecord = {
      ...cur,
      ...(input.subject !== undefined ? { subject: input.subject } : {}),
      ...(input.fromName !== undefined ? { fromName: input.fromName } : {}),
      ...(input.html !== undefined ? { html: input.html } : {}),
      ...(input.text !== undefined ? { text: input.text } : {}),
      state: transition(cur.state, 'edit'), rejectReason: null, updatedAt: this.now(),
    };
    this.checkBodies(next);
    await this.save(next);
    return next;
  }

  /** Refuses a template with malformed placeholders. */
  async approve(name: string): Promise<TemplateRecord> {
    const cur = await this.get(name);
    const state = transition(cur.state, 'approve');
    // Templates stored before the display-name rule existed are checked again here.
    checkDisplayName(cur.fromName, 'from_name');
    const bad = malformedPlaceholders(cur.subject, cur.html, cur.text);
    if (bad.length) throw new MtaError('MTA_ERR_TEMPLATE', `malformed placeholders (write {Name}): ${[...new Set(bad)].join(', ')}`, 'html');
    const next: TemplateRecord = { ...cur, state, rejectReason: null, updatedAt: this.now() };
    await this.save(next);
    return next;
  }

  async reject(name: string, reason: string): Promise<TemplateRecord> {
    if (!reason.trim()) throw new MtaError('MTA_ERR_INVALID', 'a reason is required', 'reason');
    const cur = await this.get(name);
    const next: TemplateRecord = { ...cur, state: transition(cur.state, 'reject'), rejectReason: reason.trim(), updatedAt: this.now() };
    await this.save(next);
    return next;
  }

  async remove(name: string): Promise<void> {
    if (!(await this.store.removeTemplate(name))) throw new MtaError('MTA_ERR_NOT_FOUND', `no template ${name}`, 'name');
  }

  private async save(t: TemplateRecord): Promise<void> {
    if (!(await this.store.updateTemplate(t))) throw new MtaError('MTA_ERR_NOT_FOUND', `no template ${t.name}`, 'name');
  }

  /** The message for these variables; a variable the template uses but `vars` lacks is MTA_ERR_TEMPLATE_VAR. */
  async render(name: string, vars: Record<string, string>, env: { from: string; to?: string | undefined }): Promise<Rendered> {
    return renderTemplate(await this.get(name), vars, env, this.limits().maxRenderedSize);
  }
}

export async function renderTemplate(t: TemplateRecord, vars: Record<string, string>, env: { from: string; to?: string | undefined }, maxBytes?: number): Promise<Rendered> {
  checkDisplayName(t.fromName, 'from_name', env.from);
  const { subject, html, text, textGenerated } = fillTemplate(t, vars, `template ${t.name}`, maxBytes);
  const stream = composeMessage({
    from: { name: t.fromName ?? undefined, address: env.from }, to: env.to ? [env.to] : [], subject, text, html, headers: {}, attachments: [],
  });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return { subject, fromName: t.fromName, html, text, textGenerated, mime: Buffer.concat(chunks).toString('utf8') };
}
