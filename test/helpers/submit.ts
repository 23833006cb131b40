/** Submits one message over real SMTP with AUTH and returns its queue id (throws on refusal). */
import { RawSmtp, message } from './smtp-client.js';
import { PASSWORD, type TestDaemon } from './daemon.js';
import type { QueueId } from '../../src/util/ids.js';

export async function submitMail(d: TestDaemon, rcpts: string[], from = 'app@example.com', extra = ''): Promise<QueueId> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  if ((await c.authPlain(from, PASSWORD)).code !== 235) throw new Error(`auth failed for ${from}`);
  await c.cmd(`MAIL FROM:<${from}>`);
  for (const r of rcpts) await c.cmd(`RCPT TO:<${r}>`);
  const r = await c.data(message(from, rcpts[0]!, 'test', 'hello\r\n', extra) + '.\r\n');
  await c.quit();
  if (r.code !== 250) throw new Error(`DATA: ${r.text}`);
  return r.text.split(' ').pop() as QueueId;
}
