/**
 * Runs `mta ARGS` on a real pseudo-terminal (util-linux `script`), answering each prompt
 * as it appears: for the questions a command asks only when a person is at the terminal.
 */
import { spawn } from 'node:child_process';
import { BIN, cleanEnv } from './child.js';

export interface TtyResult { code: number | null; screen: string }

/** `answers`: [text the screen must show, line to type]; typed in order, each once shown. */
export function runMtaOnTty(args: string[], answers: [RegExp, string][]): Promise<TtyResult> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, BIN, ...args].map(quote).join(' ');
  const p = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv() });
  let screen = '';
  let next = 0;
  let seen = 0;
  const onData = (d: Buffer): void => {
    screen += d.toString();
    const a = answers[next];
    // Only output after the last answer counts, so a prompt asked twice is answered twice.
    if (a && a[0].test(screen.slice(seen))) { seen = screen.length; next++; p.stdin!.write(`${a[1]}\n`); }
  };
  p.stdout!.on('data', onData);
  p.stderr!.on('data', onData);
  return new Promise((resolve) => p.on('close', (code) => { p.stdin!.end(); resolve({ code, screen }); }));
}
