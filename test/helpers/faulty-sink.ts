/**
 * helpers/faulty-sink — a receiving MX that misbehaves on purpose, written by hand so it
 * can do what no real server library would: hang up in the middle of DATA, stall forever
 * (before the greeting, or after the final dot), or answer with bytes that are not SMTP.
 * It never accepts a message; tests switch the domain's MX to a good sink afterwards.
 */
import { createServer, type Socket } from 'node:net';

export type FaultMode =
  /** 354, then hang up after the first bytes of the message */
  | 'drop-mid-data'
  /** a normal session up to the final dot, then silence forever */
  | 'stall-after-data'
  /** accept TCP, never greet */
  | 'stall-greeting'
  /** a good greeting, then a non-SMTP answer to EHLO */
  | 'garbage-reply'
  /** a greeting that is not SMTP */
  | 'garbage-greeting';

export interface FaultySink { connections: number; close(): Promise<void> }

const GARBAGE = Buffer.concat([Buffer.from('HTTP/1.1 400 Bad Request\r\n\x00\xff\xfe'), Buffer.from([0x1b, 0x5b, 0x32, 0x4a]), Buffer.from('\r\n999\r\nok?\r\n')]);

export async function startFaultySink(host: string, port: number, mode: FaultMode): Promise<FaultySink> {
  const sockets = new Set<Socket>();
  const state: FaultySink = {
    connections: 0,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
  const server = createServer((s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    if (mode === 'stall-greeting') return;
    if (mode === 'garbage-greeting') { s.write(GARBAGE); return; }
    s.write('220 faulty.test ESMTP\r\n');
    let buf = '';
    let inData = false;
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      if (inData) {
        if (mode === 'drop-mid-data') { s.destroy(); return; }
        buf += d;
        // stall-after-data: read everything, answer nothing.
        return;
      }
      buf += d;
      for (;;) {
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') s.write(mode === 'garbage-reply' ? GARBAGE : '250-faulty.test\r\n250 PIPELINING\r\n');
        else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') s.write('250 2.0.0 ok\r\n');
        else if (verb === 'DATA') { inData = true; buf = ''; s.write('354 go on\r\n'); return; }
        else if (verb === 'QUIT') { s.end('221 2.0.0 bye\r\n'); return; }
        else s.write('502 5.5.2 what\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, host, () => r()));
  return state;
}
