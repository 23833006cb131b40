/**
 * bench/smtp-load — the load generator: N concurrent SMTP sessions (AUTH PLAIN when asked;
 * smtp-source cannot authenticate) that send a fixed number of messages as fast as the
 * server answers. Commands are pipelined (RFC 2920: MAIL, RCPT..., DATA in one write), the
 * way a busy application's client talks. For each accepted message it records the accept
 * latency: from writing the final "<CRLF>.<CRLF>" to reading the 250.
 *
 * With `rate` the load is an open loop: message i starts at `i / rate` seconds after the
 * first, whatever the server's speed, as an application's traffic would (a closed loop
 * measures the latency of a saturated server: each session sends again the moment it is
 * answered). A message that found no free session in time starts late; `late` counts those,
 * so a rate the server could not hold shows as such.
 *
 * Deliberately small and allocation-light so that it, not the server, is never the
 * bottleneck on a 2-core machine shared with the server and the sink.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  host: string;
  port: number;
  sessions: number;
  messages: number;
  ehlo: string;
  auth?: { user: string; pass: string };
  from: string;
  recipients(i: number): string[];
  /** the complete message i, CRLF line ends, dot-stuffed, ending in CRLF (without the final dot) */
  message(i: number): Buffer;
  /** give up on a session that gets no reply for this long */
  timeoutMs?: number;
  /** called once, when every session has logged in (or ended before it could) */
  onLoggedIn?: () => void;
  /** messages a second, over all sessions (an open loop); without it each session sends as fast as it is answered */
  rate?: number;
}

/** A message starting this much (ms) after its time in an open loop is counted late. */
export const LATE_MS = 10;

export interface LoadResult {
  started: number;
  /** when the last 250 arrived (ms, Date.now()) */
  lastAccept: number;
  accepted: number;
  refused: number;
  /** first reply text of each kind of refusal → count */
  refusals: Map<string, number>;
  /** accept latencies of the accepted messages, ms */
  latencies: Float64Array;
  /** when each of them was accepted (performance.now() ms), in the same order */
  acceptedAt: Float64Array;
  /** session-level failures (connect, auth, timeouts) */
  errors: string[];
  /** with a rate: messages that started more than LATE_MS after their time */
  late: number;
}

export interface Reply { code: number; text: string }

export class Client {
  private buf = '';
  private readonly waiting: ((r: Reply) => void)[] = [];
  private readonly ready: Reply[] = [];
  private lines: string[] = [];
  private closedWith: string | undefined;

  private constructor(private readonly sock: Socket, private readonly timeoutMs: number) {
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => this.onData(d));
    const close = (why: string): void => {
      this.closedWith ??= why;
      for (const w of this.waiting.splice(0)) w({ code: 0, text: why });
    };
    sock.on('error', (e) => close(`socket error: ${e.message}`));
    sock.on('close', () => close('connection closed'));
  }

  static open(host: string, port: number, timeoutMs: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port });
      s.once('connect', () => { s.removeListener('error', reject); resolve(new Client(s, timeoutMs)); });
      s.once('error', reject);
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\r\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      this.lines.push(line);
      if (line.length >= 4 && line[3] === '-') continue;
      const reply: Reply = { code: Number(line.slice(0, 3)) || 0, text: this.lines.join(' | ') };
      this.lines = [];
      const w = this.waiting.shift();
      if (w) w(reply); else this.ready.push(reply);
    }
  }

  read(): Promise<Reply> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.closedWith) return Promise.resolve({ code: 0, text: this.closedWith });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(done);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve({ code: 0, text: `no reply within ${this.timeoutMs} ms` });
      }, this.timeoutMs);
      const done = (rep: Reply): void => { clearTimeout(timer); resolve(rep); };
      this.waiting.push(done);
    });
  }

  write(data: string | Buffer): void { this.sock.write(data); }
  end(): void { this.sock.end(); }
  destroy(): void { this.sock.destroy(); }
}

/** Runs the load to completion; never throws for SMTP refusals, only counts them. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const res: LoadResult = {
    started: Date.now(), lastAccept: 0, accepted: 0, refused: 0, refusals: new Map(),
    latencies: new Float64Array(o.messages), acceptedAt: new Float64Array(o.messages), errors: [], late: 0,
  };
  // the open loop's clock starts with the first message
  let firstAt: number | undefined;
  const onTime = async (i: number): Promise<void> => {
    if (!o.rate) return;
    firstAt ??= performance.now();
    const due = firstAt + (i * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (-wait > LATE_MS) res.late++;
  };
  const timeoutMs = o.timeoutMs ?? 120_000;
  let next = 0;
  const refuse = (text: string): void => {
    res.refused++;
    const key = text.slice(0, 60);
    res.refusals.set(key, (res.refusals.get(key) ?? 0) + 1);
  };

  let loginsLeft = o.sessions;
  const loggedIn = (): void => { if (--loginsLeft === 0) o.onLoggedIn?.(); };
  const session = async (): Promise<void> => {
    let counted = false;
    const count = (): void => { if (!counted) { counted = true; loggedIn(); } };
    try { await sessionRun(count); } finally { count(); }
  };
  const sessionRun = async (count: () => void): Promise<void> => {
    if (next >= o.messages) return;
    const c = await Client.open(o.host, o.port, timeoutMs);
    try {
      const greeting = await c.read();
      if (greeting.code !== 220) throw new Error(`greeting: ${greeting.text}`);
      c.write(`EHLO ${o.ehlo}\r\n`);
      const ehlo = await c.read();
      if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.text}`);
      if (o.auth) {
        c.write(`AUTH PLAIN ${Buffer.from(`\0${o.auth.user}\0${o.auth.pass}`).toString('base64')}\r\n`);
        const a = await c.read();
        if (a.code !== 235) throw new Error(`AUTH: ${a.text}`);
      }
      count();
      while (next < o.messages) {
        const i = next++;
        await onTime(i);
        const rcpts = o.recipients(i);
        let cmds = `MAIL FROM:<${o.from}>\r\n`;
        for (const r of rcpts) cmds += `RCPT TO:<${r}>\r\n`;
        c.write(`${cmds}DATA\r\n`);
        const mail = await c.read();
        if (mail.code === 0) throw new Error(`MAIL: ${mail.text}`);
        let okRcpts = 0;
        let firstBad: string | undefined;
        for (let k = 0; k < rcpts.length; k++) {
          const r = await c.read();
          if (r.code === 250) okRcpts++; else firstBad ??= r.text;
        }
        const data = await c.read();
        if (data.code !== 354) {
          refuse(mail.code !== 250 ? mail.text : firstBad ?? data.text);
          if (data.code === 0) throw new Error(`DATA: ${data.text}`);
          c.write('RSET\r\n');
          await c.read();
          continue;
        }
        c.write(o.message(i));
        const t0 = performance.now();
        c.write('.\r\n');
        const done = await c.read();
        if (done.code === 250) {
          const now = performance.now();
          res.acceptedAt[res.accepted] = now;
          res.latencies[res.accepted++] = now - t0;
          res.lastAccept = Date.now();
          if (okRcpts < rcpts.length) refuse(firstBad ?? 'some recipients refused');
        } else {
          refuse(done.text);
          if (done.code === 0) throw new Error(`end of DATA: ${done.text}`);
        }
      }
      c.write('QUIT\r\n');
      await c.read();
      c.end();
    } catch (e) {
      c.destroy();
      throw e;
    }
  };

  const all = await Promise.allSettled(Array.from({ length: o.sessions }, () => session()));
  for (const r of all) if (r.status === 'rejected') res.errors.push((r.reason as Error).message);
  res.latencies = res.latencies.subarray(0, res.accepted);
  res.acceptedAt = res.acceptedAt.subarray(0, res.accepted);
  return res;
}

/** Several loads run side by side (one per cluster node) as one: counts summed, latencies pooled. */
export function mergeLoads(rs: LoadResult[]): LoadResult {
  const refusals = new Map<string, number>();
  for (const r of rs) for (const [k, n] of r.refusals) refusals.set(k, (refusals.get(k) ?? 0) + n);
  const latencies = new Float64Array(rs.reduce((n, r) => n + r.latencies.length, 0));
  const acceptedAt = new Float64Array(latencies.length);
  let at = 0;
  for (const r of rs) { latencies.set(r.latencies, at); acceptedAt.set(r.acceptedAt, at); at += r.latencies.length; }
  return {
    started: Math.min(...rs.map((r) => r.started)), lastAccept: Math.max(...rs.map((r) => r.lastAccept)),
    accepted: rs.reduce((n, r) => n + r.accepted, 0), refused: rs.reduce((n, r) => n + r.refused, 0),
    refusals, latencies, acceptedAt, errors: rs.flatMap((r) => r.errors), late: rs.reduce((n, r) => n + r.late, 0),
  };
}

/** The steady-state latency leaves out this much (ms) of the start. */
export const STEADY_AFTER_MS = 1000;

/**
 * The latencies of the messages accepted `skipMs` or more after the first: the steady state,
 * without the start (code not yet optimised, first connections and lookups, the logins' scrypt).
 */
export function steadyLatencies(r: Pick<LoadResult, 'latencies' | 'acceptedAt'>, skipMs: number): Float64Array {
  const from = r.acceptedAt.reduce((a, b) => Math.min(a, b), Infinity) + skipMs;
  return r.latencies.filter((_, i) => r.acceptedAt[i]! >= from);
}

/**
 * The accept latency over the run, window by window of `windowMs` from the first accept: each
 * window's message count and p99. It tells a warm-up's tail (the first windows) from one
 * spread over the run (a GC rhythm, a timer).
 */
export function latencyTimeline(r: Pick<LoadResult, 'latencies' | 'acceptedAt'>, windowMs: number): { count: number; p99: number }[] {
  const first = r.acceptedAt.reduce((a, b) => Math.min(a, b), Infinity);
  const windows: number[][] = [];
  r.acceptedAt.forEach((at, i) => { (windows[Math.floor((at - first) / windowMs)] ??= []).push(r.latencies[i]!); });
  return Array.from(windows, (w = []) => ({ count: w.length, p99: percentile(Float64Array.from(w), 99) }));
}

/** The window of the accept-latency timeline (ms), and about how many windows it shows at most (wider windows for a long run). */
export const TIMELINE_MS = 500;
export const TIMELINE_WINDOWS = 20;

/** The timeline in windows of `baseMs`, or of a multiple of it that keeps it to about `maxWindows` windows. */
export function boundedTimeline(r: Pick<LoadResult, 'latencies' | 'acceptedAt'>, baseMs: number, maxWindows: number): { windowMs: number; windows: { count: number; p99: number }[] } {
  const windows = latencyTimeline(r, baseMs);
  if (windows.length <= maxWindows) return { windowMs: baseMs, windows };
  const windowMs = baseMs * Math.ceil(windows.length / maxWindows);
  return { windowMs, windows: latencyTimeline(r, windowMs) };
}

/** Percentile (0..100) of a set of numbers, nearest rank. */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A message of about `size` bytes: realistic headers and a plain-text body of 72-column lines. */
export function makeMessage(opts: { from: string; to: string; subject: string; messageId: string; size: number }): Buffer {
  const head = `From: Bench <${opts.from}>\r\nTo: <${opts.to}>\r\nSubject: ${opts.subject}\r\n` +
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}\r\nMessage-ID: <${opts.messageId}>\r\n` +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n';
  const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen\r\n';
  const n = Math.max(1, Math.ceil((opts.size - head.length) / line.length));
  return Buffer.from(head + line.repeat(n), 'latin1');
}
