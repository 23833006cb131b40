/**
 * Batch task fixtures: a batch sender, a list with generated members (written through the
 * spool in batches, as an import would), an approved template, and waiting on a task.
 */
import type { Store } from '../../src/spool/types.js';
import type { TaskRecord } from '../../src/spool/types-tasks.js';
import { Lists } from '../../src/lists/lists.js';
import { Templates } from '../../src/templates/templates.js';
import { Senders } from '../../src/accounts/senders.js';
import { parseTaskId } from '../../src/util/ids.js';
import { compileConfig, type Config } from '../../src/config/config.js';

export const BATCH = 'news@example.com';

export async function addBatchSender(store: Store, address = BATCH): Promise<void> {
  await new Senders(store).add({ address, type: 'batch' });
}

/** A list of `n` members: member(i) gives each one's address and variables. */
export async function makeList(store: Store, name: string, n: number, member: (i: number) => { address: string; vars: Record<string, string> }, alias = `${name}@lists.example.com`): Promise<void> {
  await new Lists(store).create({ name, alias });
  const columns = Object.keys(member(0).vars);
  for (let start = 0; start < n; start += 5000) {
    const rows = [];
    for (let i = start; i < Math.min(n, start + 5000); i++) { const m = member(i); rows.push({ address: m.address, variables: m.vars }); }
    await store.upsertListMembers(name, `import-${start}`, columns, rows, Date.now());
  }
}

export async function makeTemplate(store: Store, name: string, t: { subject: string; html: string; text?: string }, approve = true): Promise<void> {
  const tpl = new Templates(store, () => ({ maxBodySize: 28 * 1024 }));
  await tpl.create(name, { subject: t.subject, html: t.html, text: t.text ?? null });
  if (approve) await tpl.approve(name);
}

export async function getTask(store: Store, id: string): Promise<TaskRecord> {
  return (await store.getTask(parseTaskId(id)!))!;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A header's value in a raw message (first occurrence, unfolded). */
export function header(raw: Buffer | string, name: string): string | undefined {
  const text = raw.toString();
  const head = text.slice(0, text.indexOf('\r\n\r\n') + 2).replace(/\r\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m?.[1];
}

/** A config for services used on the spool directly (no daemon): unverified domains may send. */
export function offlineConfig(): Config {
  return compileConfig('[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[domains]\nrequire_verified = false\n[tags]\nauto_create = true\n', 'test.toml');
}
