// Small statistics and formatting helpers shared by every part of the benchmark.

export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const ms = (ns: bigint) => Number(ns) / 1e6;

/** Runs `f` at least `min` times and more while under `budgetMs`, at most `max` times;
 *  returns the durations in milliseconds and the last result. */
export function repeat<T>(f: () => T, min: number, max: number, budgetMs: number): { times: number[]; last: T } {
  const times: number[] = [];
  let last!: T;
  const t0 = process.hrtime.bigint();
  while (times.length < min || (times.length < max && ms(process.hrtime.bigint() - t0) < budgetMs)) {
    // The previous result is let go first: a run's peak memory is its own, not two results'.
    last = undefined as T;
    const t = process.hrtime.bigint();
    last = f();
    times.push(ms(process.hrtime.bigint() - t));
  }
  return { times, last };
}

export function fmtMs(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  if (x >= 10_000) return `${(x / 1000).toFixed(1)} s`;
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  if (x >= 10) return `${x.toFixed(0)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function fmtNum(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export const fmtMB = (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? '—' : `${(bytes / 1048576).toFixed(0)} MB`);
/** The spread of same-round ratios: median, quartiles (nearest rank), extremes, count. */
export interface RatioStats { median: number; p25: number; p75: number; min: number; max: number; n: number }

/** Median, quartiles and extremes of the finite values. */
export function spread(xs: readonly number[]): RatioStats {
  const v = xs.filter(Number.isFinite);
  return { median: median(v), p25: percentile(v, 25), p75: percentile(v, 75), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

/** `median (p25–p75; min–max)` of same-round ratios. */
export function fmtSpread(r: RatioStats | undefined): string {
  if (!r || !Number.isFinite(r.median)) return '—';
  return `${fmtRatio(r.median)} (${fmtRatio(r.p25)}–${fmtRatio(r.p75)}; ${fmtRatio(r.min)}–${fmtRatio(r.max)})`;
}

export const fmtRatio = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2));

/** A plain text table: first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
