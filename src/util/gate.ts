/**
 * util/gate — at most N of a kind of work at once; the rest wait in arrival order. A slot
 * that ends is handed straight to the next waiter, so a caller arriving meanwhile cannot
 * slip past the queue and make N + 1.
 */
export class Gate {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  /** how many ran at once at most, and how many were started (for tests and metrics) */
  peak = 0;
  started = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a gate needs at least one slot (got ${size})`);
    this.free = size;
  }

  get running(): number { return this.size - this.free; }
  get queued(): number { return this.waiting.length; }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.started++;
    this.peak = Math.max(this.peak, this.running);
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); else this.free++;
    }
  }
}
