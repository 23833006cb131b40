/**
 * A deliberately dumb SMTP client for tests: it sends exactly the bytes it is told to,
 * so tests can speak broken protocol (bare LF, smuggling sequences) to the real listener.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Reply { code: number; lines: string[]; text: string }

export class RawSmtp {
  private buf = '';
  private waiters: ((r: Reply | undefined) => void)[] = [];
  private replies: Reply[] = [];
  closed = false;

  private constructor(public socket: Socket | TLSSocket) { this.attach(socket); }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { this.buf += d; this.parse(); });
    socket.on('close', () => { this.closed = true; for (const w of this.waiters.splice(0)) w(undefined); });
    socket.on('error', () => { /* surfaced as close */ });
  }

  static connect(port: number, opts: { tls?: boolean; host?: string; localAddress?: string } = {}): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const host = opts.host ?? '127.0.0.1';
      const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
      const s = opts.tls ? tlsConnect({ port, host, rejectUnauthorized: false, ...local }) : netConnect({ port, host, ...local });
      s.once(opts.tls ? 'secureConnect' : 'connect', () => resolve(new RawSmtp(s)));
      s.once('error', reject);
    });
  }

  /** A client on a socket opened by the caller (TLS started after bytes of its own, such as a PROXY header). */
  static over(socket: Socket | TLSSocket): RawSmtp { return new RawSmtp(socket); }

  private parse(): void {
    for (;;) {
      const lines: string[] = [];
      let rest = this.buf;
      let done = false;
      for (;;) {
        const i = rest.indexOf('\r\n');
        if (i < 0) break;
        const line = rest.slice(0, i);
        rest = rest.slice(i + 2);
        lines.push(line);
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) { done = true; break; }
      }
      if (!done) return;
      this.buf = rest;
      const reply: Reply = { code: Number(lines[0]!.slice(0, 3)), lines: lines.map((l) => l.slice(4)), text: lines.join('\n') };
      const w = this.waiters.shift();
      if (w) w(reply); else this.replies.push(reply);
    }
  }

  read(timeoutMs = 10_000): Promise<Reply | undefined> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((x) => { clearTimeout(t); resolve(x); });
    });
  }

  write(data: string | Buffer): void { this.socket.write(data); }

  async cmd(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    const r = await this.read();
    if (!r) throw new Error(`connection closed after ${line}`);
    return r;
  }

  async greet(): Promise<Reply> { const r = await this.read(); if (!r) throw new Error('no greeting'); return r; }

  async ehlo(name = 'client.test'): Promise<Reply> { return this.cmd(`EHLO ${name}`); }

  async authPlain(user: string, pass: string): Promise<Reply> {
    return this.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`);
  }

  async startTls(): Promise<void> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) throw new Error(`STARTTLS refused: ${r.text}`);
    const plain = this.socket;
    plain.removeAllListeners('data');
    await new Promise<void>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve());
      s.once('error', reject);
      this.socket = s;
      this.attach(s);
    });
  }

  /** Sends DATA, the given raw body bytes (which must include the terminator), returns the final reply. */
  async data(raw: string | Buffer): Promise<Reply> {
    const r = await this.cmd('DATA');
    if (r.code !== 354) return r;
    this.write(raw);
    const f = await this.read();
    if (!f) throw new Error('connection closed after DATA');
    return f;
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    try { this.write('QUIT\r\n'); await this.read(2000); } catch { /* ignore */ }
    this.socket.destroy();
  }
}

export function message(from: string, to: string, subject = 'test', body = 'hello\r\n', extra = ''): string {
  return `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\n${extra}\r\n${body}`;
}
