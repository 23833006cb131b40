/**
 * bench/util — small helpers every bench run needs: a free loopback port, waiting for a
 * condition with a deadline, a precise wall clock, stopping a child process.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A port nothing listens on now, at `host` (and at every one of `alsoFreeAt`, for two sinks on one port). */
export async function freePort(host = '127.0.0.1', alsoFreeAt: string[] = []): Promise<number> {
  for (let tries = 0; ; tries++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    let ok = true;
    for (const other of alsoFreeAt) if (!(await canListen(other, port))) ok = false;
    if (ok || tries >= 20) return port;
  }
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** Resolves with the time `fn` first held; throws when it did not within `timeoutMs`. */
export async function waitUntil(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return Date.now();
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC, shared by every process on
 * it), sub-millisecond: only differences mean anything. Not the wall clock: this machine's is
 * stepped and slewed by its host, and two processes that each took the wall clock as their
 * origin disagreed by 6 s in one run and by 43 ms in another (bench/RESULTS.md, 2026-12-05).
 */
export function preciseNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export function stopChild(proc: ChildProcess, graceMs: number): () => Promise<void> {
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
}
