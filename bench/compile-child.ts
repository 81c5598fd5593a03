// Runs in a child process of bench/run.ts, one per cluster size, so that peak memory and
// timings of one size are not polluted by another. Prints one line `##RESULT <json>`.
//
//   node --import tsx --expose-gc bench/compile-child.ts compile SIZE OUTDIR QUICK(0|1) INCREMENTAL(0|1)
//   node --import tsx --expose-gc bench/compile-child.ts memory SIZE
//
// compile: full compile for BENCH_NODE (time, peak heap through v8.GCProfiler, peak RSS),
// where the time goes (indexCluster, podView, the rest), the full batch written to OUTDIR;
// then each incremental change: compile + diff time and transaction size, the forward and
// reverse diff batches written to OUTDIR for the kernel part.
// memory: heap held per pod and per policy (memory.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import { batchJson, batchOperations, compile, CompileCache, diffBatch, fullBatch, indexCluster, podIsActive, podView, type Batch, type CompileResult } from '../compiler/index.js';
import { applyChange, CHANGES } from './changes.js';
import { BENCH_NODE, generateCluster, SIZES, type SizeName } from './generate.js';
import { measureMemory, type MemoryResult } from './memory.js';
import { profileSelfTime, type Hotspot } from './profile.js';
import { median, ms, repeat } from './stats.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const fullGc = () => { gc(); gc(); };

export interface CompileChildResult {
  size: SizeName;
  pods: number; policies: number; namespaces: number; localPods: number;
  compileMs: number[];
  /** Peak V8 heap in use during the compiles (largest used size seen before any GC, or at the end). */
  heapPeakBytes: number;
  /** Heap in use before compiling (the cluster itself). */
  heapBeforeBytes: number;
  rssBeforeBytes: number;
  /** Process peak RSS (getrusage maxrss) after compiling, and before it (generation). */
  rssPeakBytes: number;
  rssPeakBeforeCompileBytes: number;
  phases: { indexClusterMs: number; podViewMs: number; restMs: number };
  /** Heap retained by a CompileCache warmed on the cluster (what an agent keeping one holds). */
  cacheBytes?: number;
  full: { file: string; operations: number; jsonBytes: number; chains: number; sets: number; elements: number };
  /** Per change: compile (warm cache) + diff, split; the same cold; transaction size. */
  changes: { name: string; compileMs: number[]; diffMs: number[]; totalMs: number[]; coldTotalMs: number[]; operations: number; breakdown: Breakdown; file: string; reverseFile: string }[];
}

/** What a transaction touches: set and map elements (and in how many sets or maps), rules,
 *  and everything else (chains, sets, maps, counters added, flushed or deleted). */
export interface Breakdown { elements: number; containers: number; rules: number; other: number }

function breakdown(b: Batch): Breakdown {
  const out: Breakdown = { elements: 0, containers: 0, rules: 0, other: 0 };
  const touched = new Set<string>();
  for (const cmd of b.nftables) {
    const [verb, body] = Object.entries(cmd)[0]!;
    const [what, o] = Object.entries(body)[0]! as [string, { name?: string; elem?: unknown[] }];
    if (what === 'element') {
      out.elements += o.elem?.length ?? 0;
      touched.add(o.name ?? '');
    } else if (what === 'rule') out.rules++;
    else out.other += 1 + (verb === 'add' && Array.isArray(o.elem) ? o.elem.length : 0);
  }
  out.containers = touched.size;
  return out;
}

function compileJob(size: SizeName, outDir: string, quick: boolean, incremental: boolean): CompileChildResult {
  const { gen, cluster } = generateCluster(SIZES[size], { wirePair: true });
  (gen.objects as unknown[]).length = 0; // only the slim cluster stays
  fullGc();
  const rssPeakBeforeCompileBytes = process.resourceUsage().maxRSS * 1024;
  const before = process.memoryUsage();
  const prof = new v8.GCProfiler();
  prof.start();
  // At least three runs (one in quick mode); more while they are short. When one compile
  // takes long (L on a loaded machine) fewer must do, to stay within the time limit.
  const full = repeat(() => compile(cluster, { node: BENCH_NODE }), 1, quick ? 3 : 7, quick ? 1500 : 6000);
  while (!quick && full.times.length < 3 && full.times.reduce((a, b) => a + b, 0) + full.times.at(-1)! < 80_000) {
    const t = process.hrtime.bigint();
    full.last = compile(cluster, { node: BENCH_NODE });
    full.times.push(ms(process.hrtime.bigint() - t));
  }
  const endHeap = process.memoryUsage().heapUsed;
  const stats = prof.stop() as { statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } } }[] };
  const heapPeakBytes = Math.max(endHeap, ...stats.statistics.map((s) => s.beforeGC.heapStatistics.usedHeapSize));
  const rssPeakBytes = process.resourceUsage().maxRSS * 1024;

  // Where the time goes: the exported phases timed on their own; "rest" is fillAllowed, set
  // building and sorting inside compile (not exported, so not timed separately).
  let t = process.hrtime.bigint();
  const index = indexCluster(cluster);
  const indexClusterMs = ms(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  for (const p of cluster.pods) if (p.nodeName === BENCH_NODE && podIsActive(p)) { podView(index, p, 'ingress'); podView(index, p, 'egress'); }
  const podViewMs = ms(process.hrtime.bigint() - t);

  const base = full.last;
  const fb = fullBatch(base.ruleset);
  const json = batchJson(fb);
  const file = join(outDir, `full-${size}.json`);
  writeFileSync(file, json);
  const result: CompileChildResult = {
    size, pods: cluster.pods.length, policies: cluster.policies.length, namespaces: cluster.namespaces.length, localPods: base.localPods.length,
    compileMs: full.times, heapPeakBytes, heapBeforeBytes: before.heapUsed, rssBeforeBytes: before.rss, rssPeakBytes, rssPeakBeforeCompileBytes,
    phases: { indexClusterMs, podViewMs, restMs: Math.max(0, median(full.times) - indexClusterMs - podViewMs) },
    full: { file, operations: batchOperations(fb), jsonBytes: json.length, chains: base.ruleset.chains.length, sets: base.ruleset.sets.length + base.ruleset.maps.length, elements: [...base.ruleset.sets, ...base.ruleset.maps].reduce((n, s) => n + s.elems.length, 0) },
    changes: [],
  };
  if (!incremental) return result;
  // Incremental: the agent compiles again from its caches and diffs against what the kernel
  // holds. Two figures per change: with a CompileCache warmed on the base cluster (what the
  // compiler offers an agent that keeps one), and cold (a fresh compile, as without a cache).
  // After each warm run the cache is walked back to the base cluster by compiling it again
  // (untimed), which is cheaper than warming a new cache from scratch.
  fullGc();
  const beforeCache = process.memoryUsage().heapUsed;
  const cache = new CompileCache();
  compile(cluster, { node: BENCH_NODE }, cache);
  fullGc();
  result.cacheBytes = process.memoryUsage().heapUsed - beforeCache;
  for (const [i, name] of CHANGES.entries()) {
    const next = applyChange(name, cluster, gen);
    const warm = { compileMs: [] as number[], diffMs: [] as number[], totalMs: [] as number[] };
    let last: { n: CompileResult; d: Batch } | undefined;
    const t0 = Date.now();
    while (warm.totalMs.length < 1 || (warm.totalMs.length < (quick ? 2 : 5) && Date.now() - t0 < (quick ? 1000 : 4000))) {
      const a = process.hrtime.bigint();
      const n = compile(next, { node: BENCH_NODE }, cache);
      const b = process.hrtime.bigint();
      const d = diffBatch(base.ruleset, n.ruleset);
      const c = process.hrtime.bigint();
      warm.compileMs.push(ms(b - a));
      warm.diffMs.push(ms(c - b));
      warm.totalMs.push(ms(c - a));
      last = { n, d };
      compile(cluster, { node: BENCH_NODE }, cache); // back to the base state
    }
    // Cold at L and XL is the full compile measured above plus a diff: not repeated (minutes on a small machine).
    const cold = size === 'L' || size === 'XL' ? undefined : repeat(() => diffBatch(base.ruleset, compile(next, { node: BENCH_NODE }).ruleset), 1, quick ? 1 : 3, 1);
    const f = join(outDir, `diff-${size}-${i}.json`), rf = join(outDir, `undo-${size}-${i}.json`);
    writeFileSync(f, batchJson(last!.d));
    writeFileSync(rf, batchJson(diffBatch(last!.n.ruleset, base.ruleset)));
    if (cold && batchOperations(cold.last) !== batchOperations(last!.d)) throw new Error(`${name}: cached and cold compiles disagree (${batchOperations(last!.d)} vs ${batchOperations(cold.last)} operations)`);
    result.changes.push({ name, ...warm, coldTotalMs: cold?.times ?? [], operations: batchOperations(last!.d), breakdown: breakdown(last!.d), file: f, reverseFile: rf });
  }
  return result;
}

export type MemoryChildResult = MemoryResult;

export interface ProfileChildResult { size: SizeName; totalMs: number; hotspots: Hotspot[] }

async function profileJob(size: SizeName): Promise<ProfileChildResult> {
  const { cluster } = generateCluster(SIZES[size], { wirePair: true });
  compile(cluster, { node: BENCH_NODE }); // warm: profile steady-state code, not the first JIT
  return { size, ...(await profileSelfTime(() => compile(cluster, { node: BENCH_NODE }), 12)) };
}

const [job, size, outDir, quick, incremental] = process.argv.slice(2);
if (!size || !(size in SIZES)) throw new Error(`bad size ${size}`);
const out = job === 'compile' ? compileJob(size as SizeName, outDir!, quick === '1', incremental === '1')
  : job === 'memory' ? measureMemory(size as SizeName)
  : job === 'profile' ? await profileJob(size as SizeName)
  : undefined;
if (!out) throw new Error(`unknown job ${job}`);
process.stdout.write(`##RESULT ${JSON.stringify(out)}\n`);
