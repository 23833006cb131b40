/**
 * admin/send-template — the send API's `template` + `variables` (SES's Template and
 * TemplateData): the stored template rendered by the same function as
 * `mta template render` (templates/templates.ts), so what is previewed is what is sent.
 *
 * Every variable the template uses must be given and every variable given must be used
 * (a misspelt name would otherwise send a message with the placeholder's value missing):
 * either way a 400 MTA_ERR_TEMPLATE_VAR naming the variables. A template that is not
 * approved does not send while `templates.require_approval` is on (409), as for tasks.
 * Must never: send a template with a placeholder left unfilled.
 */
import type { Config } from '../config/config.js';
import type { TemplateStore } from '../spool/types-templates.js';
import { MtaError } from '../util/errors.js';
import { renderTemplate, variablesOf } from '../templates/templates.js';

export interface TemplateContent { subject: string; html: string; text: string; fromName: string | undefined }

export async function renderForSend(store: Pick<TemplateStore, 'getTemplate'>, config: Config, name: string, variables: Record<string, string>, from: string): Promise<TemplateContent> {
  const tpl = await store.getTemplate(name);
  if (!tpl) throw new MtaError('MTA_ERR_NOT_FOUND', `no template ${name} (see mta template list)`, 'template');
  if (config.templates.requireApproval && tpl.state !== 'approved') {
    throw new MtaError('MTA_ERR_TEMPLATE_STATE', `template ${tpl.name} is ${tpl.state}; only approved templates send (templates.require_approval)`, 'template');
  }
  const used = variablesOf(tpl.subject, tpl.html, tpl.text);
  const missing = used.filter((v) => !Object.hasOwn(variables, v));
  if (missing.length) throw new MtaError('MTA_ERR_TEMPLATE_VAR', `template ${tpl.name} needs variables that were not given: ${missing.join(', ')}`, `variables.${missing[0]}`);
  const unknown = Object.keys(variables).filter((v) => !used.includes(v));
  if (unknown.length) {
    throw new MtaError('MTA_ERR_TEMPLATE_VAR', `template ${tpl.name} has no variable ${unknown.join(', ')} (it uses: ${used.join(', ') || 'none'})`, `variables.${unknown[0]}`);
  }
  const r = await renderTemplate(tpl, variables, { from });
  return { subject: r.subject, html: r.html, text: r.text, fromName: r.fromName ?? undefined };
}
