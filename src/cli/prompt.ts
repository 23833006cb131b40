/**
 * cli/prompt — questions asked on the operator's terminal: a yes/no confirmation and a
 * secret typed without echo. Both need a terminal on standard input; callers decide what
 * happens without one (refuse, or read a pipe). Prompts go to stderr, so stdout stays
 * the command's output. It never reads a secret from anywhere but the terminal.
 */
import { createInterface } from 'node:readline';

/** One line from the terminal; with `secret`, the typed characters are not shown. */
export function ask(question: string, secret = false): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) {
    // readline echoes through _writeToOutput; after the prompt, swallow what is typed.
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    const write = out._writeToOutput.bind(rl);
    let prompted = false;
    out._writeToOutput = (s: string): void => {
      if (!prompted) { prompted = true; write(s); } else if (s.includes('\n')) write('\n');
    };
  }
  return new Promise((resolve, reject) => {
    rl.question(question, (answer) => { resolve(answer); rl.close(); });
    // Ctrl-C or Ctrl-D at the prompt answers nothing: treat it as "no".
    rl.on('close', () => resolve(''));
    rl.on('SIGINT', () => { rl.close(); reject(new Error('interrupted')); });
  });
}

/** Whether there is a terminal to ask on. */
export function canAsk(): boolean {
  return process.stdin.isTTY === true;
}

/** Asks a yes/no question; only y or yes (any case) is a yes. */
export async function confirm(question: string): Promise<boolean> {
  return /^y(es)?$/i.test((await ask(`${question} [y/N] `)).trim());
}
