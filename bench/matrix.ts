// `matrix --by workload` on the bench clusters: how long the matrix takes (index, grouping,
// every cell) and its text and JSON output, in a child process per size (bench/run.ts).
// Goal (issue: matrix): M in at most 5 s, L in at most 30 s.
import { buildMatrix } from '../compiler/matrix.js';
import { allowedPairs, matrixJson, matrixText } from '../compiler/matrix-output.js';
import { generateCluster, SIZES, type SizeName } from './generate.js';

export interface MatrixBenchResult {
  readonly size: SizeName;
  readonly pods: number;
  readonly workloads: number;
  readonly columns: number;
  readonly allowedPairs: number;
  /** Index + grouping + both sides of every workload: buildMatrix. */
  readonly buildMs: number;
  /** Text output (with --by workload the allowed pairs, one line each, past 40 rows). */
  readonly textMs: number;
  readonly textBytes: number;
  readonly jsonMs: number;
  readonly jsonBytes: number;
  /** build + text: what `netpol-nft matrix` spends after reading the cluster. */
  readonly totalMs: number;
}

export function measureMatrix(size: SizeName): MatrixBenchResult {
  const { cluster } = generateCluster(SIZES[size]);
  let t = performance.now();
  const m = buildMatrix(cluster, { by: 'workload' });
  const buildMs = performance.now() - t;
  t = performance.now();
  const text = matrixText(m);
  const textMs = performance.now() - t;
  t = performance.now();
  const json = JSON.stringify(matrixJson(m));
  const jsonMs = performance.now() - t;
  return {
    size, pods: m.entities.reduce((n, e) => n + e.pods.length, 0), workloads: m.entities.length, columns: m.columns.length,
    allowedPairs: allowedPairs(m).length, buildMs, textMs, textBytes: text.length, jsonMs, jsonBytes: json.length, totalMs: buildMs + textMs,
  };
}

const GOAL_MS: Partial<Record<SizeName, number>> = { M: 5_000, L: 30_000 };

export function matrixSection(rs: readonly MatrixBenchResult[]): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rows = [['size', 'pods', 'workloads', 'columns', 'allowed pairs', 'build', 'text', 'json', 'build + text', 'goal']];
  for (const r of rs) {
    const goal = GOAL_MS[r.size];
    rows.push([r.size, String(r.pods), String(r.workloads), String(r.columns), String(r.allowedPairs), s(r.buildMs), `${s(r.textMs)} (${(r.textBytes / 1e6).toFixed(1)} MB)`, `${s(r.jsonMs)} (${(r.jsonBytes / 1e6).toFixed(1)} MB)`, s(r.totalMs), goal === undefined ? '' : `≤ ${s(goal)}: ${r.totalMs <= goal ? 'met' : 'MISSED'}`]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return ['## matrix --by workload (one run, after the cluster is read)', ...rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd())].join('\n');
}

if (process.argv[1]?.endsWith('matrix.ts') && process.argv[2]) {
  const r = measureMatrix(process.argv[2] as SizeName);
  process.stdout.write(`##RESULT ${JSON.stringify(r)}\n`);
}
