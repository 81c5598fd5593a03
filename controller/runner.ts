// The one place that decides WHEN to sync. Events only call request(); the runner syncs at
// once when it has been idle, and under a burst coalesces: syncs start at least `debounceMs`
// after the previous one ended (whatever came meanwhile goes in one transaction), and no
// change waits more than `maxDelayMs`. It retries a failed sync with capped exponential
// backoff and runs a periodic drift check. Only one sync runs at a time. Time comes from an
// injected Clock, so tests drive it by hand.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn once after ms milliseconds (unless cancelled). */
  after(ms: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Why a sync runs: a change arrived, a retry after a failure, or the periodic drift check. */
export type SyncReason = 'change' | 'retry' | 'drift';

export interface RunnerOptions {
  readonly clock: Clock;
  /** Least time from the end of one sync to the start of the next (a lone change after
   *  that much quiet is synced at once). */
  readonly debounceMs: number;
  /** Longest a change waits, however long the burst lasts. */
  readonly maxDelayMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Drift check period (counted from the end of the last sync). */
  readonly resyncIntervalMs: number;
  /** Performs one sync; a rejection counts as a failure and schedules a retry. */
  readonly sync: (reason: SyncReason) => Promise<void>;
}

export class SyncRunner {
  private timer: Timer | undefined;
  private timerAt = Infinity;
  private resyncTimer: Timer | undefined;
  /** When the oldest change not yet handed to a sync arrived. */
  private pendingSince: number | undefined;
  /** When the oldest change not yet applied arrived (survives failed syncs). */
  private unappliedSince: number | undefined;
  private inFlight: Promise<void> | undefined;
  private failures = 0;
  private retryAt: number | undefined;
  /** When the last sync ended (undefined before the first). */
  private lastSyncEnd: number | undefined;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: RunnerOptions) {}

  /** Starts with an immediate sync (the first full replace). */
  start(): void {
    this.request();
    this.schedule(0);
  }

  /** A change arrived: sync soon. */
  request(): void {
    if (this.stopped) return;
    const now = this.o.clock.now();
    this.pendingSince ??= now;
    this.unappliedSince ??= now;
    if (this.inFlight) return; // the end of the current sync schedules the next one
    this.scheduleChange();
  }

  /** How long the oldest unapplied change has waited (0 when none): /healthz uses it. */
  unappliedFor(): number {
    return this.unappliedSince === undefined ? 0 : this.o.clock.now() - this.unappliedSince;
  }

  consecutiveFailures(): number {
    return this.failures;
  }

  /** Resolves when no sync is running or waiting for its debounce (a retry or a drift
   *  timer may still be set). For tests and shutdown. */
  idle(): Promise<void> {
    if (!this.inFlight && this.pendingSince === undefined) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Cancels every timer and waits for the sync in flight, if any, to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.resyncTimer?.cancel();
    this.timer = this.resyncTimer = undefined;
    this.pendingSince = undefined;
    if (this.inFlight) await this.inFlight.catch(() => {});
    this.wakeIdle();
  }

  private scheduleChange(): void {
    const now = this.o.clock.now();
    if (this.pendingSince === undefined) return;
    // During a backoff, changes wait for the retry: nft is failing, hammering it helps nobody.
    if (this.retryAt !== undefined && this.retryAt > now) return this.schedule(this.retryAt - now);
    const earliest = this.lastSyncEnd === undefined ? now : Math.max(now, this.lastSyncEnd + this.o.debounceMs);
    const at = Math.min(earliest, this.pendingSince + this.o.maxDelayMs);
    // A sync already due no later than that stays where it is.
    if (this.timer && this.timerAt <= at) return;
    this.schedule(Math.max(0, at - now));
  }

  private schedule(delay: number): void {
    const at = this.o.clock.now() + delay;
    // The caller bounds the deadline by pendingSince + maxDelay; a retry or a start may move
    // it earlier.
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.o.clock.after(delay, () => {
      this.timer = undefined;
      this.timerAt = Infinity;
      void this.runSync(this.retryAt !== undefined ? 'retry' : 'change');
    });
  }

  private scheduleResync(): void {
    this.resyncTimer?.cancel();
    this.resyncTimer = this.o.clock.after(this.o.resyncIntervalMs, () => {
      this.resyncTimer = undefined;
      if (this.inFlight || this.timer) return; // a sync is coming anyway and re-arms this
      void this.runSync('drift');
    });
  }

  private async runSync(reason: SyncReason): Promise<void> {
    if (this.stopped || this.inFlight) return;
    const startedWith = this.pendingSince;
    const unapplied = this.unappliedSince;
    this.pendingSince = undefined;
    let ok = false;
    const p = this.o.sync(reason).then(() => { ok = true; }, () => {});
    this.inFlight = p;
    await p;
    this.inFlight = undefined;
    this.lastSyncEnd = this.o.clock.now();
    if (ok) {
      this.failures = 0;
      this.retryAt = undefined;
      // Changes that arrived during the sync are still unapplied.
      this.unappliedSince = this.pendingSince === undefined ? undefined : this.pendingSince;
    } else {
      this.failures++;
      const backoff = Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(this.failures - 1, 30));
      this.retryAt = this.o.clock.now() + backoff;
      this.pendingSince ??= startedWith ?? this.o.clock.now();
      this.unappliedSince = unapplied ?? this.unappliedSince ?? this.o.clock.now();
    }
    if (this.stopped) return this.wakeIdle();
    if (this.pendingSince !== undefined) this.scheduleChange();
    this.scheduleResync();
    this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.inFlight || (this.pendingSince !== undefined && !this.stopped)) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  /** Test aid: when the next sync is due (Infinity when none is scheduled). */
  nextSyncAt(): number {
    return this.timerAt;
  }
}
