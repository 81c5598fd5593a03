// Capped exponential backoff with jitter, for reconnecting to the API server. Jitter keeps a
// fleet of agents from reconnecting in lockstep after an API server restart; the random
// source is injected so that tests can pin the schedule.

export interface BackoffOptions {
  /** First delay (before jitter), in ms. */
  readonly minMs: number;
  /** No delay ever exceeds this, in ms. */
  readonly maxMs: number;
  /** Returns [0, 1); each delay is drawn from [base/2, base]. Default Math.random. */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 500, maxMs: 30_000 };

export class Backoff {
  private failures = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    if (!(opts.minMs > 0) || !(opts.maxMs >= opts.minMs)) throw new Error(`backoff: need 0 < minMs <= maxMs, got ${opts.minMs}, ${opts.maxMs}`);
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt; each call doubles the base up to maxMs. */
  next(): number {
    // 2 ** 40 ms is decades: stop counting there so the arithmetic never overflows.
    const base = Math.min(this.opts.maxMs, this.opts.minMs * 2 ** Math.min(this.failures, 40));
    this.failures++;
    return Math.round(base / 2 + (base / 2) * this.random());
  }

  /** A success: the next failure starts again from minMs. */
  reset(): void {
    this.failures = 0;
  }

  /** Consecutive failures so far (for logs). */
  get attempts(): number {
    return this.failures;
  }
}
