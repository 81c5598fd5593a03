// Runs in a child process of bench/run.ts, one per cluster size, so that peak memory and
// timings of one size are not polluted by another. Prints one line `##RESULT <json>`.
//
//   node --import tsx --expose-gc bench/compile-child.ts compile SIZE OUTDIR QUICK(0|1) INCREMENTAL(0|1)
//   node --import tsx --expose-gc bench/compile-child.ts memory SIZE
//
// compile: full compile for BENCH_NODE (time, peak heap through v8.GCProfiler, peak RSS),
// where the time goes (events into the engine, the ruleset value), the full batch written to
// OUTDIR; then each incremental change on one long-lived engine (as the agent keeps it): the
// events applied + the delta batch, timed, its size, and the forward and reverse batches
// written to OUTDIR for the kernel part.
// soak: 10,000 single-pod changes on one engine, heap after each 1,000 (flat = no leak).
// memory: heap held per pod and per policy (memory.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import { batchJson, batchOperations, compile, engineFor, fullBatch, type Batch, type Cluster, type ClusterEvent } from '../compiler/index.js';
import { applyChange, CHANGES } from './changes.js';
import { BENCH_NODE, generateCluster, SIZES, syntheticIp, type SizeName } from './generate.js';
import { measureMemory, type MemoryResult } from './memory.js';
import { profileSelfTime, type Hotspot } from './profile.js';
import { ms, repeat } from './stats.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const fullGc = () => { gc(); gc(); };

export interface CompileChildResult {
  size: SizeName;
  pods: number; policies: number; namespaces: number; localPods: number;
  compileMs: number[];
  /** CPU time (user + system, the process's GC threads included) of the same runs: on a
   *  shared machine it moves far less than wall time. */
  compileCpuMs: number[];
  /** Peak V8 heap in use during the compiles (largest used size seen before any GC, or at the end). */
  heapPeakBytes: number;
  /** Heap in use before compiling (the cluster itself). */
  heapBeforeBytes: number;
  rssBeforeBytes: number;
  /** Process peak RSS (getrusage maxrss) after compiling, and before it (generation). */
  rssPeakBytes: number;
  rssPeakBeforeCompileBytes: number;
  phases: { eventsMs: number; rulesetMs: number };
  /** Heap retained by a policy engine holding the cluster (what the agent keeps). */
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
    // Elements come in `add element` or, added to an existing set or map, in an `add set` /
    // `add map` that carries them (ElementStore.deltaBatch): those count as elements, and the
    // container command as one other operation.
    if (what === 'element' || (verb === 'add' && (what === 'set' || what === 'map') && Array.isArray(o.elem))) {
      out.elements += o.elem?.length ?? 0;
      touched.add(o.name ?? '');
      if (what !== 'element') out.other++;
    } else if (what === 'rule') out.rules++;
    else out.other++;
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
  const compileCpuMs: number[] = [];
  const timedCompile = () => {
    const c = process.cpuUsage();
    const out = compile(cluster, { node: BENCH_NODE });
    const d = process.cpuUsage(c);
    compileCpuMs.push((d.user + d.system) / 1000);
    return out;
  };
  const full = repeat(timedCompile, 1, quick ? 3 : 7, quick ? 1500 : 6000);
  while (!quick && full.times.length < 3 && full.times.reduce((a, b) => a + b, 0) + full.times.at(-1)! < 80_000) {
    full.last = undefined as unknown as typeof full.last; // see repeat(): one result at a time
    const t = process.hrtime.bigint();
    full.last = timedCompile();
    full.times.push(ms(process.hrtime.bigint() - t));
  }
  const endHeap = process.memoryUsage().heapUsed;
  const stats = prof.stop() as { statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } } }[] };
  const heapPeakBytes = Math.max(endHeap, ...stats.statistics.map((s) => s.beforeGC.heapStatistics.usedHeapSize));
  const rssPeakBytes = process.resourceUsage().maxRSS * 1024;

  // Where the time goes: every object into a fresh engine, then the ruleset value out of it.
  let t = process.hrtime.bigint();
  const timed = engineFor(cluster, { node: BENCH_NODE });
  const eventsMs = ms(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  timed.ruleset(1);
  const rulesetMs = ms(process.hrtime.bigint() - t);

  const base = full.last;
  const fb = fullBatch(base.ruleset);
  const json = batchJson(fb);
  const file = join(outDir, `full-${size}.json`);
  writeFileSync(file, json);
  const result: CompileChildResult = {
    size, pods: cluster.pods.length, policies: cluster.policies.length, namespaces: cluster.namespaces.length, localPods: base.localPods.length,
    compileMs: full.times, compileCpuMs, heapPeakBytes, heapBeforeBytes: before.heapUsed, rssBeforeBytes: before.rss, rssPeakBytes, rssPeakBeforeCompileBytes,
    phases: { eventsMs, rulesetMs },
    full: { file, operations: batchOperations(fb), jsonBytes: json.length, chains: base.ruleset.chains.length, sets: base.ruleset.sets.length + base.ruleset.maps.length, elements: [...base.ruleset.sets, ...base.ruleset.maps].reduce((n, s) => n + s.elems.length, 0) },
    changes: [],
  };
  if (!incremental) return result;
  // Incremental: one engine holds the base cluster (committed, as after the agent's first
  // sync); each change is its events applied + the delta batch (timed), then committed and
  // walked back (untimed) so that every change starts from the base.
  fullGc();
  const beforeCache = process.memoryUsage().heapUsed;
  const engine = engineFor(cluster, { node: BENCH_NODE });
  let generation = 1;
  engine.fullBatch(generation);
  engine.commit();
  fullGc();
  result.cacheBytes = process.memoryUsage().heapUsed - beforeCache;
  for (const [i, name] of CHANGES.entries()) {
    const next = applyChange(name, cluster, gen);
    const forward = eventsBetween(cluster, next), back = eventsBetween(next, cluster);
    const warm = { compileMs: [] as number[], diffMs: [] as number[], totalMs: [] as number[] };
    let d: Batch | undefined, undo: Batch | undefined;
    const t0 = Date.now();
    while (warm.totalMs.length < 3 || (warm.totalMs.length < (quick ? 5 : 21) && Date.now() - t0 < (quick ? 1000 : 4000))) {
      const a = process.hrtime.bigint();
      for (const ev of forward) engine.apply(ev);
      const b = process.hrtime.bigint();
      d = engine.deltaBatch(++generation);
      const c = process.hrtime.bigint();
      warm.compileMs.push(ms(b - a));
      warm.diffMs.push(ms(c - b));
      warm.totalMs.push(ms(c - a));
      engine.commit();
      for (const ev of back) engine.apply(ev);
      undo = engine.deltaBatch(++generation);
      engine.commit();
    }
    const empty: Batch = { nftables: [] };
    const f = join(outDir, `diff-${size}-${i}.json`), rf = join(outDir, `undo-${size}-${i}.json`);
    writeFileSync(f, batchJson(d ?? empty));
    writeFileSync(rf, batchJson(undo ?? empty));
    result.changes.push({ name, ...warm, coldTotalMs: [], operations: batchOperations(d ?? empty), breakdown: breakdown(d ?? empty), file: f, reverseFile: rf });
  }
  return result;
}

/** The events that turn `a` into `b` (objects compared by identity: applyChange keeps the
 *  untouched ones). */
function eventsBetween(a: Cluster, b: Cluster): ClusterEvent[] {
  const out: ClusterEvent[] = [];
  const diff = <T extends { name: string; namespace?: string }>(xs: readonly T[], ys: readonly T[], up: (y: T) => ClusterEvent, del: (x: T) => ClusterEvent) => {
    const key = (o: T) => `${o.namespace ?? ''}/${o.name}`;
    const before = new Map(xs.map((x) => [key(x), x]));
    const after = new Map(ys.map((y) => [key(y), y]));
    for (const [k, y] of after) if (before.get(k) !== y) out.push(up(y));
    for (const [k, x] of before) if (!after.has(k)) out.push(del(x));
  };
  diff(a.namespaces, b.namespaces, (namespace) => ({ kind: 'namespace', op: 'upsert', namespace }), (n) => ({ kind: 'namespace', op: 'delete', name: n.name }));
  diff(a.policies, b.policies, (policy) => ({ kind: 'networkpolicy', op: 'upsert', policy }), (p) => ({ kind: 'networkpolicy', op: 'delete', namespace: p.namespace, name: p.name }));
  diff(a.pods, b.pods, (pod) => ({ kind: 'pod', op: 'upsert', pod }), (p) => ({ kind: 'pod', op: 'delete', namespace: p.namespace, name: p.name }));
  return out;
}

export interface SoakChildResult { size: SizeName; changes: number; heapAfterBytes: number[]; operations: number[] }

/** 10,000 single-pod changes on one engine, each a delta batch committed: a local pod moved
 *  back and forth between two apps of its namespace (it changes groups and peers), and a pod
 *  of another node added and deleted with a fresh address. The heap after each 1,000 must
 *  stay flat. */
function soakJob(size: SizeName, changes: number): SoakChildResult {
  const { gen, cluster } = generateCluster(SIZES[size], { wirePair: true });
  const engine = engineFor(cluster, { node: BENCH_NODE });
  let g = 1;
  engine.fullBatch(g);
  engine.commit();
  const local = cluster.pods.find((p) => p.nodeName === BENCH_NODE && p.namespace.startsWith('team-') && gen.apps.some((a) => a.namespace === p.namespace && a.name !== p.labels.app))!;
  const other = gen.apps.find((a) => a.namespace === local.namespace && a.name !== local.labels.app)!;
  const moved = { ...local, labels: { ...local.labels, app: other.name, tier: other.tier } };
  const remote = cluster.pods.find((p) => p.nodeName !== BENCH_NODE && p.namespace.startsWith('team-'))!;
  const heapAfterBytes: number[] = [], operations: number[] = [];
  fullGc();
  heapAfterBytes.push(process.memoryUsage().heapUsed);
  for (let i = 1; i <= changes; i++) {
    const ev: ClusterEvent = i % 2
      ? { kind: 'pod', op: 'upsert', pod: i % 4 === 1 ? moved : local }
      : i % 4 === 2
        ? { kind: 'pod', op: 'upsert', pod: { ...remote, name: `${remote.name}-soak`, ips: [syntheticIp(2_000_000 + i)] } }
        : { kind: 'pod', op: 'delete', namespace: remote.namespace, name: `${remote.name}-soak` };
    engine.apply(ev);
    const b = engine.deltaBatch(++g);
    if (i <= 8) operations.push(b ? batchOperations(b) : 0);
    engine.commit();
    if (i % 1000 === 0) {
      fullGc();
      heapAfterBytes.push(process.memoryUsage().heapUsed);
    }
  }
  return { size, changes, heapAfterBytes, operations };
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
  : job === 'soak' ? soakJob(size as SizeName, Number(outDir ?? 10_000))
  : undefined;
if (!out) throw new Error(`unknown job ${job}`);
process.stdout.write(`##RESULT ${JSON.stringify(out)}\n`);
