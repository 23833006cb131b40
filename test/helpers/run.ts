import { spawnMta, type SpawnOptions } from './child.js';

export interface RunResult { code: number | null; out: string; err: string }

/** Runs `mta ARGS` to completion, optionally feeding stdin. */
export function runMta(args: string[], stdin?: string, env: NodeJS.ProcessEnv = {}, cwd?: string, opts: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawnMta(args, env, cwd, opts);
    let out = '', err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d; });
    p.stderr!.on('data', (d: Buffer) => { err += d; });
    // 'close', not 'exit': the last output may still be in the pipes when the process exits.
    p.on('close', (code) => resolve({ code, out, err }));
    if (stdin !== undefined) p.stdin!.end(stdin); else p.stdin!.end();
  });
}
