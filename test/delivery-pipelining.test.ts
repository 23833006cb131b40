// Outbound PIPELINING (RFC 2920; issue 23): to a host that offers it, MAIL FROM, every RCPT
// TO and DATA leave together and the replies are read together, two round trips less per
// message (under load each round trip is a turn of a busy event loop). The receiver here
// answers nothing after EHLO until DATA has arrived, so a client that waited for the MAIL
// reply would never deliver. To a host that does not offer PIPELINING each command waits for
// its reply (RFC 5321): that receiver notes any command that came before its reply.
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { startWorld, allFinal, type World } from './helpers/delivery.js';

interface Receiver { server: Server; reads: string[][]; early: string[]; delivered: number }

function receiver(host: string, port: number, pipelining: boolean): Promise<Receiver> {
  const r: Receiver = { server: createServer(), reads: [], early: [], delivered: 0 };
  r.server.on('connection', (s: Socket) => {
    let buf = '';
    let inData = false;
    let held: string[] = [];
    let waiting = false; // a reply is owed and not yet sent (the no-PIPELINING receiver's check)
    s.setEncoding('latin1');
    s.write('220 rx.test ESMTP\r\n');
    s.on('data', (d: string) => {
      buf += d;
      const lines: string[] = [];
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) break;
          buf = buf.slice(end + 5);
          inData = false;
          r.delivered++;
          s.write('250 2.0.0 Ok: queued\r\n');
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) break;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        lines.push(verb);
        if (!pipelining && waiting) r.early.push(verb);
        const reply = verb === 'EHLO' ? `250-rx.test\r\n${pipelining ? '250-PIPELINING\r\n' : ''}250 8BITMIME\r\n`
          : verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP' ? '250 2.0.0 Ok\r\n'
          : verb === 'DATA' ? '354 go on\r\n'
          : verb === 'QUIT' ? '221 2.0.0 Bye\r\n' : '502 5.5.2 no\r\n';
        if (verb === 'DATA') inData = true;
        if (pipelining && verb !== 'EHLO' && verb !== 'QUIT') {
          // Nothing is answered before DATA: a client waiting for the MAIL reply stalls here.
          held.push(reply);
          if (verb === 'DATA') { s.write(held.join('')); held = []; }
          continue;
        }
        // The no-PIPELINING receiver answers on the next turn, so a command sent without waiting shows up as early.
        waiting = true;
        setImmediate(() => { waiting = false; if (!s.destroyed) s.write(reply); });
      }
      if (lines.length) r.reads.push(lines);
    });
    s.on('error', () => undefined);
  });
  return new Promise((resolve) => r.server.listen(port, host, () => resolve(r)));
}

let w: World;
t.before(async () => { w = await startWorld('socket_timeout = "3s"\n'); });
t.teardown(() => w.stop());

async function route(domain: string, host: string, pipelining: boolean): Promise<Receiver> {
  w.dns.set(domain, { MX: [{ preference: 10, exchange: `mx.${domain}` }] });
  w.dns.set(`mx.${domain}`, { A: [host] });
  const r = await receiver(host, w.port, pipelining);
  t.teardown(() => new Promise<void>((res) => r.server.close(() => res())));
  return r;
}

t.test('a host offering PIPELINING gets MAIL, every RCPT and DATA in one go', async (t) => {
  const rx = await route('pipe.test', '127.0.0.71', true);
  const id = await w.submit(['a@pipe.test', 'b@pipe.test']);
  const m = await w.waitFor('delivery', async () => { const x = await w.message(id); return allFinal(x) && x; });
  t.same(m.recipients.map((r) => r.state), ['delivered', 'delivered'], 'delivered, though nothing was answered before DATA');
  t.equal(rx.delivered, 1, 'one transaction for both recipients');
  t.ok(rx.reads.some((l) => l.join(' ') === 'MAIL RCPT RCPT DATA'), `the envelope arrived in one read (reads: ${JSON.stringify(rx.reads)})`);
});

t.test('a host not offering it gets one command at a time', async (t) => {
  const rx = await route('nopipe.test', '127.0.0.72', false);
  const id = await w.submit(['c@nopipe.test', 'd@nopipe.test']);
  const m = await w.waitFor('delivery', async () => { const x = await w.message(id); return allFinal(x) && x; });
  t.same(m.recipients.map((r) => r.state), ['delivered', 'delivered']);
  t.equal(rx.delivered, 1);
  t.same(rx.early, [], 'no command was sent before the reply to the one before it');
  t.ok(rx.reads.some((l) => l.join(' ') === 'MAIL'), 'MAIL went alone');
});
