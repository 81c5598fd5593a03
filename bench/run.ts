// `npm run bench [-- --quick] [-- --only compile,apply,wire,latency,memory,matrix,agent,tiers] [-- --sizes S,M,L,XL]`
//
// Measures what netpol-nft exists for on synthetic clusters (bench/generate.ts) and prints a
// table; the same figures go to bench/results/latest.json (and a dated copy). Compile figures
// run in one child process per size (so that peak memory belongs to that size); kernel
// figures need root and run in network namespaces named npn-bench-*, removed on every path.
// Figures are medians over several runs; ratios are taken between runs of the same round.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kernelUnavailable, Netns, removeNamespaces } from '../test/helpers/kernel.js';
import type { AgentScaleResult } from './agent-scale.js';
import { measureApply, type ApplyResult } from './apply.js';
import type { CompileChildResult, MemoryChildResult, ProfileChildResult, SoakChildResult } from './compile-child.js';
import { SIZES, type SizeName } from './generate.js';
import { measureLatency, type LatencyResult } from './latency.js';
import { matrixSection, type MatrixBenchResult } from './matrix.js';
import { report, type BenchResult } from './report.js';
import { BENCH_CLUSTER_POLICIES, tiersSection, type TiersBenchResult } from './tiers.js';
import { measureWire, WIRE_PREFIX, type WireResult } from './wire.js';

const PARTS = ['compile', 'apply', 'wire', 'latency', 'memory', 'matrix', 'agent', 'tiers'] as const;
type Part = (typeof PARTS)[number];

const repo = fileURLToPath(new URL('..', import.meta.url));
const t0 = Date.now();
const log = (s: string) => process.stderr.write(`bench: [${Math.round((Date.now() - t0) / 1000)} s] ${s}\n`);

function child<T>(args: string[]): T {
  // Node's default heap limit: the engine holds L in a few hundred MB (XL: see Performance).
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(repo, 'bench', 'compile-child.ts'), ...args], {
    cwd: repo, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('##RESULT '));
  if (r.status !== 0 || !line) throw new Error(`bench child ${args.join(' ')} failed (status ${r.status})`);
  return JSON.parse(line.slice('##RESULT '.length)) as T;
}

/** `matrix` in a child of its own per size, with Node's default heap (as a user runs it). */
function matrixChild(size: SizeName): MatrixBenchResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'bench', 'matrix.ts'), size], { cwd: repo, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = r.stdout.split('\n').find((l) => l.startsWith('##RESULT '));
  if (r.status !== 0 || !line) throw new Error(`bench matrix ${size} failed (status ${r.status})`);
  return JSON.parse(line.slice('##RESULT '.length)) as MatrixBenchResult;
}

/** The tiers part's compile figures, in a child of its own (its heap is this cluster's). */
function tiersChild(): TiersBenchResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(repo, 'bench', 'tiers.ts'), 'compile'], { cwd: repo, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = r.stdout.split('\n').find((l) => l.startsWith('##RESULT '));
  if (r.status !== 0 || !line) throw new Error(`bench tiers failed (status ${r.status})`);
  return JSON.parse(line.slice('##RESULT '.length)) as TiersBenchResult;
}

function meta(quick: boolean) {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).stdout?.trim();
  const nft = spawnSync('nft', ['--version'], { encoding: 'utf8' }).stdout?.trim();
  return {
    date: new Date().toISOString(), quick, commit: git || undefined, node: process.version, nft: nft || undefined,
    cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadavgStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** The long mode of the manifest fuzz test (test/agent/fuzz-manifests.test.ts). */
async function fuzzBench(cases: number, seed: number): Promise<number> {
  if (!Number.isInteger(cases) || cases < 1) throw new Error('--fuzz N: a number of cases');
  const { fuzz } = await import('../test/helpers/manifest-fuzz.js');
  log(`fuzz: ${cases} cases from seed ${seed}`);
  const s = await fuzz({ seed, cases, log });
  process.stdout.write(`fuzz: ${s.cases} cases from seed ${seed}: ${s.compileChecked} checked on compile, ${s.compileIncomplete} incomplete inputs (compile exits 1), ${s.sourceChecked} on the folder source; ${s.failures.length} failures\n`);
  for (const f of s.failures) process.stdout.write(`  ${f}\n`);
  return s.failures.length ? 1 : 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, sizes: { type: 'string' }, fuzz: { type: 'string' }, seed: { type: 'string' }, 'wire-rounds': { type: 'string' }, 'wire-seconds': { type: 'string' }, help: { type: 'boolean', default: false } } });
  if (values.help) {
    process.stdout.write('usage: npm run bench [-- --quick] [-- --only compile,apply,wire,latency,memory,matrix,agent,tiers] [-- --sizes S,M,L,XL]\n' +
      '  --wire-rounds N, --wire-seconds S: rounds of the wire parts (default 15; 3 with --quick) and seconds per table and load (default 1)\n' +
      '  --sizes: cluster sizes for the compile, memory, apply and matrix parts (default S,M,L; S,M with --quick); XL (150,000 pods) only when asked for\n' +
      '       npm run bench -- --fuzz N [--seed S]   (N mutated-manifest cases, see test/helpers/manifest-fuzz.ts)\n');
    return 0;
  }
  if (values.fuzz !== undefined) return fuzzBench(Number(values.fuzz), Number(values.seed ?? Date.now() % 1_000_000_000));
  const quick = values.quick;
  const only = new Set<Part>(values.only ? (values.only.split(',') as Part[]) : PARTS);
  for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only ${p}: one of ${PARTS.join(', ')}`);
  const sizes: SizeName[] = values.sizes ? (values.sizes.split(',') as SizeName[]) : quick ? ['S', 'M'] : ['S', 'M', 'L'];
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`--sizes ${s}: one of ${Object.keys(SIZES).join(', ')}`);
  // Wire: many short interleaved rounds (bench/wire.ts); the spread of same-round ratios says
  // whether the figure is the tables' or the machine's.
  const wireRounds = Number(values['wire-rounds'] ?? (quick ? 3 : 15)), wireSeconds = Number(values['wire-seconds'] ?? 1);
  if (!Number.isInteger(wireRounds) || wireRounds < 1 || !(wireSeconds > 0)) throw new Error('--wire-rounds N (>= 1), --wire-seconds S (> 0)');
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'npn-bench-'));
  const result: BenchResult & { matrix?: MatrixBenchResult[]; tiers?: { compile: TiersBenchResult; wire?: WireResult } } = { meta: meta(quick), compile: [], memory: [], apply: [], notes: [] };
  const kernelWhy = kernelUnavailable();
  if (kernelWhy) result.notes.push(`kernel parts (apply, wire, latency) skipped: ${kernelWhy}; run as root with nft and ip installed`);
  try {
    if (only.has('compile') || only.has('apply')) {
      for (const s of sizes) {
        log(`compile ${s}...`);
        result.compile.push(child<CompileChildResult>(['compile', s, work, quick ? '1' : '0', s === 'S' ? '0' : '1']));
      }
      if (only.has('compile') && sizes.includes('M')) {
        log('soak M (10,000 single-pod changes)...');
        result.soak = child<SoakChildResult>(['soak', 'M', quick ? '2000' : '10000']);
      }
      if (only.has('compile') && !quick && sizes.includes('M')) {
        log('profile M...');
        result.profile = child<ProfileChildResult>(['profile', 'M']);
      }
    }
    if (only.has('memory')) {
      for (const s of sizes.filter((x) => x !== 'S')) {
        log(`memory ${s}...`);
        result.memory.push(child<MemoryChildResult>(['memory', s]));
      }
    }
    if (only.has('matrix')) {
      result.matrix = [];
      for (const s of sizes.filter((x) => x !== 'S')) {
        log(`matrix --by workload ${s}...`);
        result.matrix.push(matrixChild(s));
      }
    }
    if (only.has('tiers')) {
      log(`tiers: M + ${BENCH_CLUSTER_POLICIES} ClusterNetworkPolicies (compile, transactions)...`);
      result.tiers = { compile: tiersChild() };
    }
    if (!kernelWhy) {
      removeNamespaces(WIRE_PREFIX);
      if (only.has('apply')) {
        const ns = Netns.create(`${WIRE_PREFIX}apply`);
        try {
          for (const c of result.compile) {
            log(`kernel apply ${c.size}...`);
            const big = c.size === 'L' || c.size === 'XL';
            result.apply.push(measureApply(ns, c, quick ? 2 : big ? 3 : 5, quick ? 2 : big ? 3 : 5) satisfies ApplyResult);
          }
        } finally {
          ns.delete();
        }
      }
      if (only.has('wire')) {
        log('wire (per-packet cost)...');
        result.wire = (await measureWire(work, wireSeconds, wireRounds, log)) satisfies WireResult;
      }
      if (only.has('tiers')) {
        log(`tiers: wire (per-packet cost, M + ${BENCH_CLUSTER_POLICIES} ClusterNetworkPolicies)...`);
        result.tiers!.wire = (await measureWire(work, wireSeconds, wireRounds, log, { clusterPolicies: BENCH_CLUSTER_POLICIES })) satisfies WireResult;
      }
      if (only.has('latency')) {
        log('event to enforcement...');
        result.latency = (await measureLatency(work, quick, log, sizes)) satisfies LatencyResult;
      }
      if (only.has('agent')) {
        // One child process per size (RSS belongs to one size), in Node's default heap: the
        // policy engine holds L in a few hundred MB.
        result.agent = [];
        for (const s of sizes.filter((x) => x === 'M' || x === 'L')) {
          log(`agent at scale ${s} (/metrics, stalls, RSS under churn)...`);
          const ns = Netns.create(`${WIRE_PREFIX}agent-${s}`);
          try {
            const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(repo, 'bench', 'agent-scale.ts'), s, ns.name], {
              cwd: repo, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000,
            });
            const line = r.stdout?.split('\n').find((l) => l.startsWith('##RESULT '));
            if (line) result.agent.push(JSON.parse(line.slice('##RESULT '.length)) as AgentScaleResult);
            else result.notes.push(`agent at scale ${s}: not measured (child ${r.error ? r.error.message : `status ${r.status}`})`);
          } finally {
            ns.delete();
          }
        }
      }
    }
  } finally {
    removeNamespaces(WIRE_PREFIX);
    rmSync(work, { recursive: true, force: true });
  }
  result.meta.loadavgEnd = loadavg().map((x) => Number(x.toFixed(2)));
  result.meta.seconds = Math.round((Date.now() - started) / 1000);
  process.stdout.write(report(result));
  if (result.matrix?.length) process.stdout.write(`\n${matrixSection(result.matrix)}\n`);
  if (result.tiers) process.stdout.write(`\n${tiersSection(result.tiers.compile, result.tiers.wire)}\n`);
  const dir = join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(result, (k, v) => (k === 'file' || k === 'reverseFile' ? undefined : v), 2) + '\n';
  writeFileSync(join(dir, 'latest.json'), json);
  writeFileSync(join(dir, `${result.meta.date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`), json);
  log(`done in ${result.meta.seconds} s; figures in bench/results/latest.json`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
