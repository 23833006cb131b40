/**
 * delivery/dev-sink — the development sink (`[delivery] sink`, on by default without a
 * configuration file): a small SMTP server on a loopback port that the router sends
 * every recipient's mail to, instead of the recipients' MX hosts. It accepts everything
 * and keeps each message, as delivered (DKIM-signed), as one .eml file in the sink
 * directory, like MailHog or Mailpit. The delivery path is the real one (scheduler,
 * agent, signing, outcome), so `mta queue show` reads as it would in production, with
 * the file's path in the 250 reply.
 *
 * It exists so a laptop can follow the README tour without port 25, a resolver that
 * finds the recipients' domains, or bounces that would fill the suppression list.
 * It must never listen on anything but 127.0.0.1, nor refuse or defer a message it
 * could write: a refusal here would be a failure no real receiver gave.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { SessionTarget } from './transport.js';

export class DevSink {
  private server: SMTPServer | undefined;
  private seq = 0;

  constructor(readonly dir: string) {}

  /** Starts listening on an ephemeral loopback port; the hop the router sends to. */
  async start(): Promise<SessionTarget> {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], hideSTARTTLS: true, logger: false,
      size: 0, banner: 'mta development sink', onData: (stream, session, done) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', done);
        stream.on('end', () => {
          try {
            done(null, `2.0.0 development sink: kept as ${this.write(Buffer.concat(chunks))}`);
          } catch (e) {
            done(Object.assign(new Error(`4.3.0 development sink cannot write: ${(e as Error).message}`), { responseCode: 451 }));
          }
        });
      },
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => { server.removeListener('error', reject); resolve(); });
    });
    const port = (server.server.address() as { port: number }).port;
    return { address: '127.0.0.1', port, hostName: 'development-sink', tls: 'none', requireTls: false, verifyCertificate: false };
  }

  /** `<time>-<n>.eml`: sorts in arrival order, never overwrites an earlier file. */
  private write(raw: Buffer): string {
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${++this.seq}.eml`;
    const path = join(this.dir, name);
    writeFileSync(path, raw, { flag: 'wx', mode: 0o640 });
    return path;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    return s ? new Promise((r) => s.close(() => r())) : Promise.resolve();
  }
}
