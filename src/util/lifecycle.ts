/**
 * lifecycle — the one life cycle of the daemon's long-running services (scheduler, webhook
 * dispatcher, task expander, listeners, periodic jobs) and the set the daemon composes them
 * with:
 *
 *   idle ─start─▶ running ─stop─▶ stopping ─▶ stopped       (idle ─stop─▶ stopped: never started;
 *                                                              stopped ─start─▶ running: restartable only)
 *
 * `Lifecycle` holds a service's state as one union with one checked transition function (a
 * wrong one throws MTA_ERR_STATE naming the service), not as a bag of booleans; it is a
 * `StateMachine`, which the daemon's own life cycle (starting → running → draining →
 * stopped) uses too. `ServiceSet`
 * is how daemon/daemon.ts starts services and stops them again, in the order it names (front
 * ends first, the webhook outbox last), whether the daemon drains or its start-up failed.
 *
 * Must never: decide a service's stop order itself, or hide an error of a normal stop.
 */
import type { Logger } from 'pino';
import { MtaError } from './errors.js';

export type ServiceState = 'idle' | 'running' | 'stopping' | 'stopped';

const NEXT: Record<ServiceState, readonly ServiceState[]> = {
  idle: ['running', 'stopped'],
  running: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};
/** A service that may be started again after a stop (the task expander: stop holds expansion back). */
const NEXT_RESTARTABLE: Record<ServiceState, readonly ServiceState[]> = { ...NEXT, stopped: ['running'] };

/** A state union with its allowed transitions; every change is checked and reported. */
export class StateMachine<S extends string> {
  private current: S;

  constructor(readonly name: string, private readonly allowed: Readonly<Record<S, readonly S[]>>, initial: S, private readonly onChange?: (from: S, to: S) => void) {
    this.current = initial;
  }

  get state(): S { return this.current; }

  /** Moves to `next`; throws MTA_ERR_STATE when the table does not allow it. */
  to(next: S): void {
    if (!this.allowed[this.current].includes(next)) throw new MtaError('MTA_ERR_STATE', `${this.name} cannot go from ${this.current} to ${next}`);
    const from = this.current;
    this.current = next;
    this.onChange?.(from, next);
  }
}

/** A long-running service's life cycle, each transition logged at debug. */
export class Lifecycle extends StateMachine<ServiceState> {
  constructor(service: string, log?: Pick<Logger, 'debug'>, opts: { restartable?: boolean } = {}) {
    super(service, opts.restartable ? NEXT_RESTARTABLE : NEXT, 'idle', log && ((from, to) => log.debug({ service, from, to }, 'service state')));
  }

  get running(): boolean { return this.state === 'running'; }
}

export interface StopOptions {
  /** start-up failed: stop at once, without waiting for work in flight */
  abort?: boolean;
}

/** What the daemon needs of a service to stop it. */
export interface Stoppable { stop(opts?: StopOptions): Promise<unknown> | unknown }
/** What the daemon needs of a long-running service. */
export interface Service extends Stoppable { start(): Promise<unknown> | unknown }

/** The services the daemon has started, stopped again in the order it names. */
export class ServiceSet<Name extends string> {
  private readonly started = new Map<Name, Stoppable>();

  constructor(private readonly stopOrder: readonly Name[]) {}

  /**
   * Starts `svc`, kept for stopAll even when its start throws: a listener that bound one of
   * its addresses before failing on the next must still be closed.
   */
  async start<S extends Service>(name: Name, svc: S): Promise<S> {
    this.track(name, svc);
    await svc.start();
    return svc;
  }

  /** Keeps a service started some other way (or one with nothing to start) for stopAll. */
  track(name: Name, svc: Stoppable): void {
    if (!this.stopOrder.includes(name)) throw new MtaError('MTA_ERR_INTERNAL', `service ${name} has no place in the stop order`);
    this.started.set(name, svc);
  }

  /**
   * Stops every kept service once, in the stop order. A normal stop ends at the first error
   * (it propagates); with `abort` (start-up failed) every service is stopped and errors go to
   * `onError`.
   */
  async stopAll(opts: StopOptions & { onError?: (name: Name, e: unknown) => void } = {}): Promise<void> {
    for (const name of this.stopOrder) {
      const svc = this.started.get(name);
      if (!svc) continue;
      this.started.delete(name);
      if (!opts.abort) { await svc.stop(); continue; }
      try { await svc.stop({ abort: true }); } catch (e) { opts.onError?.(name, e); }
    }
  }
}
