/**
 * log — pino JSON lines on stdout (journald collects them). One logger per process;
 * modules take a child with their own `component`.
 */
import { pino, type Logger, type Level } from 'pino';

export function createLogger(level: Level | 'silent', destination?: NodeJS.WritableStream): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['password', 'token', '*.password', '*.token'], censor: '[redacted]' },
  }, destination ?? pino.destination({ fd: 1, sync: false }));
}
export type { Logger };
