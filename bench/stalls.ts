// Where the agent's event-loop stalls come from (bench/agent-scale.ts). A stall is a gap of
// more than STALL_MS between two ticks of a 10 ms timer on the main thread; for each one the
// probe knows, over the same window:
//  - how long the main thread waited to be scheduled, and how long it ran, from the kernel's
//    own accounting of the thread (/proc/self/task/<tid>/schedstat: run time and run-queue
//    wait, in ns): a thread that is runnable but not running is the machine's doing, not ours;
//  - the garbage collector's pauses (perf_hooks 'gc' entries: kind and duration);
//  - the agent's named synchronous spans (controller/spans.ts: engine updates, batch slices,
//    JSON slices, the batch file, counter parsing, ...).
// Each stall gets one cause: "not scheduled" when the thread waited on a run queue for half
// of the window or more; otherwise what held the thread for the largest share of it: "gc
// <kind>", a span's name (its time minus the GC inside it), "other code" (on the CPU in
// nothing named: the HTTP worker's messages, prom-client's rendering, timers) or "blocked"
// (off the CPU without waiting for it: a blocking system call). GC pauses and spans are wall
// times, so they include any wait inside them; the window minus its run-queue wait ("own")
// is what the stall would have been had the thread been scheduled at once.
// An idle process beside the agent (IDLE_PROBE) gives the stalls that scheduling alone causes
// on this machine at this moment.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { SPAN_CHANNEL, type Span } from '../controller/spans.js';

export const STALL_MS = 50;
const TICK_MS = 10;
/** Spans and GC pauses shorter than this are only counted (not kept for attribution). */
const KEEP_MS = 1;

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export interface Stall {
  /** performance.now() at the start of the window (the last tick before the gap). */
  at: number;
  /** The delay beyond the timer's period, ms. */
  ms: number;
  /** Run-queue wait and time on the CPU of the main thread in the window, ms. */
  waitMs: number;
  cpuMs: number;
  gcMs: number;
  /** The named span that held most of the window (its own time, GC excluded). */
  span?: string;
  spanMs: number;
  /** What held the thread for the largest share of the window (the cause, unless the wait). */
  holder: string;
  /** ms minus the run-queue wait. */
  ownMs: number;
  cause: string;
}

export interface Stat { count: number; maxMs: number; totalMs: number }

export interface PhaseStalls {
  phase: string;
  seconds: number;
  /** monitorEventLoopDelay's max over the phase, ms (the figure the goal is stated in). */
  maxDelayMs: number;
  /** Stalls over STALL_MS, worst first (at most 12 kept; `byCause` counts them all). */
  stalls: Stall[];
  stallCount: number;
  byCause: Record<string, Stat>;
  /** The longest stall minus its run-queue wait, ms, and what held the thread in it. */
  longestOwn: { ms: number; holder: string };
  gc: Record<string, Stat>;
  /** Every named span, whatever its length, by name. */
  spans: Record<string, Stat>;
  /** The main thread over the whole phase: run-queue wait and CPU, ms. */
  waitMs: number;
  cpuMs: number;
}

/** The kernel's accounting of one thread: [ns on the CPU, ns waiting on a run queue]. */
function schedstat(path: string): [number, number] {
  try {
    const [run, wait] = readFileSync(path, 'utf8').split(' ');
    return [Number(run), Number(wait)];
  } catch {
    return [NaN, NaN];
  }
}

const add = (m: Record<string, Stat>, k: string, ms: number) => {
  const s = (m[k] ??= { count: 0, maxMs: 0, totalMs: 0 });
  s.count++;
  s.totalMs += ms;
  if (ms > s.maxMs) s.maxMs = ms;
};

const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

/** Watches this process's main thread for stalls, one phase at a time. */
export class StallProbe {
  private readonly path = `/proc/self/task/${process.pid}/schedstat`;
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private lastSched: [number, number] = [0, 0];
  private phaseStart = 0;
  private phaseSched: [number, number] = [0, 0];
  private windows: { at: number; end: number; waitMs: number; cpuMs: number }[] = [];
  private gcs: { start: number; end: number; kind: string }[] = [];
  private spanList: Span[] = [];
  private gcStats: Record<string, Stat> = {};
  private spanStats: Record<string, Stat> = {};
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private readonly observer = new PerformanceObserver((list) => this.observe(list.getEntries()));
  private observe(entries: readonly PerformanceEntry[]): void {
    for (const e of entries as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      const kind = GC_KINDS[e.detail?.kind ?? -1] ?? 'other';
      add(this.gcStats, kind, e.duration);
      if (e.duration >= KEEP_MS) this.gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind });
    }
  }
  private readonly onSpan = (m: unknown) => {
    const s = m as Span;
    add(this.spanStats, s.name, s.end - s.start);
    if (s.end - s.start >= KEEP_MS) this.spanList.push(s);
  };

  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
    subscribe(SPAN_CHANNEL, this.onSpan);
    this.loop.enable();
    this.reset();
    const tick = () => {
      const now = performance.now();
      const sched = schedstat(this.path);
      if (now - this.last - TICK_MS > STALL_MS) {
        this.windows.push({ at: this.last, end: now, cpuMs: (sched[0] - this.lastSched[0]) / 1e6, waitMs: (sched[1] - this.lastSched[1]) / 1e6 });
      }
      this.last = now;
      this.lastSched = sched;
      this.timer = setTimeout(tick, TICK_MS);
    };
    this.timer = setTimeout(tick, TICK_MS);
  }

  /** Forgets what was seen so far: a new phase begins. */
  reset(): void {
    // Entries of what came before (a forced GC between phases) that the observer has not
    // been handed yet belong to no phase.
    this.observer.takeRecords();
    this.last = this.phaseStart = performance.now();
    this.lastSched = this.phaseSched = schedstat(this.path);
    this.windows = [];
    this.gcs = [];
    this.spanList = [];
    this.gcStats = {};
    this.spanStats = {};
    this.loop.reset();
  }

  /** What was seen since the last reset, attributed. */
  phase(name: string): PhaseStalls {
    this.observe(this.observer.takeRecords());
    const sched = schedstat(this.path);
    const stalls = this.windows.map((w) => this.attribute(w));
    const byCause: Record<string, Stat> = {};
    for (const s of stalls) add(byCause, s.cause, s.ms);
    const own = stalls.reduce<Stall | undefined>((m, s) => (m && m.ownMs >= s.ownMs ? m : s), undefined);
    return {
      phase: name, seconds: (performance.now() - this.phaseStart) / 1000, maxDelayMs: this.loop.max / 1e6,
      stalls: stalls.sort((a, b) => b.ms - a.ms).slice(0, 12), stallCount: stalls.length, byCause,
      longestOwn: { ms: own?.ownMs ?? 0, holder: own?.holder ?? '-' },
      // Copies: entries still on their way (the observer is called later) belong to no phase.
      gc: structuredClone(this.gcStats), spans: structuredClone(this.spanStats),
      waitMs: (sched[1] - this.phaseSched[1]) / 1e6, cpuMs: (sched[0] - this.phaseSched[0]) / 1e6,
    };
  }

  stop(): void {
    clearTimeout(this.timer);
    this.loop.disable();
    this.observer.disconnect();
    unsubscribe(SPAN_CHANNEL, this.onSpan);
  }

  private attribute(w: { at: number; end: number; waitMs: number; cpuMs: number }): Stall {
    const wall = w.end - w.at;
    const gcs = this.gcs.filter((g) => g.end > w.at && g.start < w.end);
    const gcByKind: Record<string, number> = {};
    for (const g of gcs) gcByKind[g.kind] = (gcByKind[g.kind] ?? 0) + overlap(g.start, g.end, w.at, w.end);
    const gcMs = Object.values(gcByKind).reduce((a, b) => a + b, 0);
    const bySpan: Record<string, number> = {};
    for (const s of this.spanList) {
      if (s.end <= w.at || s.start >= w.end) continue;
      const a = Math.max(s.start, w.at), b = Math.min(s.end, w.end);
      const inGc = gcs.reduce((n, g) => n + overlap(g.start, g.end, a, b), 0);
      bySpan[s.name] = (bySpan[s.name] ?? 0) + Math.max(0, b - a - inGc);
    }
    const [span, spanMs] = Object.entries(bySpan).sort((a, b) => b[1] - a[1])[0] ?? [undefined, 0];
    const spanTotal = Object.values(bySpan).reduce((a, b) => a + b, 0);
    const [gcKind, gcKindMs] = Object.entries(gcByKind).sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
    // Each share of the window; the largest names the stall. Time on no run queue and off the
    // CPU (a blocking system call) counts as "blocked".
    const shares: [string, number][] = [
      [`gc ${gcKind}`, gcKindMs],
      [span ?? '', spanMs],
      ['other code', Math.max(0, w.cpuMs - gcMs - spanTotal)],
      ['blocked (off the CPU, not waiting for it)', Math.max(0, wall - w.cpuMs - w.waitMs)],
    ];
    const holder = shares.filter(([k]) => k).sort((a, b) => b[1] - a[1])[0]![0];
    const cause = w.waitMs >= wall / 2 ? 'not scheduled' : holder;
    return { at: w.at, ms: wall - TICK_MS, waitMs: w.waitMs, cpuMs: w.cpuMs, gcMs, span, spanMs, holder, ownMs: Math.max(0, wall - TICK_MS - w.waitMs), cause };
  }
}

/** A process that does nothing but watch its own loop (the same 10 ms timer and schedstat),
 *  started beside the agent: what scheduling alone costs on this machine, now. It prints its
 *  figures as JSON when its stdin closes. */
export const IDLE_PROBE = `
const { readFileSync } = require('node:fs');
const path = '/proc/self/task/' + process.pid + '/schedstat';
const sched = () => readFileSync(path, 'utf8').split(' ').map(Number);
let last = performance.now(), lastS = sched(), maxMs = 0, stalls = 0, waitInStalls = 0, waitMs = 0, cpuMs = 0;
const t = setInterval(() => {
  const now = performance.now(), s = sched(), d = now - last - ${TICK_MS};
  if (d > maxMs) maxMs = d;
  if (d > ${STALL_MS}) { stalls++; waitInStalls += (s[1] - lastS[1]) / 1e6; }
  waitMs += (s[1] - lastS[1]) / 1e6; cpuMs += (s[0] - lastS[0]) / 1e6;
  last = now; lastS = s;
}, ${TICK_MS});
process.stdin.resume();
process.stdin.on('end', () => { clearInterval(t); process.stdout.write(JSON.stringify({ maxMs, stalls, waitInStallsMs: waitInStalls, waitMs, cpuMs }) + '\\n'); process.exit(0); });
`;

export interface IdleProbeResult { maxMs: number; stalls: number; waitInStallsMs: number; waitMs: number; cpuMs: number }
