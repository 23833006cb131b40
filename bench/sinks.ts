/**
 * bench/sinks — the receiving end, always a separate process so it competes for the two
 * cores like a real receiver on the same box would: Postfix's `smtp-sink` (the standard
 * tool for this measurement), or bench/own-sink.ts when a scenario needs refusals or
 * recipient counts. Both report running counters on stdout, which this module follows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface Sink {
  kind: 'smtp-sink' | 'own-sink';
  host: string;
  port: number;
  /** messages (transactions) received so far */
  messages(): number;
  /** recipients accepted so far (own-sink only; smtp-sink: same as messages) */
  recipients(): number;
  pid: number;
  stop(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));

function follow(proc: ChildProcess, onLine: (line: string) => void): void {
  let buf = '';
  proc.stdout!.setEncoding('latin1');
  proc.stdout!.on('data', (d: string) => {
    buf += d;
    const parts = buf.split(/[\r\n]/);
    buf = parts.pop() ?? '';
    for (const p of parts) if (p) onLine(p);
  });
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return () => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
    setTimeout(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); }, 2000).unref();
  });
}

function waitListening(host: string, port: number, proc: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const until = Date.now() + 10_000;
    const tryOnce = (): void => {
      if (proc.exitCode !== null) return reject(new Error(`${what} exited with ${proc.exitCode}`));
      const s = connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`${what} is not listening on ${host}:${port}`));
        else setTimeout(tryOnce, 50);
      });
    };
    tryOnce();
  });
}

/** Postfix's smtp-sink; `-c` prints "sess=N quit=N mesg=N" counters. */
export async function startSmtpSink(host: string, port: number): Promise<Sink> {
  // -u: it refuses to run as root without dropping privileges; -m: enough parallel sessions.
  const args = ['-c', '-m', '1000', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), `${host}:${port}`, '1024'];
  const proc = spawn('smtp-sink', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let mesg = 0;
  follow(proc, (line) => {
    const m = /mesg=(\d+)/.exec(line);
    if (m) mesg = Number(m[1]);
  });
  await waitListening(host, port, proc, 'smtp-sink');
  return { kind: 'smtp-sink', host, port, pid: proc.pid!, messages: () => mesg, recipients: () => mesg, stop: stopper(proc) };
}

export interface OwnSinkOptions {
  /** shares of RCPT replies refused with 4xx and 5xx */
  temp?: number;
  perm?: number;
  /** report the receipt of messages whose Message-ID contains this text */
  reportIds?: string;
  /** answer the end of DATA this many ms late */
  dataDelayMs?: number;
  /** called for each reported message: its Message-ID and when it arrived (bench/util.ts preciseNow: monotonic ms, sub-ms) */
  onReceipt?(messageId: string, at: number): void;
}

/** bench/own-sink.ts in its own node process. */
export async function startOwnSink(host: string, port: number, o: OwnSinkOptions = {}): Promise<Sink> {
  const args = [join(HERE, 'own-sink.js'), `${host}:${port}`, '--temp', String(o.temp ?? 0), '--perm', String(o.perm ?? 0)];
  if (o.reportIds !== undefined) args.push('--report-ids', o.reportIds);
  if (o.dataDelayMs) args.push('--data-delay', String(o.dataDelayMs));
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let mesg = 0;
  let rcpt = 0;
  follow(proc, (line) => {
    const got = /^got (\S+) ([\d.]+)$/.exec(line);
    if (got) { o.onReceipt?.(got[1]!, Number(got[2])); return; }
    const m = /mesg=(\d+) rcpt=(\d+)/.exec(line);
    if (m) { mesg = Number(m[1]); rcpt = Number(m[2]); }
  });
  await waitListening(host, port, proc, 'own-sink');
  return { kind: 'own-sink', host, port, pid: proc.pid!, messages: () => mesg, recipients: () => rcpt, stop: stopper(proc) };
}
