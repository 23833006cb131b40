/**
 * bench/own-sink — a minimal SMTP sink, run as its own process, for what Postfix's
 * smtp-sink cannot do: refuse a given share of recipients at random (4xx and 5xx), and
 * count recipients as well as messages, timestamp the receipt of chosen messages, and
 * answer the end of DATA late (a slow receiver). It speaks just enough ESMTP (PIPELINING,
 * 8BITMIME, SIZE, ENHANCEDSTATUSCODES) and throws the data away.
 *
 *   node dist/bench/own-sink.js HOST:PORT [--temp 0.10] [--perm 0.05] [--report-ids TEXT] [--data-delay MS]
 *
 * Prints "mesg=N rcpt=M" lines (like `smtp-sink -c`) whenever the counts changed, at most
 * every 50 ms, and "listening" once bound. With --report-ids, each message whose
 * Message-ID contains TEXT is reported at once as "got <message-id> <monotonic ms>", the time
 * its final "<CRLF>.<CRLF>" arrived (sub-millisecond; bench/util.ts preciseNow). With
 * --data-delay, the reply to the end of DATA comes that many ms later, and the session
 * reads nothing meanwhile (as a receiver busy scanning the message would); with both, only
 * the messages it does not report are answered late.
 */
import { createServer, type Socket } from 'node:net';

const args = process.argv.slice(2);
const where = args[0] ?? '127.0.0.1:2525';
const opt = (name: string): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : 0;
};
const temp = opt('--temp');
const perm = opt('--perm');
const dataDelay = opt('--data-delay');
const reportAt = args.indexOf('--report-ids');
const reportIds = reportAt >= 0 ? args[reportAt + 1] ?? '' : undefined;
/** Headers longer than this are not searched for a Message-ID. */
const HEAD_LIMIT = 64 * 1024;
const MESSAGE_ID = /^message-id:[ \t]*(<[^>\r\n]*>)/im;
const [host, portText] = [where.slice(0, where.lastIndexOf(':')), where.slice(where.lastIndexOf(':') + 1)];

const TEMP_REPLY = '451 4.3.0 Mailbox temporarily unavailable\r\n';
const PERM_REPLY = '550 5.1.1 Recipient address rejected: User unknown\r\n';

let messages = 0;
let rcpts = 0;
let printed = '';

function messageIdOf(head: string): string | undefined {
  const end = head.indexOf('\r\n\r\n');
  return MESSAGE_ID.exec(end < 0 ? head : head.slice(0, end))?.[1];
}

function serve(s: Socket): void {
  s.setNoDelay(true);
  s.setEncoding('latin1');
  s.on('error', () => undefined);
  let buf = '';
  let inData = false;
  let accepted = 0;
  /** the start of the message in DATA, kept only while looking for its Message-ID */
  let head = '';
  /** replying late to the end of DATA: input waits in buf */
  let stalled = false;
  /** the message just ended was one of those reported (never answered late) */
  let reported = false;
  const keepHead = (text: string): void => {
    if (reportIds !== undefined && head.length < HEAD_LIMIT && !head.includes('\r\n\r\n')) head += text;
  };
  const pump = (): void => {
    let out = '';
    while (!stalled) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) {
          // keep only what could hold the start of the terminator
          if (buf.length > 4) { keepHead(buf.slice(0, -4)); buf = buf.slice(-4); }
          break;
        }
        keepHead(buf.slice(0, end + 2));
        buf = buf.slice(end + 5);
        inData = false;
        if (reportIds !== undefined) {
          const at = Number(process.hrtime.bigint()) / 1e6; // bench/util.ts preciseNow: the machine's monotonic clock
          const id = messageIdOf(head);
          reported = id !== undefined && id.includes(reportIds);
          if (reported) process.stdout.write(`got ${id} ${at.toFixed(3)}\n`);
          head = '';
        }
        messages++;
        rcpts += accepted;
        accepted = 0;
        if (dataDelay > 0 && !reported) {
          if (out) { s.write(out); out = ''; }
          stalled = true;
          setTimeout(() => {
            stalled = false;
            if (!s.destroyed) { s.write('250 2.0.0 Ok: queued\r\n'); pump(); }
          }, dataDelay);
          break;
        }
        out += '250 2.0.0 Ok: queued\r\n';
        continue;
      }
      const i = buf.indexOf('\r\n');
      if (i < 0) break;
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') out += '250-own-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 209715200\r\n250 ENHANCEDSTATUSCODES\r\n';
      else if (verb === 'HELO') out += '250 own-sink.bench\r\n';
      else if (verb === 'MAIL') { accepted = 0; out += '250 2.1.0 Ok\r\n'; }
      else if (verb === 'RCPT') {
        const x = Math.random();
        if (x < perm) out += PERM_REPLY;
        else if (x < perm + temp) out += TEMP_REPLY;
        else { accepted++; out += '250 2.1.5 Ok\r\n'; }
      } else if (verb === 'DATA') {
        if (accepted === 0) out += '554 5.5.1 Error: no valid recipients\r\n';
        else { inData = true; head = ''; out += '354 End data with <CR><LF>.<CR><LF>\r\n'; }
      } else if (verb === 'RSET') { accepted = 0; out += '250 2.0.0 Ok\r\n'; }
      else if (verb === 'NOOP') out += '250 2.0.0 Ok\r\n';
      else if (verb === 'QUIT') { s.end(`${out}221 2.0.0 Bye\r\n`); return; }
      else out += '502 5.5.2 Error: command not recognized\r\n';
    }
    if (out) s.write(out);
  };
  s.write('220 own-sink.bench ESMTP\r\n');
  s.on('data', (d: string) => {
    buf += d;
    if (!stalled) pump();
  });
}

const server = createServer(serve);
server.listen(Number(portText), host, () => { process.stdout.write('listening\n'); });
setInterval(() => {
  const line = `mesg=${messages} rcpt=${rcpts}`;
  if (line !== printed) { printed = line; process.stdout.write(`${line}\n`); }
}, 50);
process.on('SIGTERM', () => process.exit(0));
