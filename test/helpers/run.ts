import { spawnMta } from './child.js';

export interface RunResult { code: number | null; out: string; err: string }

/** Runs `mta ARGS` to completion, optionally feeding stdin. */
export function runMta(args: string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawnMta(args);
    let out = '', err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d; });
    p.stderr!.on('data', (d: Buffer) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
    if (stdin !== undefined) p.stdin!.end(stdin); else p.stdin!.end();
  });
}
