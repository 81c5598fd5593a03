// A hand-driven Clock for runner tests: time moves only when the test calls advance(), and
// timers fire in order, with the promise queue drained after each (syncs are async).
import type { Clock, Timer } from '../../controller/runner.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export const drain = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Pending[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(p);
    return { cancel: () => { p.cancelled = true; } };
  }

  /** Timers still set (not fired, not cancelled). */
  pending(): number {
    return this.timers.filter((p) => !p.cancelled).length;
  }

  /** Moves time forward by ms, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await drain();
    for (;;) {
      this.timers = this.timers.filter((p) => !p.cancelled);
      const due = this.timers.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.t = due.at;
      due.fn();
      await drain();
    }
    this.t = end;
    await drain();
  }
}
