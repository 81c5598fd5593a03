// Named synchronous spans of the agent's main thread, published on a diagnostics channel so
// that a profiler (bench/stalls.ts) can tell which step held the event loop when it stalled.
// Nobody listens in production: each span then costs one `hasSubscribers` check.
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

/** One synchronous stretch of the main thread, in performance.now() milliseconds. */
export interface Span {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

export const SPAN_CHANNEL = 'netpol-nft:span';
const spans = channel(SPAN_CHANNEL);

/** Runs fn and, when someone listens, publishes how long it held the thread. */
export function span<T>(name: string, fn: () => T): T {
  if (!spans.hasSubscribers) return fn();
  const start = performance.now();
  try {
    return fn();
  } finally {
    spans.publish({ name, start, end: performance.now() } satisfies Span);
  }
}

/** A sliced step's yields: each `pause()` ends one span named `name` (the work since the
 *  previous resume) and lets the event loop run; `done()` ends the last one. */
export function slicer(name: string, pause: () => Promise<void>): { pause: () => Promise<void>; done: () => void } {
  let start = performance.now();
  const end = () => {
    if (spans.hasSubscribers) spans.publish({ name, start, end: performance.now() } satisfies Span);
  };
  return {
    pause: async () => {
      end();
      await pause();
      start = performance.now();
    },
    done: end,
  };
}

/** Starts a span by hand (for a block that is not one function); call the result to end it. */
export function begin(name: string): () => void {
  if (!spans.hasSubscribers) return noop;
  const start = performance.now();
  return () => spans.publish({ name, start, end: performance.now() } satisfies Span);
}

const noop = () => {};
